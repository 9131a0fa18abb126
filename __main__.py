"""The Pulumi program: one `TenantInstance` per organization this stack holds.

It only wires things together: the stack configuration (`railzway.config.stack_config`), the tenants registry
(`railzway.registry.loader`), one explicit PostgreSQL and Nomad provider per region, and the component. Its one
stack output, `tenants`, maps each org id (as a string) to that tenant's outputs
(`components.OUTPUT_KEYS`); the post-deploy Cloud DB sync reads it, and the secrets in it stay secret.

An invalid registry or configuration stops the program with the validator's messages, not a traceback.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pulumi
import pulumi_nomad as nomad
import pulumi_postgresql as postgresql

from components import (
    Adoption,
    BackupSchedule,
    BackupScheduleArgs,
    RegionHardening,
    TenantInstance,
    TenantInstanceArgs,
    end_sessions_hook,
)
from components.clouddb_hooks import KEYS_CONFIG, URL_CONFIG, CloudDBHooks, CloudDBSettingsError, hooks_from_environment
from railzway.admin import sessions as admin_session
from railzway.clouddb import CloudDBUnavailable, MigrationError
from railzway.config.stack_config import (
    NAMESPACE,
    RegionEndpoints,
    StackConfig,
    StackConfigError,
    endpoint_problems,
    parse_stack_config,
    stack_tenants,
)
from railzway.lifecycle.schedule import scheduled_regions
from railzway.registry import naming
from railzway.registry.loader import RegistryError, load_registry
from railzway.registry.location import registry_dir
from railzway.registry.model import Registry, Tenant
from railzway.registry.shards import owns_region_singletons
from railzway.tenant import password_rules

PROJECT_DIR = Path(__file__).resolve().parent


def read_stack_config() -> StackConfig:
    config = pulumi.Config(NAMESPACE)
    try:
        return parse_stack_config(
            {
                "registryDir": config.get("registryDir"),
                "imageRepository": config.get("imageRepository"),
                "shards": config.get_object("shards"),
                "regions": config.get_object("regions"),
            }
        )
    except StackConfigError as e:
        raise pulumi.RunError(f"the stack configuration is invalid:\n{e}") from None


def read_registry(directory: Path, shards: set[tuple[str, int]] | None) -> Registry:
    # Only this stack's shards: validating every tenant file in every stack would make a fleet's cost
    # grow with stacks x tenants (bench/bench_fleet.py); `railzway validate` checks the whole registry.
    try:
        return load_registry(directory, shards)
    except RegistryError as e:
        raise pulumi.RunError(f"the tenants registry is invalid:\n{e}") from None


def cloud_db_hooks() -> CloudDBHooks:
    """The hooks that keep the Cloud DB rows in step during `up` (off, with one message, without a Cloud DB)."""
    config = pulumi.Config(NAMESPACE)
    try:
        return hooks_from_environment(
            pulumi.get_stack(),
            os.environ,
            {key: config.get(key) for key in (URL_CONFIG, KEYS_CONFIG)},
            {key for key in (URL_CONFIG, KEYS_CONFIG) if pulumi.runtime.is_config_secret(f"{NAMESPACE}:{key}")},
            # A preview runs no hook, so it needs no Cloud DB; an `up` finds out before it changes anything.
            check=not pulumi.runtime.is_dry_run(),
        )
    except (CloudDBSettingsError, CloudDBUnavailable, MigrationError) as e:
        raise pulumi.RunError(f"the Cloud DB hooks cannot run: {e}") from None


def postgres_provider(region: str, endpoints: RegionEndpoints) -> postgresql.Provider:
    pg = endpoints.postgres
    return postgresql.Provider(
        naming.postgres_provider_name(region),
        host=pg.host,
        port=pg.port,
        username=pg.username,
        sslmode=pg.sslmode,
        # Unset: the provider reads PGPASSWORD itself, and the admin password never enters the state.
        password=pulumi.Output.secret(pg.password) if pg.password else None,
    )


def nomad_provider(region: str, endpoints: RegionEndpoints) -> nomad.Provider | None:
    if endpoints.nomad is None:
        return None
    return nomad.Provider(
        naming.nomad_provider_name(region),
        address=endpoints.nomad.address,
        region=endpoints.nomad.region,
        # Unset: the provider reads NOMAD_TOKEN itself (and `nomad agent -dev` needs none).
        secret_id=pulumi.Output.secret(endpoints.nomad.token) if endpoints.nomad.token else None,
    )


def adoptions(tenants: list[Tenant]) -> dict[int, Adoption]:
    """The seed passwords of the tenants adopted from the Go control plane, read from the Cloud DB.

    Until its first rotation an adopted tenant keeps the password its running container has, and the Cloud
    DB is the only place that holds it (plain text until the first sync, then encrypted). A row still in
    plain text also tells that the tenant's role, database and job are not in a state yet: they are imported.
    Only stacks holding adopted tenants connect to the Cloud DB (RAILZWAY_CLOUD_DB_URL, and
    RAILZWAY_CREDENTIALS_KEYS once synced); the passwords stay in memory and in secret outputs.
    """
    adopted = [t.org_id for t in tenants if t.password_rotation == password_rules.ADOPTED_PASSWORD_ROTATION]
    if not adopted:
        return {}
    import psycopg

    from railzway import clouddb
    from railzway.clouddb import seed

    shown = ", ".join(str(org_id) for org_id in adopted[:10]) + (" ..." if len(adopted) > 10 else "")
    why = f"tenants adopted from the Go control plane ({shown}) keep their password from the Cloud DB"
    try:
        with clouddb.connect(clouddb.cloud_db_url(), application_name="railzway-program") as conn:
            found = seed.adopted_passwords(conn, adopted, clouddb.load_keys)
    except (clouddb.CloudDBUnavailable, seed.SeedSchemaError, clouddb.CredentialsKeyError) as e:
        raise pulumi.RunError(f"{why}: {e}") from None
    except clouddb.DecryptionError as e:
        raise pulumi.RunError(f"{why}, but one does not decrypt: {e}") from None
    except psycopg.Error as e:
        raise pulumi.RunError(f"{why}, but reading it failed: {clouddb.database_error(e)}") from None
    missing = [org_id for org_id in adopted if org_id not in found]
    if missing:
        raise pulumi.RunError(
            f"{why}, but it has no password for {', '.join(map(str, missing))}: "
            "adopt only what `python -m railzway adopt` wrote, or rotate (change password_rotation)"
        )
    return {
        org_id: Adoption(password=pulumi.Output.secret(entry.password), import_existing=entry.pending)
        for org_id, entry in found.items()
    }


def hardening_regions(config: StackConfig, tenants: list[Tenant]) -> list[str]:
    """The regions whose server this stack hardens (components.RegionHardening): one stack per region
    (`shards.owns_region_singletons`); a stack holding every tenant hardens the regions it has tenants in."""
    if config.shard_set is None:
        return sorted({tenant.region for tenant in tenants})
    return sorted(region for region in config.regions if owns_region_singletons(region, config.shard_set))


# Every declared resource leaves many objects alive until the program ends (outputs, futures, tasks,
# protobuf messages), and CPython's cyclic collector re-scans all of them on each full collection: at
# 1,000 tenants that was over half the program's time, growing faster than the fleet
# (bench/bench_program.py). This process is short-lived and its memory peak does not change: collect rarely.
GC_THRESHOLDS = (100_000, 50, 100)


def main() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    config = read_stack_config()
    registry = read_registry(registry_dir(config.registry_dir), config.shard_set)
    problems = endpoint_problems(config, registry)
    if problems:
        raise pulumi.RunError("the stack configuration does not fit the registry:\n" + "\n".join(problems))
    tenants = stack_tenants(config, registry)
    hooks = cloud_db_hooks()

    hardened = hardening_regions(config, tenants)
    regions = sorted({tenant.region for tenant in tenants} | set(hardened))
    # Before any provider runs: an admin whose sessions a tenant database can steer would hand that tenant
    # the admin's privileges the first time the provider writes inside its database (issue 13).
    unsafe = admin_session.region_admin_problems({region: config.regions[region].postgres for region in regions})
    if unsafe:
        raise pulumi.RunError("the regions' PostgreSQL admins are not safe to provision with:\n" + "\n".join(unsafe))
    postgres = {region: postgres_provider(region, config.regions[region]) for region in regions}
    for region in hardened:
        RegionHardening(region, postgres[region])
    end_sessions = {region: end_sessions_hook(region, config.regions[region].postgres) for region in regions}
    nomads = {region: nomad_provider(region, config.regions[region]) for region in regions}
    adopted = adoptions(tenants)

    instances = {
        tenant.org_id: TenantInstance(
            naming.resource_name(tenant.org_id),
            TenantInstanceArgs(
                tenant=tenant,
                tier=registry.tier_of(tenant),
                endpoints=config.regions[tenant.region],
                image_repository=config.image_repository,
                postgres_provider=postgres[tenant.region],
                nomad_provider=nomads[tenant.region],
                adoption=adopted.get(tenant.org_id),
                end_sessions=end_sessions[tenant.region],
                hooks=(hooks,),
            ),
        )
        for tenant in tenants
    }
    # Each region with Nomad backs its tenants up nightly from a periodic job (regions without Nomad: the
    # scheduled workflow). Only regions whose tenants this stack holds, so its provider exists already.
    with_nomad = [region for region, provider in nomads.items() if provider is not None]
    for region in scheduled_regions(with_nomad, config.shard_set):
        provider = nomads[region]
        assert provider is not None
        BackupSchedule(
            f"backup-{region}",
            BackupScheduleArgs(region=region, endpoints=config.regions[region], nomad_provider=provider),
        )
    pulumi.export("tenants", {str(org_id): instance.outputs() for org_id, instance in instances.items()})


main()
