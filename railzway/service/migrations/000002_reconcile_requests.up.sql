-- A reconcile request applies a whole stack (it names no organization): the service queues one for a stack
-- whose recorded registry revision is behind the branch head, on start and on a schedule.
ALTER TABLE railzway_requests ALTER COLUMN org_id DROP NOT NULL;
ALTER TABLE railzway_requests ADD CONSTRAINT railzway_requests_reconcile_has_no_org
    CHECK ((action = 'reconcile') = (org_id IS NULL));
CREATE INDEX railzway_requests_stack_active_idx ON railzway_requests (stack, action)
    WHERE state IN ('queued', 'running');
