"""Rules that judge the whole stack at once (`StackValidationArgs`): what no single resource shows, such
as a database without its PUBLIC revoke, two tenants sharing a name, a grant across tenants, or a role or
database that is not what its tenant's specification says for the status and tier its TenantInstance
shows (the engine hands stack policies the component's outputs: `org_id`, `status`, `tier`, `region`...)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
)

from railzway.admin import session_rules as admin_rules
from railzway.guardrails.engine_values import (
    DATABASE_TYPE,
    DEFAULT_PRIVILEGES_TYPES,
    GRANT_ROLE_TYPE,
    GRANT_TYPE,
    NOMAD_JOB_TYPE,
    NOMAD_VARIABLE_TYPE,
    PUBLIC_ROLE,
    ROLE_TYPE,
    TENANT_INSTANCE_TYPE,
    UNKNOWN,
    UNLIMITED_CONNECTIONS,
    grant_privileges,
    is_child_of_tenant,
    job_id_of,
    parent_urn,
    provider_urn,
    resource_label,
    stack_regions,
    stack_shards,
    urn_name,
    value_of,
)
from railzway.guardrails.tier_catalogue import tier_catalogue
from railzway.registry import naming
from railzway.registry.model import TierCatalogue
from railzway.registry.shards import owns_region_singletons, parse_shard_key
from railzway.tenant import spec


@dataclass(frozen=True)
class _Named:
    """A stack resource with the tenant object name it declares (role, database, path or job id)."""

    resource: PolicyResource
    name: str


def _named(resources: Iterable[PolicyResource], resource_type: str, key: str) -> list[_Named]:
    found = []
    for r in resources:
        if r.resource_type != resource_type:
            continue
        name = job_id_of(r.props) if resource_type == NOMAD_JOB_TYPE else value_of(r.props, key)
        if isinstance(name, str):
            found.append(_Named(r, name))
    return found


def _revokes_public(grant: PolicyResource, database: PolicyResource, database_name: str) -> bool:
    """Whether `grant` is the one that revokes every privilege of PUBLIC on `database`."""
    if grant.resource_type != GRANT_TYPE:
        return False
    props = grant.props
    grant_server, database_server = provider_urn(grant), provider_urn(database)
    if grant_server is not None and database_server is not None and grant_server != database_server:
        return False
    revoke = spec.PublicRevokeSpec(database=database_name)
    if not (
        str(value_of(props, "role", "")).lower() == revoke.role
        and value_of(props, "objectType") == revoke.object_type
        and grant_privileges(props) == list(revoke.privileges)
    ):
        return False
    target = value_of(props, "database")
    if target is UNKNOWN:
        # In a first preview the grant's `database` is the database's output, not known yet; the engine
        # still says which resource it comes from.
        return database.urn in {d.urn for d in grant.property_dependencies.get("database", [])}
    return bool(target == database_name)


def _is_tenant_database(named: _Named) -> bool:
    return naming.org_id_of_database(named.name) is not None or is_child_of_tenant(parent_urn(named.resource))


def public_revoked_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Every tenant database has a grant that revokes PUBLIC's privileges on it."""
    grants = [r for r in args.resources if r.resource_type == GRANT_TYPE]
    for db in _named(args.resources, DATABASE_TYPE, "name"):
        if not _is_tenant_database(db):
            continue
        if not any(_revokes_public(g, db.resource, db.name) for g in grants):
            report_violation(
                f"Database {db.resource.name!r} ({db.name}) keeps PostgreSQL's default CONNECT and TEMPORARY for "
                f"PUBLIC, so every other tenant's role can connect to it; declare postgresql.Grant("
                f"database={db.name!r}, role='public', object_type='database', privileges=[]) with the same provider.",
                db.resource.urn,
            )


def tenant_parts_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """No two tenants share a role, database or job name, and every tenant has all of its parts."""
    kinds = (
        ("role", ROLE_TYPE, "name"),
        ("database", DATABASE_TYPE, "name"),
        ("Nomad variable", NOMAD_VARIABLE_TYPE, "path"),
        ("Nomad job", NOMAD_JOB_TYPE, ""),
    )
    declared: dict[str, set[str]] = {}
    for kind, resource_type, key in kinds:
        by_name: dict[str, list[PolicyResource]] = {}
        for named in _named(args.resources, resource_type, key):
            by_name.setdefault(named.name, []).append(named.resource)
        declared[resource_type] = set(by_name)
        for name, owners in sorted(by_name.items()):
            for duplicate in owners[1:]:
                report_violation(
                    f"{kind} {name!r} is declared by both {owners[0].name!r} and {duplicate.name!r}: two "
                    f"resources would fight over one object; keep one tenant per org id and remove the other.",
                    duplicate.urn,
                )

    grants = [r for r in args.resources if r.resource_type == GRANT_TYPE]
    databases: dict[str, list[PolicyResource]] = {}
    for named in _named(args.resources, DATABASE_TYPE, "name"):
        databases.setdefault(named.name, []).append(named.resource)

    def revoked(name: str) -> bool:
        return any(_revokes_public(g, db, name) for db in databases.get(name, []) for g in grants)

    for tenant in _tenants(args.resources, declared):
        missing = []
        if naming.role_name(tenant.org_id) not in declared[ROLE_TYPE]:
            missing.append(f"role {naming.role_name(tenant.org_id)}")
        if naming.database_name(tenant.org_id) not in declared[DATABASE_TYPE]:
            missing.append(f"database {naming.database_name(tenant.org_id)}")
        if not revoked(naming.database_name(tenant.org_id)):
            missing.append(f"the grant revoking PUBLIC on {naming.database_name(tenant.org_id)}")
        if tenant.runs_on_nomad:
            if naming.variable_path(tenant.org_id) not in declared[NOMAD_VARIABLE_TYPE]:
                missing.append(f"Nomad variable {naming.variable_path(tenant.org_id)}")
            if naming.job_id(tenant.org_id) not in declared[NOMAD_JOB_TYPE]:
                missing.append(f"Nomad job {naming.job_id(tenant.org_id)}")
        if missing:
            report_violation(
                f"Tenant {tenant.org_id} ({tenant.label}) is missing {', '.join(missing)}; declare it through "
                f"TenantInstance so every part is created together.",
                tenant.urn,
            )


@dataclass(frozen=True)
class _Tenant:
    org_id: int
    runs_on_nomad: bool
    urn: str | None
    label: str


def _tenants(resources: Sequence[PolicyResource], declared: Mapping[str, set[str]]) -> list[_Tenant]:
    """Every tenant of the stack: each TenantInstance, plus any org id a bare tenant object names."""
    tenants: dict[int, _Tenant] = {}
    for r in resources:
        if r.resource_type != TENANT_INSTANCE_TYPE:
            continue
        org_id = _component_org_id(r)
        if org_id is not None:
            tenants[org_id] = _Tenant(org_id, _component_runs_on_nomad(r), r.urn, repr(r.name))
    parsers = ((ROLE_TYPE, naming.org_id_of_role), (DATABASE_TYPE, naming.org_id_of_database))
    for resource_type, parse in parsers:
        for name in declared.get(resource_type, set()):
            org_id = parse(name)
            if org_id is not None and org_id not in tenants:
                tenants[org_id] = _Tenant(org_id, False, None, "declared outside a TenantInstance")
    return sorted(tenants.values(), key=lambda t: t.org_id)


# What a TenantInstance says about itself. The program's RegisterResource carries `orgId`, `region`,
# `status` and `hasNomad`; the engine, though, hands stack policies a component's *registered outputs*
# (`org_id`, `region`, `status`, `nomad_job_id`, ...), which replace those inputs. Both are read.
def _component_org_id(r: PolicyResource) -> int | None:
    for key in ("orgId", "org_id"):
        value = value_of(r.props, key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and int(value) == value and value > 0:
            return int(value)
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return naming.org_id_of_resource(r.name)


def _component_runs_on_nomad(r: PolicyResource) -> bool:
    """Whether the tenant must have a variable and a job (`spec.runs_job`): by its status, and whether its
    region has Nomad."""
    status = value_of(r.props, "status")
    return spec.runs_job(status if isinstance(status, str) else "", _component_has_nomad(r))


def _component_has_nomad(r: PolicyResource) -> bool:
    has_nomad = value_of(r.props, "hasNomad")
    if isinstance(has_nomad, bool):
        return has_nomad
    region = value_of(r.props, "region")
    regions = stack_regions()
    if isinstance(region, str) and regions is not None and isinstance(regions.get(region), Mapping):
        # The stack's own configuration says whether the region has a cluster, whatever the component
        # reports about itself.
        return regions[region].get("nomad") is not None
    job = value_of(r.props, "nomad_job_id")
    return job is UNKNOWN or (isinstance(job, str) and bool(job))


def cross_tenant_grants_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Nothing grants one tenant's role a privilege on another tenant's database or membership of its role."""
    for r in args.resources:
        if r.resource_type == GRANT_TYPE or r.resource_type in DEFAULT_PRIVILEGES_TYPES:
            role, database = value_of(r.props, "role"), value_of(r.props, "database")
            if not isinstance(role, str) or not isinstance(database, str):
                continue
            db_org = naming.org_id_of_database(database)
            if db_org is None:
                continue
            role_org = naming.org_id_of_role(role)
            privileges = grant_privileges(r.props)
            if role_org is not None and role_org != db_org:
                report_violation(
                    f"{r.name!r} grants tenant {role_org}'s role {role} privileges on tenant {db_org}'s database "
                    f"{database}; remove it: a tenant may only reach its own database.",
                    r.urn,
                )
            elif role.lower() == PUBLIC_ROLE and privileges not in ([], UNKNOWN) and r.resource_type == GRANT_TYPE:
                report_violation(
                    f"{r.name!r} grants PUBLIC {privileges} on tenant {db_org}'s database {database}, which gives "
                    f"every other tenant's role access; grant PUBLIC nothing (privileges=[]).",
                    r.urn,
                )
        elif r.resource_type == GRANT_ROLE_TYPE:
            _check_membership(r, value_of(r.props, "role"), [value_of(r.props, "grantRole")], report_violation)
        elif r.resource_type == ROLE_TYPE:
            granted = value_of(r.props, "roles", [])
            _check_membership(
                r, value_of(r.props, "name"), granted if isinstance(granted, list) else [], report_violation
            )


def _check_membership(
    r: PolicyResource, member: Any, granted: Sequence[Any], report_violation: ReportViolation
) -> None:
    member_org = naming.org_id_of_role(member) if isinstance(member, str) else None
    if member_org is None:
        return
    for role in granted:
        other = naming.org_id_of_role(role) if isinstance(role, str) else None
        if other is not None and other != member_org:
            report_violation(
                f"{r.name!r} makes tenant {member_org}'s role {member} a member of tenant {other}'s role {role}, "
                f"which owns tenant {other}'s database; remove the membership.",
                r.urn,
            )


def _is_shard_key(text: str) -> bool:
    try:
        parse_shard_key(text)
    except ValueError:
        return False
    return True


def _revokes_public_on_server_database(grant: PolicyResource, database: str, server: str | None) -> bool:
    """Whether `grant` revokes every privilege of PUBLIC on the server database `database` of `server`."""
    props = grant.props
    # The stack view of `privileges=[]` is null (the provider stores an empty set as null); the resource
    # view is [] (../shared/engine/README.md).
    return (
        grant.resource_type == GRANT_TYPE
        and provider_urn(grant) == server
        and str(value_of(props, "role", "")).lower() == PUBLIC_ROLE
        and value_of(props, "objectType") == "database"
        and value_of(props, "database") == database
        and value_of(props, "privileges") in ([], None)
    )


def server_databases_public_revoked_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Every server that holds tenant databases revokes PUBLIC's privileges on its `postgres` and `template1`."""
    servers: dict[str | None, _Named] = {}
    for db in _named(args.resources, DATABASE_TYPE, "name"):
        if _is_tenant_database(db):
            servers.setdefault(provider_urn(db.resource), db)
    grants = [r for r in args.resources if r.resource_type == GRANT_TYPE]
    shards = stack_shards()
    held = {parse_shard_key(s) for s in shards if _is_shard_key(s)}
    for server, example in sorted(servers.items(), key=lambda item: item[0] or ""):
        region = (urn_name(server) or "").removeprefix(naming.POSTGRES_PROVIDER_PREFIX)
        if shards and not owns_region_singletons(region, held):
            continue  # another stack of the region hardens its server
        for database in admin_rules.SERVER_DATABASES:
            if any(_revokes_public_on_server_database(g, database, server) for g in grants):
                continue
            where = f"provider {urn_name(server)}" if server else "the default provider"
            report_violation(
                f"The server of {where} holds tenant databases ({example.name}, ...) but PUBLIC keeps "
                f"PostgreSQL's default CONNECT and TEMPORARY on its own database {database!r}, so every tenant "
                f"role can connect there; declare components.RegionHardening(region, provider) with that provider.",
                example.resource.urn,
            )


# --- a tenant's role and database, as its specification says for the status and tier the engine shows ---


@dataclass(frozen=True)
class _Owned:
    """A tenant role or database with the org id, status and tier name its TenantInstance shows."""

    resource: PolicyResource
    kind: str
    """"Role" or "Database"."""
    org_id: int
    status: str
    tier: str | None


def _owned(resources: Sequence[PolicyResource], resource_type: str) -> list[_Owned]:
    """Every role or database of a tenant whose TenantInstance is in the stack: its parent, else the
    component of the org its name says (a bare `railzway_user_<id>` beside that org's component). The
    component's `status` and `tier` are its registered outputs in the engine's stack view (its inputs under
    the same names in older views); a value not known yet leaves the resource out."""
    components: dict[int, PolicyResource] = {}
    for r in resources:
        if r.resource_type == TENANT_INSTANCE_TYPE and (org_id := _component_org_id(r)) is not None:
            components.setdefault(org_id, r)
    kind, parse = (
        ("Role", naming.org_id_of_role) if resource_type == ROLE_TYPE else ("Database", naming.org_id_of_database)
    )
    found = []
    for r in resources:
        if r.resource_type != resource_type:
            continue
        parent = r.parent if r.parent is not None and r.parent.resource_type == TENANT_INSTANCE_TYPE else None
        if parent is not None:
            org_id = _component_org_id(parent)
        else:
            name = value_of(r.props, "name")
            org_id = parse(name) if isinstance(name, str) else None
            parent = components.get(org_id) if org_id is not None else None
        if parent is None or org_id is None:
            continue
        status, tier = value_of(parent.props, "status"), value_of(parent.props, "tier")
        if isinstance(status, str):
            found.append(_Owned(r, kind, org_id, status, tier if isinstance(tier, str) else None))
    return found


class _Tiers:
    """The tier catalogue, read the first time a rule needs it (a stack without tenants reads nothing)."""

    def __init__(self, args: StackValidationArgs, report_violation: ReportViolation) -> None:
        self._args, self._report = args, report_violation
        self._read = False
        self._catalogue: TierCatalogue | None = None

    def limit_of(self, tier: str | None) -> int | None:
        """The tier's connection limit; None when the tier or the catalogue is unknown."""
        if not self._read:
            self._read = True
            self._catalogue = tier_catalogue(self._args.get_config(), self._report)
        if self._catalogue is None or tier is None or tier not in self._catalogue.tiers:
            return None
        return self._catalogue.tiers[tier].connection_limit


def _wanted_limit(owned: _Owned, tier_limit: int) -> int:
    if owned.kind == "Role":
        return spec.role(owned.org_id, owned.status, tier_limit).connection_limit
    return spec.database(owned.org_id, owned.status, tier_limit).connection_limit


def connection_limit_by_status_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Every tenant role's and database's connection limit is the one the specification gives its tenant's
    status and tier, as the tenant's TenantInstance shows them."""
    tiers = _Tiers(args, report_violation)
    for owned in (*_owned(args.resources, ROLE_TYPE), *_owned(args.resources, DATABASE_TYPE)):
        r = owned.resource
        limit = value_of(r.props, "connectionLimit", UNLIMITED_CONNECTIONS)
        if limit is UNKNOWN:
            continue
        tier_limit = tiers.limit_of(owned.tier)
        if tier_limit is None:
            continue  # the tier is unknown to the catalogue: `tenant-connection-limit` says which limits exist
        wanted = _wanted_limit(owned, tier_limit)
        if limit != wanted or isinstance(limit, bool):
            report_violation(
                f"{resource_label(owned.kind, r.name, value_of(r.props, 'name'))} has connectionLimit={limit!r}, but "
                f"tenant {owned.org_id} is {owned.status} on tier {owned.tier!r}, which sets {wanted}; set "
                f"connection_limit={wanted}.",
                r.urn,
            )


def terminated_role_locked_out_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """A role whose tenant may not log in (terminated, as its TenantInstance shows) cannot log in, has a
    password that has expired for ever, and no connection."""
    tiers = _Tiers(args, report_violation)
    for owned in _owned(args.resources, ROLE_TYPE):
        if spec.role_login(owned.status):
            continue
        r = owned.resource
        tier_limit = tiers.limit_of(owned.tier)
        role = spec.role(owned.org_id, owned.status, tier_limit if tier_limit is not None else UNLIMITED_CONNECTIONS)
        wanted: dict[str, Any] = {"login": role.login, "validUntil": role.valid_until}
        if tier_limit is not None:  # else `tenant-connection-limit` says which limits exist
            wanted["connectionLimit"] = role.connection_limit
        # The provider's defaults: LOGIN false, VALID UNTIL 'infinity', CONNECTION LIMIT -1.
        defaults = {
            "login": False,
            "validUntil": spec.PASSWORD_VALID_FOREVER,
            "connectionLimit": UNLIMITED_CONNECTIONS,
        }
        wrong = {
            key: value
            for key in wanted
            if (value := value_of(r.props, key, defaults[key])) is not UNKNOWN and value != wanted[key]
        }
        if wrong:
            report_violation(
                f"{resource_label('Role', r.name, value_of(r.props, 'name'))} belongs to {owned.status} tenant "
                f"{owned.org_id} but has {', '.join(f'{key}={value!r}' for key, value in wrong.items())}: its tenant "
                f"could come back in; set login={role.login}, valid_until={role.valid_until!r}, "
                f"connection_limit={role.connection_limit}.",
                r.urn,
            )
