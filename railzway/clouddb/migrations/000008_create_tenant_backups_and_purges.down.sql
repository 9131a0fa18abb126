ALTER TABLE instances DROP COLUMN IF EXISTS purged_at;
DROP TABLE IF EXISTS tenant_purges;
DROP TABLE IF EXISTS tenant_backups;
