-- Several target languages in one request: one job per language under a batch id, quoted and
-- held together (all or nothing), listed and followed together.
ALTER TABLE jobs ADD COLUMN batch_id uuid;
CREATE INDEX jobs_batch_idx ON jobs (user_id, batch_id) WHERE batch_id IS NOT NULL;
