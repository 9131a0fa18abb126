"""The one way the admin connects into a tenant database: with a search path the tenant cannot steer.

A tenant owns its database and may `ALTER DATABASE ... SET search_path = evil, pg_catalog` and plant
functions named like built-ins there; the admin is a superuser. Options given at connection startup
(libpq `options`, the PGOPTIONS of pg_dump and pg_restore) override per-database and per-role settings,
so pinning `search_path=pg_catalog,pg_temp` there means every unqualified name the admin's session
resolves is a system object, whatever the tenant set. The pinned settings are the project's one list
(`admin_rules.session_options`, which the program's provider and the audit use too), and psycopg sessions
open through `admin_session.connect_admin`. The password never goes on a command line: it moves from the
URL into PGPASSWORD of the child process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from railzway.admin import session_rules as admin_rules
from railzway.admin.sessions import connect_admin


def tenant_conninfo(admin_url: str, dbname: str, environ: Mapping[str, str] = os.environ) -> tuple[str, dict[str, str]]:
    """(conninfo without a password, environment for a libpq client) to reach `dbname` as the admin.

    The conninfo serves psycopg and `--dbname=` of pg_dump/pg_restore alike: its `options` end with the
    pinned settings (a later `-c` wins over any the admin URL carried), and the environment holds the
    password as PGPASSWORD (from the URL when it has one) and the same options as PGOPTIONS.
    """
    params = {k: str(v) for k, v in conninfo_to_dict(admin_url).items() if v is not None}
    password = params.pop("password", None)
    options = admin_rules.session_options(params.pop("options", None))
    conninfo = make_conninfo("", **{**params, "dbname": dbname, "options": options})
    env = dict(environ)
    if password:
        env["PGPASSWORD"] = password
    env["PGOPTIONS"] = options
    return conninfo, env


def connect_tenant(admin_url: str, dbname: str, application_name: str) -> psycopg.Connection:
    """An autocommit psycopg connection to `dbname` as the admin, search path pinned (see the module)."""
    conninfo, env = tenant_conninfo(admin_url, dbname)
    password = env.get("PGPASSWORD")
    if password:
        conninfo = make_conninfo(conninfo, password=password)
    return connect_admin(conninfo, application_name=application_name)
