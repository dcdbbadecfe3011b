-- Review: a user's edits of a finished job's lines. Every edit is a new revision of its line
-- holding the line's whole wanted state (the earlier revisions stay: an edit never destroys the
-- text before it); the newest revision of each line is the draft the next re-render speaks.

CREATE TABLE segment_edits (
    job_id        uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    -- 0-based index of the line in the job's segments
    line          integer NOT NULL CHECK (line >= 0),
    -- 1, 2, … per line
    revision      integer NOT NULL CHECK (revision >= 1),
    translation   text NOT NULL,
    voice_id      text,
    start_ms      bigint NOT NULL CHECK (start_ms >= 0),
    end_ms        bigint NOT NULL CHECK (end_ms > start_ms),
    -- the original audio plays here instead of a dubbed line
    keep_original boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, line, revision)
);
