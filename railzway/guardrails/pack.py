"""The CrossGuard rules every preview and update of a tenant stack is held to.

The component trusts its own conventions; these policies check whatever program declares the resources,
a hand-edited one included. They know no fact of their own: names come from `railzway.registry.naming`, role flags
and the password alphabet from `railzway.tenant.rules`, tiers from the registry (`railzway.registry.loader`), and the
jobspec rules from `railzway.tenant.jobspec` - the very functions the component builds from, so the program and
the pack cannot drift apart.

Each rule is a module-level `<rule>_validator(args, report_violation)` that returns at once for resource
types it does not judge, reads the wire (camelCase) property names and reports one violation per problem,
naming the resource and the fix. `POLICIES` wraps them for `policy/__main__.py`; the tests call the
validators directly.

During a preview, a value computed from a resource that does not exist yet is unknown. A validator that
meets one skips that check instead of failing (the engine runs the resource policies again with known
values when `pulumi up` registers the resource) - except a role's privilege flags, which must be plain
values a reviewer can read in the preview.
"""

from __future__ import annotations

import functools
import json
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi.runtime
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from railzway.admin import session_rules as admin_rules
from railzway.lifecycle import schedule
from railzway.registry import naming
from railzway.registry.loader import RegistryError, load_registry
from railzway.registry.location import registry_dir
from railzway.registry.model import Registry
from railzway.registry.shards import owns_region_singletons, parse_shard_key
from railzway.tenant import jobspec, rules

PACK_NAME = "railzway-tenant-guardrails"

TENANT_INSTANCE_TYPE = "railzway:index:TenantInstance"
ROLE_TYPE = "postgresql:index/role:Role"
DATABASE_TYPE = "postgresql:index/database:Database"
GRANT_TYPE = "postgresql:index/grant:Grant"
GRANT_ROLE_TYPE = "postgresql:index/grantRole:GrantRole"
# The provider keeps a misspelt, deprecated alias of DefaultPrivileges; both grant privileges.
DEFAULT_PRIVILEGES_TYPES = (
    "postgresql:index/defaultPrivileges:DefaultPrivileges",
    "postgresql:index/defaultPrivileg:DefaultPrivileg",
)
RANDOM_PASSWORD_TYPE = "random:index/randomPassword:RandomPassword"  # noqa: S105 (a type token)
NOMAD_VARIABLE_TYPE = "nomad:index/variable:Variable"
NOMAD_JOB_TYPE = "nomad:index/job:Job"

# Where the tier catalogue comes from (see `registry_dir_for`). A relative path is taken from the project
# root (the directory holding Pulumi.yaml), as the program takes it.
REGISTRY_DIR_CONFIG = "registryDir"
STACK_CONFIG_NAMESPACE = "railzway"
REGISTRY_DIR_ENV = "RAILZWAY_REGISTRY_DIR"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REGISTRY_DIR = PROJECT_ROOT / "tenants"

# `random.RandomPassword` draws its specials from this set unless `overrideSpecial` says otherwise
# (terraform-provider-random's default); most of them are not safe in a URL or a shell word.
RANDOM_DEFAULT_SPECIALS = "!@#$%&*()-_=+[]{}<>:?"

# PostgreSQL's pseudo-role that every role belongs to.
PUBLIC_ROLE = "public"
UNLIMITED_CONNECTIONS = -1


class _Unknown:
    """A value the engine cannot know during this preview."""

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Any = _Unknown()


def _get(props: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """`props[key]` as plain Python values, or UNKNOWN when any part of it is not known yet."""
    try:
        return _plain(props.get(key, default))
    except UnknownValueError:
        return UNKNOWN


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return value
    # The engine's property values travel as protobuf numbers, i.e. doubles: `length` arrives as 32.0.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _plain(value[k]) for k in value}
    if isinstance(value, Sequence):
        return [_plain(v) for v in value]
    return value


def grant_privileges(props: Mapping[str, Any]) -> Any:
    """The privileges a `postgresql.Grant` gives, as a list; UNKNOWN while they are computed.

    The engine shows the same revoke two ways: a resource policy sees the declared input `privileges: []`,
    a stack policy sees the provider's stored output `privileges: null` (../shared/engine/up/stack.json).
    Both mean the empty set, i.e. REVOKE ALL: the provider's `privileges` is a *required* set ("An empty
    list could be provided to revoke all privileges", terraform-provider-postgresql's postgresql_grant
    docs, cyrilgdn/terraform-provider-postgresql#26), so a grant can never leave it unset, and the
    Terraform plugin SDK stores an empty set as null. Reading null as "nothing granted" is therefore the
    provider's own meaning, not a guess; a non-empty set is never null.
    """
    value = _get(props, "privileges")
    if value is None:
        return []
    return value


def _urn_type(urn: str | None) -> str | None:
    """The type token of a URN (`urn:pulumi:<stack>::<project>::<parent types$type>::<name>`)."""
    parts = (urn or "").split("::", 3)
    return parts[2].rsplit("$", 1)[-1] if len(parts) == 4 else None


def _urn_name(urn: str | None) -> str | None:
    parts = (urn or "").split("::", 3)
    return parts[3] if len(parts) == 4 else None


def _parent_org_id(parent_urn: str | None) -> int | None:
    """The org id of the `TenantInstance` a resource is a child of, or None."""
    if _urn_type(parent_urn) != TENANT_INSTANCE_TYPE:
        return None
    return naming.org_id_of_resource(_urn_name(parent_urn) or "")


def _is_child_of_tenant(parent_urn: str | None) -> bool:
    return _urn_type(parent_urn) == TENANT_INSTANCE_TYPE


def _what(kind: str, logical_name: str, object_name: Any = None) -> str:
    if isinstance(object_name, str) and object_name and object_name != logical_name:
        return f"{kind} {logical_name!r} ({object_name})"
    return f"{kind} {logical_name!r}"


def job_id_of(props: Mapping[str, Any]) -> Any:
    """The `ID` a Nomad job resource's JSON jobspec declares; UNKNOWN while it is computed; else None."""
    spec = _get(props, "jobspec")
    if spec is UNKNOWN:
        return UNKNOWN
    try:
        document = json.loads(spec) if isinstance(spec, str) else None
    except ValueError:
        return None
    job = document.get("Job", document) if isinstance(document, dict) else None
    value = job.get("ID") if isinstance(job, dict) else None
    return value if isinstance(value, str) else None


# --- where the tier catalogue comes from -------------------------------------------------------------


def registry_dir_for(config: Mapping[str, Any] | None = None) -> Path:
    """The registry a policy checks tiers against.

    The policy's `registryDir` config, else $RAILZWAY_REGISTRY_DIR, else the stack's own `railzway:registryDir`
    (the engine hands policy packs the stack's configuration), else the project's `tenants/`.
    """
    configured = (config or {}).get(REGISTRY_DIR_CONFIG)
    if configured:
        path = Path(str(configured))
        return path if path.is_absolute() else PROJECT_ROOT / path
    return registry_dir(pulumi.runtime.get_config(f"{STACK_CONFIG_NAMESPACE}:{REGISTRY_DIR_CONFIG}"))


@functools.lru_cache(maxsize=8)
def _registry_at(directory: Path) -> Registry:
    # One pack process serves one preview: parse the registry once, not once per resource.
    return load_registry(directory)


def _registry(config: Mapping[str, Any], report_violation: ReportViolation) -> Registry | None:
    directory = registry_dir_for(config)
    try:
        return _registry_at(directory)
    except RegistryError as e:
        first = e.problems[0].text() if e.problems else "invalid"
        report_violation(
            f"Cannot check against the tier catalogue: the registry at {directory} is invalid ({first}). "
            f"Fix it (`railzway validate {directory}`) or point the policy's `{REGISTRY_DIR_CONFIG}` config "
            f"or ${REGISTRY_DIR_ENV} at the stack's registry.",
            None,
        )
        return None


_REGISTRY_CONFIG_SCHEMA = PolicyConfigSchema(
    properties={
        REGISTRY_DIR_CONFIG: {
            "type": "string",
            "description": f"The tenants registry directory (default: ${REGISTRY_DIR_ENV}, else the project's tenants/).",
        }
    }
)


# --- resource policies ---------------------------------------------------------------------------


def role_privileges_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """No tenant role may be superuser, create databases or roles, replicate, or bypass row-level security."""
    if args.resource_type != ROLE_TYPE:
        return
    name = _get(args.props, "name")
    if not _is_child_of_tenant(args.opts.parent) and not (isinstance(name, str) and naming.org_id_of_role(name)):
        return
    for python_name, (wire_name, _column) in rules.ROLE_PRIVILEGE_FLAGS.items():
        value = _get(args.props, wire_name, False)
        if value is UNKNOWN:
            report_violation(
                f"{_what('Role', args.name, name)}: {wire_name} is computed from another resource and cannot be "
                f"shown to be false; set {python_name}=False as a plain value.",
                None,
            )
        elif value is not False:
            report_violation(
                f"{_what('Role', args.name, name)} sets {wire_name}={value!r}: a tenant role must be an ordinary "
                f"login role; set {python_name}=False.",
                None,
            )


def tenant_naming_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Tenant roles, databases, Nomad variables and jobs carry their org's names; the database is owned by its role."""
    if args.resource_type == ROLE_TYPE:
        _check_name(args, "Role", _get(args.props, "name"), naming.org_id_of_role, naming.role_name, report_violation)
    elif args.resource_type == DATABASE_TYPE:
        name = _get(args.props, "name")
        org_id = _check_name(args, "Database", name, naming.org_id_of_database, naming.database_name, report_violation)
        owner = _get(args.props, "owner")
        if org_id is not None and owner is not UNKNOWN and owner != naming.role_name(org_id):
            report_violation(
                f"{_what('Database', args.name, name)} is owned by {owner!r}: a tenant database must be owned by "
                f"its own tenant role; set owner={naming.role_name(org_id)!r}.",
                None,
            )
    elif args.resource_type == NOMAD_VARIABLE_TYPE:
        path = _get(args.props, "path")
        _check_name(args, "Nomad variable", path, naming.org_id_of_variable, naming.variable_path, report_violation)
    elif args.resource_type == NOMAD_JOB_TYPE:
        _check_name(args, "Nomad job", job_id_of(args.props), naming.org_id_of_job, naming.job_id, report_violation)


def _check_name(
    args: ResourceValidationArgs,
    kind: str,
    name: Any,
    parse: Callable[[str], int | None],
    expected: Callable[[int], str],
    report_violation: ReportViolation,
) -> int | None:
    """The org id a tenant resource belongs to; reports a name that breaks the scheme."""
    if name is UNKNOWN:
        return None
    parsed = parse(name) if isinstance(name, str) else None
    parent_org_id = _parent_org_id(args.opts.parent)
    if parent_org_id is not None:
        if parsed != parent_org_id:
            report_violation(
                f"{_what(kind, args.name, name)} belongs to tenant {parent_org_id} but is named {name!r}; "
                f"name it {expected(parent_org_id)!r}.",
                None,
            )
        return parent_org_id
    if parsed is None and _is_child_of_tenant(args.opts.parent):
        scheme = expected(1)[:-1] + "<org id>"
        report_violation(
            f"{_what(kind, args.name, name)} is part of a TenantInstance but is named {name!r}, which is not a "
            f"tenant name; name it {scheme!r}.",
            None,
        )
    return parsed


def connection_limit_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every tenant role and database has a connection limit, and it is its tier's."""
    if args.resource_type == ROLE_TYPE:
        kind, parse = "Role", naming.org_id_of_role
    elif args.resource_type == DATABASE_TYPE:
        kind, parse = "Database", naming.org_id_of_database
    else:
        return
    name = _get(args.props, "name")
    org_id = _parent_org_id(args.opts.parent) or (parse(name) if isinstance(name, str) else None)
    if org_id is None:
        return
    limit = _get(args.props, "connectionLimit", UNLIMITED_CONNECTIONS)
    if limit is UNKNOWN:
        return
    registry = _registry(args.get_config(), report_violation)
    if registry is None:
        return
    tenant = registry.tenants.get(org_id)
    if tenant is not None:
        tier_name = tenant.tier
        tier_limit = registry.tier_of(tenant).connection_limit
        # A terminated tenant's database is closed with a limit of 0 (see rules.database_connection_limit).
        allowed = {
            rules.database_connection_limit(tenant.status, tier_limit)
            if kind == "Database"
            else rules.role_connection_limit(tenant.status, tier_limit)
        }
    else:
        tier_name = None
        allowed = {tier.connection_limit for tier in registry.tiers.tiers.values()}
    wanted = " or ".join(str(n) for n in sorted(allowed))
    if limit == 0 and allowed == {0}:
        return
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        report_violation(
            f"{_what(kind, args.name, name)} has no connection limit (connectionLimit={limit!r}): one tenant could "
            f"take every connection of the server; set connection_limit={wanted}.",
            None,
        )
    elif limit not in allowed:
        whose = f"is not the limit of its tier {tier_name!r}" if tier_name else "matches no tier in the catalogue"
        report_violation(
            f"{_what(kind, args.name, name)} has connectionLimit={limit}, which {whose}; set connection_limit={wanted}.",
            None,
        )


def password_strength_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Generated passwords are at least 32 characters and drawn only from URL- and shell-safe characters."""
    if args.resource_type != RANDOM_PASSWORD_TYPE:
        return
    length = _get(args.props, "length")
    if length is not UNKNOWN and (
        not isinstance(length, int) or isinstance(length, bool) or length < rules.PASSWORD_LENGTH
    ):
        report_violation(
            f"RandomPassword {args.name!r} has length={length!r}: generated passwords need at least "
            f"{rules.PASSWORD_LENGTH} characters; set length={rules.PASSWORD_LENGTH}.",
            None,
        )
    special = _get(args.props, "special", True)
    override = _get(args.props, "overrideSpecial")
    if special is UNKNOWN or override is UNKNOWN or special is False:
        return
    specials = override if isinstance(override, str) and override else RANDOM_DEFAULT_SPECIALS
    unsafe = sorted(set(specials) - rules.PASSWORD_ALPHABET - set(string.ascii_letters + string.digits))
    if unsafe:
        report_violation(
            f"RandomPassword {args.name!r} may draw {''.join(unsafe)!r}, which are not safe in a URL or a shell "
            f"word; set override_special={rules.PASSWORD_SPECIALS!r} (or special=False).",
            None,
        )


def jobspec_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A Nomad jobspec holds no credential and is JSON in Nomad's API shape."""
    if args.resource_type != NOMAD_JOB_TYPE:
        return
    spec, is_json = _get(args.props, "jobspec"), _get(args.props, "json", False)
    if is_json is not True and is_json is not UNKNOWN:
        report_violation(
            f"Nomad job {args.name!r} sets json={is_json!r}, so Nomad would read its jobspec as HCL; render it with "
            f"railzway.tenant.jobspec and set json=True.",
            None,
        )
    if not isinstance(spec, str):
        return
    if schedule.is_backup_job(job_id_of(args.props)):
        # A region's backup job (railzway.lifecycle.schedule): a periodic batch job with its own shape.
        for finding in schedule.backup_jobspec_findings(spec):
            report_violation(f"Nomad backup job {args.name!r}'s jobspec: {finding}.", None)
        return
    for finding in jobspec.credential_findings(spec):
        report_violation(f"Nomad job {args.name!r}'s jobspec {finding}.", None)
    for finding in jobspec.api_shape_findings(spec):
        report_violation(
            f"Nomad job {args.name!r}'s jobspec is not in Nomad's JSON API shape: {finding}; "
            f"render it with railzway.tenant.jobspec.render_jobspec.",
            None,
        )


def job_resources_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A Nomad job's tasks set CPU and memory, and each pair is a tier of the catalogue."""
    if args.resource_type != NOMAD_JOB_TYPE or schedule.is_backup_job(job_id_of(args.props)):
        return
    spec = _get(args.props, "jobspec")
    if not isinstance(spec, str):
        return
    tasks = jobspec.resources_of(spec)
    if not tasks:
        return
    registry = _registry(args.get_config(), report_violation)
    if registry is None:
        return
    tiers = {(t.cpu, t.memory_mb): name for name, t in registry.tiers.tiers.items()}
    offered = ", ".join(f"{name} (CPU={cpu}, MemoryMB={memory})" for (cpu, memory), name in tiers.items())
    for index, (cpu, memory) in enumerate(tasks):
        if cpu is None or memory is None:
            unset = " and ".join(key for key, value in (("CPU", cpu), ("MemoryMB", memory)) if value is None)
            report_violation(
                f"Nomad job {args.name!r}'s task {index} sets no {unset}: Nomad would give it a default size; "
                f"set Resources to a tier's: {offered}.",
                None,
            )
        elif (cpu, memory) not in tiers:
            report_violation(
                f"Nomad job {args.name!r}'s task {index} asks for CPU={cpu}, MemoryMB={memory}, which is no tier "
                f"of the catalogue; use a tier's: {offered}.",
                None,
            )


def pinned_image_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A Nomad job runs images pinned to an exact version: no `latest`, no missing tag."""
    if args.resource_type != NOMAD_JOB_TYPE:
        return
    spec = _get(args.props, "jobspec")
    if not isinstance(spec, str):
        return
    for finding in jobspec.image_findings(spec):
        report_violation(
            f"Nomad job {args.name!r}: {finding}; set the tenant's `version` in the registry to a released tag.",
            None,
        )


# --- stack policies ------------------------------------------------------------------------------


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
        name = job_id_of(r.props) if resource_type == NOMAD_JOB_TYPE else _get(r.props, key)
        if isinstance(name, str):
            found.append(_Named(r, name))
    return found


def _provider_urn(r: PolicyResource) -> str | None:
    return r.provider.urn if r.provider is not None else None


def _revokes_public(grant: PolicyResource, database: PolicyResource, database_name: str) -> bool:
    """Whether `grant` is the one that revokes every privilege of PUBLIC on `database`."""
    if grant.resource_type != GRANT_TYPE:
        return False
    props = grant.props
    grant_server, database_server = _provider_urn(grant), _provider_urn(database)
    if grant_server is not None and database_server is not None and grant_server != database_server:
        return False
    if not (
        str(_get(props, "role", "")).lower() == PUBLIC_ROLE
        and _get(props, "objectType") == "database"
        and grant_privileges(props) == []
    ):
        return False
    target = _get(props, "database")
    if target is UNKNOWN:
        # In a first preview the grant's `database` is the database's output, not known yet; the engine
        # still says which resource it comes from.
        return database.urn in {d.urn for d in grant.property_dependencies.get("database", [])}
    return bool(target == database_name)


def _is_tenant_database(named: _Named) -> bool:
    return naming.org_id_of_database(named.name) is not None or _is_child_of_tenant(_parent_urn(named.resource))


def _parent_urn(r: PolicyResource) -> str | None:
    if r.parent is not None:
        return r.parent.urn
    return r.opts.parent if r.opts is not None else None


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
        value = _get(r.props, key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and int(value) == value and value > 0:
            return int(value)
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return naming.org_id_of_resource(r.name)


def _component_runs_on_nomad(r: PolicyResource) -> bool:
    """Whether the tenant must have a variable and a job: its region has Nomad and it is not terminated."""
    if _get(r.props, "status") == "terminated":
        return False
    has_nomad = _get(r.props, "hasNomad")
    if isinstance(has_nomad, bool):
        return has_nomad
    region = _get(r.props, "region")
    regions = _stack_regions()
    if isinstance(region, str) and regions is not None and isinstance(regions.get(region), Mapping):
        # The stack's own configuration says whether the region has a cluster, whatever the component
        # reports about itself.
        return regions[region].get("nomad") is not None
    job = _get(r.props, "nomad_job_id")
    return job is UNKNOWN or (isinstance(job, str) and bool(job))


def _stack_regions() -> Mapping[str, Any] | None:
    """The stack's `railzway:regions` configuration, which the engine hands policy packs too; None if absent."""
    try:
        raw = pulumi.runtime.get_config(f"{STACK_CONFIG_NAMESPACE}:regions")
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    return value if isinstance(value, Mapping) else None


def cross_tenant_grants_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Nothing grants one tenant's role a privilege on another tenant's database or membership of its role."""
    for r in args.resources:
        if r.resource_type == GRANT_TYPE or r.resource_type in DEFAULT_PRIVILEGES_TYPES:
            role, database = _get(r.props, "role"), _get(r.props, "database")
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
            _check_membership(r, _get(r.props, "role"), [_get(r.props, "grantRole")], report_violation)
        elif r.resource_type == ROLE_TYPE:
            granted = _get(r.props, "roles", [])
            _check_membership(r, _get(r.props, "name"), granted if isinstance(granted, list) else [], report_violation)


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


# --- the pack ------------------------------------------------------------------------------------

POLICIES: list[Policy] = [
    ResourceValidationPolicy(
        name="tenant-role-no-privileges",
        description="No tenant role may be superuser, create databases or roles, replicate, or bypass row-level security.",
        validate=role_privileges_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="tenant-naming-and-ownership",
        description="Tenant objects follow the naming scheme and each tenant database is owned by its own tenant role.",
        validate=tenant_naming_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="tenant-connection-limit",
        description="Every tenant role and database has a connection limit, and it is its tier's.",
        validate=connection_limit_validator,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=_REGISTRY_CONFIG_SCHEMA,
    ),
    ResourceValidationPolicy(
        name="generated-password-strength",
        description="Generated passwords are at least 32 characters and use only URL- and shell-safe characters.",
        validate=password_strength_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="nomad-jobspec-no-credentials",
        description="A Nomad jobspec contains no credential and is JSON in Nomad's API shape.",
        validate=jobspec_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="nomad-job-resources-match-tier",
        description="A Nomad job sets CPU and memory, and they match a tier in the catalogue.",
        validate=job_resources_validator,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=_REGISTRY_CONFIG_SCHEMA,
    ),
    ResourceValidationPolicy(
        name="nomad-job-pinned-image",
        description="A Nomad job runs a pinned image tag (no latest, no missing tag).",
        validate=pinned_image_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="tenant-database-public-revoked",
        description="Every tenant database has a grant revoking PUBLIC's privileges on it.",
        validate=public_revoked_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="tenant-parts-unique-and-complete",
        description="No two tenants share a role, database or job name, and every tenant has all of its parts.",
        validate=tenant_parts_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="no-cross-tenant-grants",
        description="Nothing grants one tenant's role a privilege on another tenant's database.",
        validate=cross_tenant_grants_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]


# --- issue 13: the region's server and terminated tenants (appended) --------------------------------

REGION_HARDENING_TYPE = "railzway:index:RegionHardening"
POSTGRES_PROVIDER_PREFIX = "postgresql-"  # the program names a region's provider `postgresql-<region>`


def _stack_shards() -> list[str]:
    """The stack's `railzway:shards` ([] when it holds every tenant, or when the engine did not say)."""
    try:
        raw = pulumi.runtime.get_config(f"{STACK_CONFIG_NAMESPACE}:shards")
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []
    return [str(shard) for shard in value] if isinstance(value, list) else []


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
        and _provider_urn(grant) == server
        and str(_get(props, "role", "")).lower() == PUBLIC_ROLE
        and _get(props, "objectType") == "database"
        and _get(props, "database") == database
        and _get(props, "privileges") in ([], None)
    )


def server_databases_public_revoked_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Every server that holds tenant databases revokes PUBLIC's privileges on its `postgres` and `template1`."""
    servers: dict[str | None, _Named] = {}
    for db in _named(args.resources, DATABASE_TYPE, "name"):
        if _is_tenant_database(db):
            servers.setdefault(_provider_urn(db.resource), db)
    grants = [r for r in args.resources if r.resource_type == GRANT_TYPE]
    shards = _stack_shards()
    held = {parse_shard_key(s) for s in shards if _is_shard_key(s)}
    for server, example in sorted(servers.items(), key=lambda item: item[0] or ""):
        region = (_urn_name(server) or "").removeprefix(POSTGRES_PROVIDER_PREFIX)
        if shards and not owns_region_singletons(region, held):
            continue  # another stack of the region hardens its server
        for database in admin_rules.SERVER_DATABASES:
            if any(_revokes_public_on_server_database(g, database, server) for g in grants):
                continue
            where = f"provider {_urn_name(server)}" if server else "the default provider"
            report_violation(
                f"The server of {where} holds tenant databases ({example.name}, ...) but PUBLIC keeps "
                f"PostgreSQL's default CONNECT and TEMPORARY on its own database {database!r}, so every tenant "
                f"role can connect there; declare components.RegionHardening(region, provider) with that provider.",
                example.resource.urn,
            )


def terminated_role_locked_out_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A terminated tenant's role cannot log in, its password has expired for ever, and it has no connection."""
    if args.resource_type != ROLE_TYPE:
        return
    name = _get(args.props, "name")
    org_id = _parent_org_id(args.opts.parent) or (naming.org_id_of_role(name) if isinstance(name, str) else None)
    if org_id is None:
        return
    registry = _registry(args.get_config(), report_violation)
    tenant = registry.tenants.get(org_id) if registry is not None else None
    if tenant is None or tenant.status != "terminated":
        return
    wanted = {
        "login": False,
        "validUntil": rules.role_valid_until(tenant.status),
        "connectionLimit": rules.role_connection_limit(tenant.status, 0),
    }
    # The provider's defaults: LOGIN false, VALID UNTIL 'infinity', CONNECTION LIMIT -1.
    defaults = {"login": False, "validUntil": rules.PASSWORD_VALID_FOREVER, "connectionLimit": UNLIMITED_CONNECTIONS}
    wrong = {
        key: value
        for key in wanted
        if (value := _get(args.props, key, defaults[key])) is not UNKNOWN and value != wanted[key]
    }
    if wrong:
        report_violation(
            f"{_what('Role', args.name, name)} belongs to terminated tenant {org_id} but has "
            f"{', '.join(f'{key}={value!r}' for key, value in wrong.items())}: its tenant could come back in; set "
            f"login=False, valid_until={wanted['validUntil']!r}, connection_limit={wanted['connectionLimit']}.",
            None,
        )


POLICIES.extend(
    [
        StackValidationPolicy(
            name="server-databases-public-revoked",
            description="Every server holding tenants revokes PUBLIC's privileges on its postgres and template1.",
            validate=server_databases_public_revoked_validator,
            enforcement_level=EnforcementLevel.MANDATORY,
        ),
        ResourceValidationPolicy(
            name="terminated-tenant-locked-out",
            description="A terminated tenant's role cannot log in, has an expired password and no connections.",
            validate=terminated_role_locked_out_validator,
            enforcement_level=EnforcementLevel.MANDATORY,
            config_schema=_REGISTRY_CONFIG_SCHEMA,
        ),
    ]
)
