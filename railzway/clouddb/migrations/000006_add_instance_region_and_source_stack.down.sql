DROP INDEX IF EXISTS idx_instances_source_stack;
ALTER TABLE instances DROP COLUMN IF EXISTS source_stack;
ALTER TABLE instances DROP COLUMN IF EXISTS region;
