"""Ending a terminated tenant's open sessions: a resource hook on its role, run by the engine during `up`.

Setting the role NOLOGIN (with an expired password and a connection limit of 0) refuses new logins, but a
session already open keeps reading and writing, and may even lift its database's connection limit. No
provider resource ends sessions, so the program binds this hook to a terminated tenant's role: after the
engine has updated the role (the tenant can no longer log in again), the hook ends every session of it.
Hooks run during `up`, not `preview`, in the program's process; an error fails the `up`, naming the hook.

One named hook per region (it needs the region's admin endpoint), small and separate so other hooks can
be bound to the same role beside it.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pulumi

from railzway.admin import sessions as admin_session
from railzway.config.stack_config import PostgresEndpoint


def hook_name(region: str) -> str:
    return f"railzway-end-terminated-sessions-{region}"


def end_sessions_hook(region: str, endpoint: PostgresEndpoint) -> pulumi.ResourceHook:
    """The named `after_update` hook for the roles of terminated tenants of `region`."""
    return pulumi.ResourceHook(hook_name(region), end_terminated_sessions(endpoint))


def end_terminated_sessions(endpoint: PostgresEndpoint) -> Callable[[pulumi.ResourceHookArgs], None]:
    """The hook's function: end every session of the updated role once it can no longer log in."""

    def end_terminated_sessions(args: pulumi.ResourceHookArgs) -> None:
        props = {**(args.new_inputs or {}), **(args.new_outputs or {})}
        # The provider's id of a role is its name.
        role = props.get("name") or args.id
        # Bound to terminated tenants only; still, a role that may log in again would only reconnect.
        if not isinstance(role, str) or not role or props.get("login") is True:
            return
        try:
            with admin_session.connect_admin(**admin_session.endpoint_params(endpoint)) as conn:
                ended = admin_session.end_role_sessions(conn, role)
        except psycopg.Error as e:
            reason = " ".join(str(e).split())
            if endpoint.password:
                reason = reason.replace(endpoint.password, "***")
            raise RuntimeError(
                f"{role} is terminated but its open sessions could not be ended ({reason}); run `pulumi up` "
                f"again, or as the admin: SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE usename = '{role}'"
            ) from None
        pulumi.log.info(f"{role}: ended {ended} open session{'s' * (ended != 1)} of the terminated tenant")

    return end_terminated_sessions
