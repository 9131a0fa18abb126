"""Issue 13's checks, as findings: is the admin steerable, does any tenant carry its own settings or shadow
the catalogue, are the server's own databases closed to PUBLIC, is a terminated tenant really out.

Pure functions over the snapshot (and the look inside the databases), like `findings`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from railzway.admin import session_rules as admin_rules
from railzway.audit.catalogue import Snapshot
from railzway.audit.expected import ExpectedTenant
from railzway.audit.findings import FINDING, WARNING, Finding
from railzway.audit.inside import Inside, Shadow
from railzway.registry import naming

_ident = admin_rules.quote_ident


def hardening_findings(expected: Sequence[ExpectedTenant], snapshot: Snapshot, inside: Inside | None) -> list[Finding]:
    results = [*_admin(snapshot), *_server_databases(snapshot), *_settings(snapshot)]
    for tenant in expected:
        if tenant.terminated:
            results.extend(_terminated(tenant, snapshot))
    if inside is not None:
        results.extend(_shadows(inside.shadows))
        results.extend(_unreadable(inside.unreadable))
    return results


def _admin(snapshot: Snapshot) -> Iterator[Finding]:
    admin = snapshot.admin
    if admin is None:
        return
    problems = admin.problems()
    if problems:
        yield Finding(
            FINDING,
            "admin-steerable",
            None,
            f"role {admin.user}",
            "the admin's sessions can be steered by a tenant database (a tenant can become superuser the next "
            f"time the provider writes in its database): {'; '.join(problems)}",
            f"{admin_rules.setup_sql(admin.user)} (README.md, Region set-up)",
        )


def _server_databases(snapshot: Snapshot) -> Iterator[Finding]:
    for name, public in sorted(snapshot.server_databases.items()):
        if public:
            yield Finding(
                FINDING,
                "server-database-public",
                None,
                f"database {name}",
                f"PUBLIC holds {', '.join(sorted(public))}: every tenant role may connect to the server's own database",
                f"`pulumi up` (the program revokes it per region); or REVOKE ALL ON DATABASE {_ident(name)} FROM PUBLIC",
            )


def _settings(snapshot: Snapshot) -> Iterator[Finding]:
    for row in snapshot.settings:
        if row.database is not None and naming.org_id_of_database(row.database) is not None:
            org_id = naming.org_id_of_database(row.database)
            subject = f"database {row.database}"
            scope = f" for role {row.role}" if row.role else ""
            fix = (
                f"ALTER ROLE {_ident(row.role)} IN DATABASE {_ident(row.database)} RESET ALL"
                if row.role
                else f"ALTER DATABASE {_ident(row.database)} RESET ALL"
            )
        elif row.role is not None:
            org_id = naming.org_id_of_role(row.role)
            subject = f"role {row.role}"
            scope = f" in database {row.database}" if row.database else ""
            fix = (
                f"ALTER ROLE {_ident(row.role)} IN DATABASE {_ident(row.database)} RESET ALL"
                if row.database
                else f"ALTER ROLE {_ident(row.role)} RESET ALL"
            )
        else:
            continue
        yield Finding(
            FINDING,
            "tenant-setting",
            org_id,
            subject,
            f"carries its own settings{scope} ({', '.join(row.settings)}), which apply to every session there; "
            "the fleet sets none, and a tenant uses them to steer other roles' sessions",
            fix,
        )


def _terminated(tenant: ExpectedTenant, snapshot: Snapshot) -> Iterator[Finding]:
    role = snapshot.roles.get(tenant.role)
    subject = f"role {tenant.role}"
    if role is not None and not role.password_expired:
        yield Finding(
            FINDING,
            "terminated-role-password",
            tenant.org_id,
            subject,
            f"its password is still valid (VALID UNTIL {role.valid_until or 'infinity'}) although the tenant is "
            "terminated: LOGIN granted again would let it back in",
            f"`pulumi up`; or ALTER ROLE {_ident(tenant.role)} VALID UNTIL '{tenant.role_spec.valid_until}'",
        )
    sessions = snapshot.sessions.get(tenant.role, 0)
    if sessions:
        yield Finding(
            FINDING,
            "terminated-sessions",
            tenant.org_id,
            subject,
            f"has {sessions} open session{'s' * (sessions != 1)} although the tenant is terminated",
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{tenant.role}'",
        )


def _shadows(shadows: Mapping[str, Sequence[Shadow]]) -> Iterator[Finding]:
    for database, found in sorted(shadows.items()):
        listed = ", ".join(f"{s.kind} {s.schema}.{s.name}" for s in found)
        yield Finding(
            FINDING,
            "catalog-shadow",
            naming.org_id_of_database(database),
            f"database {database}",
            f"holds objects named like catalogue objects ({listed}): a trap for any session whose search_path "
            "puts them first",
            "find who created them and why; drop them (as the admin, connected with "
            "options='-c search_path=pg_catalog,pg_temp')",
        )


def _unreadable(unreadable: Mapping[str, str]) -> Iterator[Finding]:
    for database, reason in sorted(unreadable.items()):
        yield Finding(
            WARNING,
            "database-unreadable",
            naming.org_id_of_database(database),
            f"database {database}",
            f"could not be checked for objects shadowing the catalogue ({reason})",
            "make it accept the admin's connections again (ALLOW_CONNECTIONS true), then audit again",
        )
