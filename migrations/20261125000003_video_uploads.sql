-- Uploads: multipart upload state and the declared size of the original file, so completion can
-- check what arrived; probed media details of the original.

ALTER TABLE media_files
    ADD COLUMN upload_id text,
    ADD COLUMN expected_size bigint CHECK (expected_size > 0),
    ADD COLUMN video_codec text,
    ADD COLUMN audio_codec text,
    ADD COLUMN audio_tracks integer CHECK (audio_tracks >= 0);

-- Abandoned uploads are found by age.
CREATE INDEX videos_pending_idx ON videos (created_at) WHERE status = 'pending';
