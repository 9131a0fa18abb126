-- Where the tenant lives and which Pulumi stack last synced it: a stack's sync reports as absent only the
-- tenants it used to hold, not every tenant of the other shards.
ALTER TABLE instances ADD COLUMN region VARCHAR(64);
ALTER TABLE instances ADD COLUMN source_stack VARCHAR(255);
CREATE INDEX IF NOT EXISTS idx_instances_source_stack ON instances (source_stack);
