"""What the end-to-end tests share: a stack configured against a test server, and cleaning up after it."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import psycopg
from psycopg import sql
from pulumi import automation as auto

from devkit.localpg import LocalPostgres
from railzway.admin import session_rules as admin_rules
from railzway.registry import naming

PROJECT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)

REGIONS = ("eu-west", "us-east")

# The regions' provisioning admin on a test server: a superuser with the one-time region set-up of README.md
# (the program refuses the bare `postgres`, whose sessions a tenant database could steer).
PROVISIONER = "provisioner"


def provisioning_admin(server: LocalPostgres) -> str:
    """`PROVISIONER` on `server` (created once, with the server's admin password), with the region set-up."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (PROVISIONER,)).fetchone()
        if exists is None:
            conn.execute(
                sql.SQL("CREATE ROLE {} SUPERUSER LOGIN PASSWORD {}").format(
                    sql.Identifier(PROVISIONER), sql.Literal(server.password)
                )
            )
        conn.execute(admin_rules.setup_sql(PROVISIONER).encode())
    return PROVISIONER


def provisioner_url(server: LocalPostgres, database: str = "postgres") -> str:
    """The provisioning admin's URL, for the audit and the report."""
    return server.url(database, provisioning_admin(server), server.password)


def local_stack_config(
    server: LocalPostgres, registry_dir: Path, regions: Sequence[str] = REGIONS
) -> dict[str, auto.ConfigValue]:
    """`railzway:` config (for `set_all_config(..., path=True)`) with `regions` on `server`, no Nomad.

    The admin is the provisioning admin with the region set-up; its password (the server's) is a secret
    config value, as an operator would set it with `--secret`.
    """
    config = {"railzway:registryDir": auto.ConfigValue(str(registry_dir))}
    admin = provisioning_admin(server)
    for region in regions:
        prefix = f"railzway:regions.{region}.postgres"
        config |= {
            f"{prefix}.host": auto.ConfigValue(server.host),
            f"{prefix}.port": auto.ConfigValue(str(server.port)),
            f"{prefix}.username": auto.ConfigValue(admin),
            f"{prefix}.sslmode": auto.ConfigValue("disable"),
            f"{prefix}.tenantHost": auto.ConfigValue(server.host),
            f"{prefix}.password": auto.ConfigValue(server.password, secret=True),
        }
    return config


def remove_test_stack(stack: auto.Stack) -> None:
    """Destroy the stack, remove it and its `Pulumi.<stack>.yaml` (written into the project by set_config).

    `retain_on_delete` leaves the roles and databases behind on destroy: drop them with `drop_tenants`.
    """
    try:
        stack.destroy(on_output=log.info)
        stack.workspace.remove_stack(stack.name)
    finally:
        (PROJECT / f"Pulumi.{stack.name}.yaml").unlink(missing_ok=True)


def drop_tenants(server: LocalPostgres, org_ids: Iterable[int]) -> None:
    """Drop the tenants' databases and roles from the server (test cleanup: the program never drops data)."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        for org_id in org_ids:
            database = sql.Identifier(naming.database_name(org_id))
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(naming.role_name(org_id))))


def stored_files(backend: Path) -> dict[Path, str]:
    """Every file a `file://` backend holds (checkpoints, their backups, update history), as text.

    What is *stored*: `Stack.export_stack()` cannot show it, because it runs `pulumi stack export
    --show-secrets`, which decrypts every secret (../shared/engine/README.md). Gzipped checkpoints
    (PULUMI_SELF_MANAGED_STATE_GZIP) are read uncompressed.
    """
    files = {}
    for path in sorted(p for p in backend.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        files[path] = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8", "replace")
    return files


def stored_checkpoint(backend: Path, stack_name: str) -> str:
    """The stack's checkpoint as the backend stores it: `<backend>/.pulumi/stacks/<project>/<stack>.json`
    (or `.json.gz`; `.pulumi/stacks/<stack>.json` in a backend without projects)."""
    names = {f"{stack_name}.json", f"{stack_name}.json.gz"}
    found = [text for path, text in stored_files(backend / ".pulumi" / "stacks").items() if path.name in names]
    assert len(found) == 1, f"expected one checkpoint of {stack_name} under {backend}, found {len(found)}"
    return found[0]
