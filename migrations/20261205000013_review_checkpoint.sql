-- The review checkpoint of a dub (`review: "translation"`): the job stays `processing` (the
-- seed's statuses are the contract) while it waits for the user's approval until the deadline.
ALTER TABLE jobs
    ADD COLUMN review_state text CHECK (review_state IN ('awaiting_approval', 'approved')),
    ADD COLUMN review_deadline timestamptz;
