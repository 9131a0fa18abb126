DROP INDEX IF EXISTS railzway_requests_stack_active_idx;
DELETE FROM railzway_requests WHERE org_id IS NULL;
ALTER TABLE railzway_requests DROP CONSTRAINT IF EXISTS railzway_requests_reconcile_has_no_org;
ALTER TABLE railzway_requests ALTER COLUMN org_id SET NOT NULL;
