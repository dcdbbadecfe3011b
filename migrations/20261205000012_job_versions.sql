-- Re-renders: version n >= 2 of a finished job, made from its edited lines. Version 1 is the job
-- itself (its row and outputs); `current_version` is what downloads serve by default.

ALTER TABLE jobs ADD COLUMN current_version integer NOT NULL DEFAULT 1;

CREATE TABLE job_versions (
    job_id          uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    version         integer NOT NULL CHECK (version >= 2),
    status          text NOT NULL CHECK (status IN ('processing', 'completed', 'failed')),
    -- credits held for it (captured on success, released otherwise)
    credits         bigint NOT NULL CHECK (credits >= 0),
    changed_lines   integer NOT NULL,
    changed_ms      bigint NOT NULL,
    -- the client's Idempotency-Key and a hash of what it asked, to answer a repeat alike
    idempotency_key text,
    request_hash    bytea,
    -- what it produced (`RerenderOutput`) or why it failed
    result          jsonb,
    error_message   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    PRIMARY KEY (job_id, version),
    UNIQUE (job_id, idempotency_key)
);
-- One re-render of a job at a time.
CREATE UNIQUE INDEX job_versions_one_running ON job_versions (job_id) WHERE status = 'processing';
