"""Rules that judge one resource at a time, as the engine registers it (`ResourceValidationArgs`).

Each is a module-level `<rule>_validator(args, report_violation)` that returns at once for resource
types it does not judge, reads the wire (camelCase) property names and reports one violation per problem,
naming the resource and the fix. A value still unknown in a preview skips that check (the engine runs
the resource policies again with known values at `up`), except a role's privilege flags, which must be
plain values a reviewer can read in the preview.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
)

from railzway.guardrails.engine_values import (
    DATABASE_TYPE,
    NOMAD_JOB_TYPE,
    NOMAD_VARIABLE_TYPE,
    RANDOM_PASSWORD_TYPE,
    ROLE_TYPE,
    UNKNOWN,
    UNLIMITED_CONNECTIONS,
    is_child_of_tenant,
    job_id_of,
    parent_org_id,
    resource_label,
    value_of,
)
from railzway.guardrails.tier_catalogue import tier_catalogue
from railzway.lifecycle import schedule
from railzway.registry import naming
from railzway.tenant import jobspec, password_rules, spec

# `random.RandomPassword` draws its specials from this set unless `overrideSpecial` says otherwise
# (terraform-provider-random's default); most of them are not safe in a URL or a shell word.
RANDOM_DEFAULT_SPECIALS = "!@#$%&*()-_=+[]{}<>:?"


def role_privileges_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """No tenant role may be superuser, create databases or roles, replicate, or bypass row-level security."""
    if args.resource_type != ROLE_TYPE:
        return
    name = value_of(args.props, "name")
    if not is_child_of_tenant(args.opts.parent) and not (isinstance(name, str) and naming.org_id_of_role(name)):
        return
    for python_name, (wire_name, _column) in spec.ROLE_PRIVILEGE_FLAGS.items():
        value = value_of(args.props, wire_name, False)
        if value is UNKNOWN:
            report_violation(
                f"{resource_label('Role', args.name, name)}: {wire_name} is computed from another resource and cannot be "
                f"shown to be false; set {python_name}=False as a plain value.",
                None,
            )
        elif value is not False:
            report_violation(
                f"{resource_label('Role', args.name, name)} sets {wire_name}={value!r}: a tenant role must be an ordinary "
                f"login role; set {python_name}=False.",
                None,
            )


def tenant_naming_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Tenant roles, databases, Nomad variables and jobs carry their org's names; the database is owned by its role."""
    if args.resource_type == ROLE_TYPE:
        _check_name(
            args, "Role", value_of(args.props, "name"), naming.org_id_of_role, naming.role_name, report_violation
        )
    elif args.resource_type == DATABASE_TYPE:
        name = value_of(args.props, "name")
        org_id = _check_name(args, "Database", name, naming.org_id_of_database, naming.database_name, report_violation)
        owner = value_of(args.props, "owner")
        if org_id is not None and owner is not UNKNOWN and owner != spec.database_owner(org_id):
            report_violation(
                f"{resource_label('Database', args.name, name)} is owned by {owner!r}: a tenant database must be owned by "
                f"its own tenant role; set owner={spec.database_owner(org_id)!r}.",
                None,
            )
    elif args.resource_type == NOMAD_VARIABLE_TYPE:
        path = value_of(args.props, "path")
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
    parent_org = parent_org_id(args.opts.parent)
    if parent_org is not None:
        if parsed != parent_org:
            report_violation(
                f"{resource_label(kind, args.name, name)} belongs to tenant {parent_org} but is named {name!r}; "
                f"name it {expected(parent_org)!r}.",
                None,
            )
        return parent_org
    if parsed is None and is_child_of_tenant(args.opts.parent):
        scheme = expected(1)[:-1] + "<org id>"
        report_violation(
            f"{resource_label(kind, args.name, name)} is part of a TenantInstance but is named {name!r}, which is not a "
            f"tenant name; name it {scheme!r}.",
            None,
        )
    return parsed


def connection_limit_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every tenant role and database has a connection limit, one the specification gives some tenant.

    A resource policy sees neither the tenant's status nor its tier (they are its TenantInstance's, which
    only a stack policy sees), so here a limit is judged against the tier catalogue alone; the stack policy
    `tenant-connection-limit-by-status` checks that it is this tenant's.
    """
    if args.resource_type == ROLE_TYPE:
        kind, parse = "Role", naming.org_id_of_role
    elif args.resource_type == DATABASE_TYPE:
        kind, parse = "Database", naming.org_id_of_database
    else:
        return
    name = value_of(args.props, "name")
    org_id = parent_org_id(args.opts.parent) or (parse(name) if isinstance(name, str) else None)
    if org_id is None:
        return
    limit = value_of(args.props, "connectionLimit", UNLIMITED_CONNECTIONS)
    if limit is UNKNOWN:
        return
    catalogue = tier_catalogue(args.get_config(), report_violation)
    if catalogue is None:
        return
    allowed = spec.possible_connection_limits(
        kind.lower(), {tier.connection_limit for tier in catalogue.tiers.values()}
    )
    if isinstance(limit, int) and not isinstance(limit, bool) and limit in allowed:
        return
    wanted = ", ".join(str(n) for n in sorted(allowed))
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        report_violation(
            f"{resource_label(kind, args.name, name)} has no connection limit (connectionLimit={limit!r}): one tenant could "
            f"take every connection of the server; set connection_limit to its tenant's ({wanted}).",
            None,
        )
    else:
        report_violation(
            f"{resource_label(kind, args.name, name)} has connectionLimit={limit}, which no tier in the catalogue gives a "
            f"tenant; set connection_limit to its tenant's ({wanted}).",
            None,
        )


def password_strength_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Generated passwords are at least 32 characters and drawn only from URL- and shell-safe characters."""
    if args.resource_type != RANDOM_PASSWORD_TYPE:
        return
    length = value_of(args.props, "length")
    if length is not UNKNOWN and (
        not isinstance(length, int) or isinstance(length, bool) or length < password_rules.PASSWORD_LENGTH
    ):
        report_violation(
            f"RandomPassword {args.name!r} has length={length!r}: generated passwords need at least "
            f"{password_rules.PASSWORD_LENGTH} characters; set length={password_rules.PASSWORD_LENGTH}.",
            None,
        )
    special = value_of(args.props, "special", True)
    override = value_of(args.props, "overrideSpecial")
    if special is UNKNOWN or override is UNKNOWN or special is False:
        return
    specials = override if isinstance(override, str) and override else RANDOM_DEFAULT_SPECIALS
    unsafe = sorted(set(specials) - password_rules.PASSWORD_ALPHABET - set(string.ascii_letters + string.digits))
    if unsafe:
        report_violation(
            f"RandomPassword {args.name!r} may draw {''.join(unsafe)!r}, which are not safe in a URL or a shell "
            f"word; set override_special={password_rules.PASSWORD_SPECIALS!r} (or special=False).",
            None,
        )


def jobspec_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A Nomad jobspec holds no credential and is JSON in Nomad's API shape."""
    if args.resource_type != NOMAD_JOB_TYPE:
        return
    spec, is_json = value_of(args.props, "jobspec"), value_of(args.props, "json", False)
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
    spec = value_of(args.props, "jobspec")
    if not isinstance(spec, str):
        return
    tasks = jobspec.resources_of(spec)
    if not tasks:
        return
    catalogue = tier_catalogue(args.get_config(), report_violation)
    if catalogue is None:
        return
    tiers = {(t.cpu, t.memory_mb): name for name, t in catalogue.tiers.items()}
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
    spec = value_of(args.props, "jobspec")
    if not isinstance(spec, str):
        return
    for finding in jobspec.image_findings(spec):
        report_violation(
            f"Nomad job {args.name!r}: {finding}; set the tenant's `version` in the registry to a released tag.",
            None,
        )
