-- Accounts under abuse (issue 15).

-- Each signup request is its own pending row, with its own password and link: a second signup
-- for an address that is still waiting no longer replaces the first one's password. Verifying one
-- link removes the address's other requests.
DROP INDEX pending_users_email_key;
CREATE INDEX pending_users_email_idx ON pending_users (email, created_at DESC);

-- A session family (one login and its rotations) ends at a fixed time after the login, however
-- often it is refreshed. Existing families start at their first row.
ALTER TABLE sessions ADD COLUMN family_started_at timestamptz NOT NULL DEFAULT now();
UPDATE sessions s SET family_started_at = f.started
FROM (SELECT family_id, min(created_at) AS started FROM sessions GROUP BY family_id) f
WHERE s.family_id = f.family_id;

-- The session that asked for an email change: confirming it signs out every other session.
ALTER TABLE auth_tokens ADD COLUMN session_family uuid;

-- Failed sign-ins per (email, client network), with an exponential lock once past the limit.
-- Keyed on both so a third party cannot lock an account out from its own address.
CREATE TABLE login_failures (
    bucket       text PRIMARY KEY,
    failures     integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_updated_idx ON login_failures (updated_at);
