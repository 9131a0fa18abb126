-- Every backup attempt of a tenant database (`railzway backup`), successful or not: the report's "last
-- backup" reads the newest successful one. `final` marks the backup a purge took before dropping the data.
CREATE TABLE IF NOT EXISTS tenant_backups (
    id BIGSERIAL PRIMARY KEY,
    org_id BIGINT NOT NULL,
    region VARCHAR(64) NOT NULL,
    url TEXT NOT NULL,
    size_bytes BIGINT,
    sha256 CHAR(64),
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    outcome VARCHAR(16) NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    reason TEXT,
    final BOOLEAN NOT NULL DEFAULT false,
    CHECK (outcome <> 'succeeded' OR (size_bytes IS NOT NULL AND sha256 IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS idx_tenant_backups_org_finished ON tenant_backups (org_id, finished_at DESC);

-- A purged tenant's tombstone (`railzway purge`): its data is gone on purpose, and where its final backup is.
-- No credential is kept: the purge also clears the instance row's connection settings and password.
CREATE TABLE IF NOT EXISTS tenant_purges (
    org_id BIGINT PRIMARY KEY,
    region VARCHAR(64) NOT NULL,
    purged_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- NULL only when the tenant's database was already gone and the purge dropped its role alone.
    final_backup_url TEXT,
    final_backup_sha256 CHAR(64),
    CHECK ((final_backup_url IS NULL) = (final_backup_sha256 IS NULL))
);
ALTER TABLE instances ADD COLUMN IF NOT EXISTS purged_at TIMESTAMPTZ;
