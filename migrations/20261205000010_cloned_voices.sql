-- Voice cloning: the consent a user attests before any voice of a video is cloned, the voices
-- created at a provider from a job's speakers, and each speaker's reference audio.

-- Kept as evidence after the video or job is gone (no foreign keys to them); erased with the
-- account.
CREATE TABLE voice_consents (
    job_id       uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    video_id     uuid NOT NULL,
    -- the name the person attesting gave
    signed_by    text NOT NULL,
    -- the statement they confirmed, as shown to them (versioned text of the API)
    statement    text NOT NULL,
    ip           inet,
    attested_at  timestamptz NOT NULL DEFAULT now()
);

-- A voice at a provider. Rows outlive their job (job_id is cleared) only when saved to the
-- user's library; the row goes once the provider has deleted the voice, never before, so no
-- voice is left at a provider without a row naming it.
CREATE TABLE cloned_voices (
    id                  uuid PRIMARY KEY,
    user_id             uuid NOT NULL,
    job_id              uuid REFERENCES jobs (id) ON DELETE SET NULL,
    speaker_id          text NOT NULL,
    provider            text NOT NULL CHECK (provider IN ('elevenlabs', 'fish')),
    -- the provider's id; null while the creation is under way
    provider_voice_id   text,
    name                text NOT NULL,
    saved               boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- when the voice is deleted at the provider unless saved (the retention setting)
    expires_at          timestamptz NOT NULL,
    -- asked to be deleted (by the user, the video's deletion or its expiry)
    delete_requested_at timestamptz,
    UNIQUE (job_id, speaker_id)
);
CREATE INDEX cloned_voices_user ON cloned_voices (user_id) WHERE delete_requested_at IS NULL;
CREATE INDEX cloned_voices_doomed ON cloned_voices (delete_requested_at)
    WHERE delete_requested_at IS NOT NULL;

ALTER TABLE job_speakers
    ADD COLUMN reference_key text,
    ADD COLUMN reference_ms bigint NOT NULL DEFAULT 0,
    ADD COLUMN cloned boolean NOT NULL DEFAULT false;
