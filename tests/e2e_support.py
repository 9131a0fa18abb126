"""What the end-to-end tests share: a stack's configuration pointing every region at a test server."""

from __future__ import annotations

from pathlib import Path

from pulumi import automation as auto

from railzway.localpg import LocalPostgres

REGIONS = ("eu-west", "us-east")


def local_stack_config(server: LocalPostgres, registry_dir: Path) -> dict[str, auto.ConfigValue]:
    """`railzway:` config (for `set_all_config(..., path=True)`) with every region on `server`, no Nomad.

    The admin password is a secret config value, as an operator would set it with `--secret`.
    """
    config = {"railzway:registryDir": auto.ConfigValue(str(registry_dir))}
    for region in REGIONS:
        prefix = f"railzway:regions.{region}.postgres"
        config |= {
            f"{prefix}.host": auto.ConfigValue(server.host),
            f"{prefix}.port": auto.ConfigValue(str(server.port)),
            f"{prefix}.username": auto.ConfigValue(server.superuser),
            f"{prefix}.sslmode": auto.ConfigValue("disable"),
            f"{prefix}.tenantHost": auto.ConfigValue(server.host),
            f"{prefix}.password": auto.ConfigValue(server.password, secret=True),
        }
    return config
