"""The Cloud DB: its schema, the post-deploy sync of stack outputs, and tenant credentials encrypted at rest.

Knows nothing of Pulumi: it is given outputs (a mapping, as `pulumi stack output --json --show-secrets`
prints them) and writes rows. Every function takes its psycopg connection as an argument.

    migrate(conn, steps=(CLOUD_DB, ...))   schema up to date, under golang-migrate's lock and bookkeeping
    status(conn) -> (version, dirty)
    load_keys() -> KeyRing                  from RAILZWAY_CREDENTIALS_KEYS
    sync(conn, outputs, keys, stack=...)    one transaction; returns SyncSummary
    rekey(conn, keys)                       every password under the first key
    credentials(conn, keys) -> {org_id: Credentials(user, password, db_name)}
    record_revision(conn, stack, commit, by) / stack_revisions(conn)   what each stack last applied
"""

from railzway.clouddb.connect import URL_ENV, CloudDBUnavailable, cloud_db_url, connect, database_error
from railzway.clouddb.crypto import (
    KEYS_ENV,
    CredentialsKeyError,
    DecryptionError,
    KeyRing,
    generate_key,
    load_keys,
    parse_keys,
)
from railzway.clouddb.migrate import (
    CLOUD_DB,
    DirtyDatabase,
    FunctionStep,
    MigrationError,
    MigrationSource,
    SchemaOutOfDate,
    SchemaStep,
    force,
    migrate,
    migrate_to,
    require_current,
    status,
)
from railzway.clouddb.outputs import OutputsError, TenantOutput, parse_json, parse_outputs
from railzway.clouddb.read import Credentials, CredentialsError, credentials
from railzway.clouddb.rekey import RekeyError, RekeySummary, rekey
from railzway.clouddb.revisions import StackRevision, record_revision, stack_revisions
from railzway.clouddb.sync import SyncSummary, sync, sync_tenants

__all__ = [
    "CLOUD_DB",
    "KEYS_ENV",
    "URL_ENV",
    "CloudDBUnavailable",
    "Credentials",
    "CredentialsError",
    "CredentialsKeyError",
    "DecryptionError",
    "DirtyDatabase",
    "FunctionStep",
    "KeyRing",
    "MigrationError",
    "MigrationSource",
    "OutputsError",
    "RekeyError",
    "RekeySummary",
    "SchemaOutOfDate",
    "SchemaStep",
    "StackRevision",
    "SyncSummary",
    "TenantOutput",
    "cloud_db_url",
    "connect",
    "credentials",
    "database_error",
    "force",
    "generate_key",
    "load_keys",
    "migrate",
    "migrate_to",
    "parse_json",
    "parse_keys",
    "parse_outputs",
    "record_revision",
    "rekey",
    "require_current",
    "stack_revisions",
    "status",
    "sync",
    "sync_tenants",
]
