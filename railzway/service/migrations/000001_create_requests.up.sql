-- What the API shows about each accepted request. The queue itself is procrastinate's (procrastinate_jobs);
-- this table is ours: it outlives the jobs, which are pruned, and it is what GET /v1/requests reads.
CREATE TABLE railzway_requests (
    id uuid PRIMARY KEY,
    org_id bigint NOT NULL CHECK (org_id > 0),
    action varchar(32) NOT NULL,
    params jsonb NOT NULL DEFAULT '{}'::jsonb,
    stack varchar(255) NOT NULL,
    -- The stack's `railzway:shards` setting ("<region>/<shard>" entries); NULL leaves the stack's own config.
    stack_shards jsonb,
    state varchar(16) NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    -- The Idempotency-Key header, and a digest of what was asked, so a reused key with another request is refused.
    idempotency_key varchar(255) UNIQUE,
    fingerprint varchar(64) NOT NULL,
    -- What accepting the request changed in the registry; after the update, what Pulumi changed.
    summary jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- On failure: a sentence for the caller. Never exception text, never a secret.
    reason text,
    attempts integer NOT NULL DEFAULT 0,
    -- Which procrastinate job holds the request while it runs; a dead worker's job is found through it.
    job_id bigint,
    not_before timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((state IN ('succeeded', 'failed')) = (finished_at IS NOT NULL))
);
CREATE INDEX railzway_requests_pending_idx ON railzway_requests (stack, not_before) WHERE state = 'queued';
CREATE INDEX railzway_requests_job_idx ON railzway_requests (job_id) WHERE state = 'running';
CREATE INDEX railzway_requests_org_idx ON railzway_requests (org_id, created_at DESC);

-- Every state a request entered, in order: the history behind the timestamps, and the proof that each
-- request reached its final state exactly once (a unique index makes a second final state impossible).
CREATE TABLE railzway_request_events (
    id bigserial PRIMARY KEY,
    request_id uuid NOT NULL REFERENCES railzway_requests (id) ON DELETE CASCADE,
    state varchar(16) NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    attempt integer NOT NULL,
    note text,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX railzway_request_events_request_idx ON railzway_request_events (request_id, id);
CREATE UNIQUE INDEX railzway_request_events_final_once_idx ON railzway_request_events (request_id)
    WHERE state IN ('succeeded', 'failed');
