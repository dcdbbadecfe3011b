-- The speakers of a dubbing job, measured from its source audio, and the voice dubbing each.
CREATE TABLE job_speakers (
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    -- S1, S2, ... in order of first appearance
    speaker_id  text NOT NULL,
    -- the transcript's or the recognizer's name
    label       text NOT NULL,
    lines       integer NOT NULL,
    speech_ms   bigint NOT NULL,
    pitch_hz    double precision,
    gender      text CHECK (gender IN ('male', 'female')),
    sample_key  text,
    voice_id    text NOT NULL,
    position    integer NOT NULL,
    PRIMARY KEY (job_id, speaker_id),
    UNIQUE (job_id, label)
);
