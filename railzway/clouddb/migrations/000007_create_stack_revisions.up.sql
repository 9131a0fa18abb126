-- Which registry commit each Pulumi stack last applied, when and by whom (a service request or a workflow
-- run). `fleet up --changed-only` compares every stack with this revision rather than with the previous
-- commit, so a missed or failed deploy is caught up by the next one; the service reconciles stacks behind
-- the branch head from it.
CREATE TABLE IF NOT EXISTS stack_revisions (
    stack VARCHAR(255) PRIMARY KEY,
    revision VARCHAR(64) NOT NULL CHECK (revision ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_by TEXT NOT NULL
);
