"""`TenantInstance`: everything one organization gets, as one Pulumi component.

This replaces the Go control plane's DeployUseCase and its PostgreSQL and Nomad adapters. Their
hand-written "exists? create : alter" checks become Pulumi state and diff: re-running `pulumi up` on an
unchanged registry changes nothing, and a failed run is retried by running it again.

Every value that needs no resource (names, the job document, the environment, the URL) comes from the
pure modules in `railzway`, so previews show real values and the policy pack checks the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import pulumi
import pulumi_nomad as nomad
import pulumi_postgresql as postgresql
import pulumi_random as random

from railzway.config.stack_config import RegionEndpoints
from railzway.registry.model import Tenant, Tier
from railzway.tenant import env as tenant_env
from railzway.tenant import jobspec, password_rules, spec

RESOURCE_TYPE = spec.TENANT_TYPE

# The keys of one tenant in the stack's `tenants` output: the contract the Cloud DB sync reads.
OUTPUT_KEYS = spec.OUTPUT_KEYS


# The resources of one tenant that hooks can be bound to, by the suffix of their logical name.
# "component" is the `TenantInstance` itself.
TenantPart = Literal["component", "password", "role", "database", "revoke-public", "variable", "job"]


class TenantHooks(Protocol):
    """Something that binds resource hooks to a tenant's resources (the Cloud DB row, ending sessions...)."""

    def bind(self, instance: TenantInstance, part: TenantPart) -> pulumi.ResourceHookBinding | None: ...


def part_hooks(
    hooks: Sequence[TenantHooks], instance: TenantInstance, part: TenantPart
) -> pulumi.ResourceHookBinding | None:
    """Every hook the providers bind to one part, merged into one binding (None when there is none)."""
    merged: pulumi.ResourceHookBinding | None = None
    for provider in hooks:
        binding = provider.bind(instance, part)
        if binding is not None:
            merged = pulumi.ResourceHookBinding.merge(merged, binding)
    return merged


@dataclass(frozen=True)
class Adoption:
    """A tenant the Go control plane provisioned (`password_rotation: adopted`), brought under the stack as is.

    Its password stays the seed's until an operator first rotates it: it is given here (from the Cloud DB)
    rather than imported into a `RandomPassword`, because the engine stores an import id in the checkpoint
    in clear (`importID`), and a `RandomPassword`'s import id is the password itself.
    """

    password: pulumi.Output[str]
    """The seed's password (secret), as the running container and the role have it."""
    import_existing: bool
    """True until the tenant's objects are in the state: import the role and database by name (and the
    job of a running tenant by `<job>@<namespace>`) instead of creating them."""


@dataclass(frozen=True)
class TenantInstanceArgs:
    """What one tenant's resources are declared from."""

    tenant: Tenant
    """The organization's desired state, from the registry."""
    tier: Tier
    """The tenant's tier: the container's CPU and memory, the role's and database's connection limit."""
    endpoints: RegionEndpoints
    """The tenant's region, from the stack configuration; without `nomad` the tenant gets databases only."""
    image_repository: str
    """The Railzway image repository; the tenant's registry version is the tag."""
    postgres_provider: postgresql.Provider
    """The region's PostgreSQL provider (explicit, so a tenant can never land on another region's server)."""
    nomad_provider: nomad.Provider | None = None
    """The region's Nomad provider; required exactly when `endpoints.nomad` is set."""
    adoption: Adoption | None = None
    """Required exactly when the tenant is adopted from the Go control plane (`password_rotation: adopted`)."""
    end_sessions: pulumi.ResourceHook | None = None
    """The region's hook that ends a terminated role's open sessions (`components.end_sessions_hook`)."""
    hooks: Sequence[TenantHooks] = ()
    """Resource hooks for the tenant's resources (the Cloud DB row hooks of `components.clouddb_hooks`)."""


class TenantInstance(pulumi.ComponentResource):
    """One organization: a password, a login role, a database it alone owns, and its Nomad job.

    Every value is declared from the tenant's specification (`railzway.tenant.spec.tenant`); the attributes
    below are its outputs, exactly `spec.OUTPUTS` (the secret ones secret).
    """

    org_id: int
    """The organization's id."""
    db_host: str
    """The host the tenant's container connects to."""
    db_port: int
    """The PostgreSQL port."""
    db_name: str
    """The tenant's database, `railzway_org_<org_id>`."""
    db_user: str
    """The tenant's login role, `railzway_user_<org_id>`."""
    db_password: pulumi.Output[str]
    """The role's password (secret)."""
    database_url: pulumi.Output[str]
    """`postgres://` URL with the percent-encoded password (secret)."""
    nomad_job_id: str | None
    """The Nomad job id, or None when the tenant has no job (terminated, or a region without Nomad)."""
    status: str
    """running, stopped or terminated, as in the registry."""
    tier: str
    """The tier name."""
    version: str
    """The Railzway version (image tag) the tenant runs."""
    region: str
    """The tenant's region."""

    def __init__(self, name: str, args: TenantInstanceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        tenant, tier, endpoints = args.tenant, args.tier, args.endpoints
        postgres = endpoints.postgres
        if (endpoints.nomad is None) != (args.nomad_provider is None):
            raise ValueError(f"{name}: pass a nomad provider exactly when the region has a nomad endpoint")
        if (tenant.password_rotation == password_rules.ADOPTED_PASSWORD_ROTATION) != (args.adoption is not None):
            raise ValueError(f"{name}: pass an adoption exactly when the tenant's password_rotation is 'adopted'")
        org_id = tenant.org_id
        wanted = spec.tenant(org_id, tenant.status, tier.connection_limit, has_nomad=endpoints.nomad is not None)
        self.org_id = org_id  # before any hook is bound: a hook provider keys the instance by it

        def hooked(options: pulumi.ResourceOptions | None, part: TenantPart) -> pulumi.ResourceOptions:
            binding = part_hooks(args.hooks, self, part)
            options = options or pulumi.ResourceOptions()
            if binding is None:
                return options
            return pulumi.ResourceOptions.merge(options, pulumi.ResourceOptions(hooks=binding))

        # The policy pack sees orgId, region, status and hasNomad on the component itself. The other values
        # of the tenant's Cloud DB row are inputs too, so that a change of any of them is an update of the
        # component (its hooks fire) even when no resource of the tenant changes (a region without Nomad).
        super().__init__(
            RESOURCE_TYPE,
            name,
            {
                "orgId": tenant.org_id,
                "region": tenant.region,
                "status": tenant.status,
                "hasNomad": endpoints.nomad is not None,
                "tier": tenant.tier,
                "version": tenant.version,
                "dbHost": postgres.tenant_host,
                "dbPort": postgres.port,
            },
            hooked(opts, "component"),
        )
        role_name = wanted.role.name
        database_name = wanted.database.name
        pg_options = pulumi.ResourceOptions(parent=self, provider=args.postgres_provider)
        # Removing a tenant from the registry, or a mistaken `pulumi destroy`, must never drop a customer's
        # data: Pulumi forgets the role and database but leaves them on the server. Deleting data is a
        # separate, explicit operator action.
        keep_data = pulumi.ResourceOptions.merge(pg_options, pulumi.ResourceOptions(retain_on_delete=True))
        importing = args.adoption is not None and args.adoption.import_existing

        def adopted(import_id: str) -> pulumi.ResourceOptions:
            # The objects the Go control plane created are imported (then updated in place), never recreated.
            return pulumi.ResourceOptions(import_=import_id) if importing else pulumi.ResourceOptions()

        password_result: pulumi.Output[str]
        if args.adoption is not None:
            password_result = pulumi.Output.secret(args.adoption.password)
        else:
            # Changes only when an operator bumps `password_rotation` (the seed rotated on every deploy, which
            # restarted every tenant on every deploy).
            password_result = random.RandomPassword(
                f"{name}-password",
                length=password_rules.PASSWORD_LENGTH,
                special=True,
                override_special=password_rules.PASSWORD_SPECIALS,
                keepers={"rotation": tenant.password_rotation},
                opts=pulumi.ResourceOptions(parent=self),
            ).result

        # Every privilege flag explicitly off, from the one list the policy pack and the audit also use.
        privilege_flags: dict[str, Any] = wanted.role.privilege_flags()
        role_options = keep_data
        if not wanted.role.login and args.end_sessions is not None:
            # NOLOGIN only refuses new logins: once the role is updated, end the sessions still open.
            role_options = pulumi.ResourceOptions.merge(
                keep_data,
                pulumi.ResourceOptions(hooks=pulumi.ResourceHookBinding(after_update=[args.end_sessions])),
            )
        role = postgresql.Role(
            f"{name}-role",
            name=role_name,
            # A terminated tenant keeps its data but has no way back in: no login, a password that has
            # expired (even if LOGIN were granted again) and no connection slot.
            login=wanted.role.login,
            password=password_result,
            valid_until=wanted.role.valid_until,
            connection_limit=wanted.role.connection_limit,
            **privilege_flags,
            opts=hooked(pulumi.ResourceOptions.merge(role_options, adopted(role_name)), "role"),
        )

        database = postgresql.Database(
            f"{name}-database",
            name=database_name,
            # The role's output, not the plain name: the database is created after its owner exists.
            owner=role.name,
            encoding=wanted.database.encoding,
            template=wanted.database.template,
            # A terminated tenant's database takes no connections (limit 0) except the admin's: superusers
            # are exempt from the limit; ALLOW_CONNECTIONS stays true (`spec.database_allows_connections`).
            connection_limit=wanted.database.connection_limit,
            allow_connections=wanted.database.allow_connections,
            opts=hooked(pulumi.ResourceOptions.merge(keep_data, adopted(database_name)), "database"),
        )

        # Without it every tenant could connect to every other tenant's database (`spec.PublicRevokeSpec`).
        revoke = wanted.revoke_public
        postgresql.Grant(
            f"{name}-revoke-public",
            database=database.name,
            role=revoke.role,
            object_type=revoke.object_type,
            privileges=list(revoke.privileges),
            opts=pg_options,
        )

        url = password_result.apply(
            lambda secret: tenant_env.database_url(
                role_name, secret, postgres.tenant_host, postgres.port, database_name, postgres.sslmode
            )
        )

        nomad_job_id: str | None = None
        if wanted.job is not None and wanted.variable is not None:
            assert endpoints.nomad is not None and args.nomad_provider is not None
            nomad_options = pulumi.ResourceOptions(parent=self, provider=args.nomad_provider)
            items = password_result.apply(
                lambda secret: tenant_env.env_items(
                    host=postgres.tenant_host,
                    port=postgres.port,
                    database=database_name,
                    user=role_name,
                    password=secret,
                    sslmode=postgres.sslmode,
                )
            )
            secret_items: pulumi.Output[dict[str, str]] = pulumi.Output.secret(items)
            # The provider imports a job as `<job>@<namespace>`. A stopped seed job may already be garbage-
            # collected by Nomad, so only a running tenant's job is imported; registering a job over an
            # existing one of the same id updates it in place anyway.
            job_import = (
                adopted(f"{wanted.job.job_id}@{endpoints.nomad.namespace}")
                if tenant.status == spec.RUNNING
                else pulumi.ResourceOptions()
            )
            variable = nomad.Variable(
                f"{name}-variable",
                path=wanted.variable.path,
                namespace=endpoints.nomad.namespace,
                items=secret_items,
                opts=nomad_options,
            )
            nomad.Job(
                f"{name}-job",
                jobspec=jobspec.render_jobspec(
                    org_id=org_id,
                    image_repository=args.image_repository,
                    version=tenant.version,
                    cpu=tier.cpu,
                    memory_mb=tier.memory_mb,
                    stopped=wanted.job.stopped,
                    region=endpoints.nomad.region,
                    namespace=endpoints.nomad.namespace,
                    datacenters=endpoints.nomad.datacenters,
                ),
                json=True,
                # The task renders its environment from the variable at start, and then connects to the
                # database: both must exist before the job is placed.
                opts=hooked(
                    pulumi.ResourceOptions.merge(
                        pulumi.ResourceOptions.merge(
                            nomad_options, pulumi.ResourceOptions(depends_on=[variable, database])
                        ),
                        job_import,
                    ),
                    "job",
                ),
            )
            nomad_job_id = wanted.job.job_id

        # The output contract, in one place (`spec.OUTPUTS`): each value once, the secret ones as secrets.
        values: dict[str, Any] = {
            "org_id": org_id,
            "db_host": postgres.tenant_host,
            "db_port": postgres.port,
            "db_name": database_name,
            "db_user": role_name,
            "db_password": password_result,
            "database_url": url,
            "nomad_job_id": nomad_job_id,
            "status": tenant.status,
            "tier": tenant.tier,
            "version": tenant.version,
            "region": tenant.region,
        }
        if tuple(values) != spec.OUTPUT_KEYS:
            raise AssertionError(f"TenantInstance outputs {tuple(values)} are not the contract {spec.OUTPUT_KEYS}")
        for key, value in values.items():
            setattr(self, key, pulumi.Output.secret(value) if key in spec.SECRET_OUTPUT_KEYS else value)
        self.register_outputs(self.outputs())

    def outputs(self) -> dict[str, Any]:
        """This tenant's entry of the stack's `tenants` output, keyed by `spec.OUTPUT_KEYS`."""
        return {key: getattr(self, key) for key in spec.OUTPUT_KEYS}
