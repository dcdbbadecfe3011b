-- Accounts: login sessions (rotating refresh tokens), one-time tokens, the email outbox, rate-limit
-- counters and the user activity log.

ALTER TABLE pending_users ADD COLUMN locale text NOT NULL DEFAULT 'ko' CHECK (locale IN ('ko', 'en'));

-- A session is one login on one device. Its refresh token rotates on every use: each rotation
-- creates a new row in the same family. Presenting a rotated token again revokes the family.
CREATE TABLE sessions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz,
    user_agent  text,
    ip          inet,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_family_idx ON sessions (family_id);

-- Single-use tokens sent by email (password reset: 1 h; email change: 24 h). Only hashes are stored.
CREATE TABLE auth_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('password_reset', 'email_change')),
    token_hash  bytea NOT NULL UNIQUE,
    new_email   text CHECK (new_email = lower(btrim(new_email))),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((purpose = 'email_change') = (new_email IS NOT NULL))
);
CREATE INDEX auth_tokens_user_idx ON auth_tokens (user_id, purpose);

-- The email outbox. A row is written with the request that causes the email; a Temporal workflow
-- (`email-{id}`) delivers it with retries. Bodies carrying one-time links are erased once sent.
CREATE TABLE emails (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    kind        text NOT NULL,
    to_address  text NOT NULL,
    locale      text NOT NULL CHECK (locale IN ('ko', 'en')),
    subject     text NOT NULL,
    text_body   text,
    html_body   text,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'suppressed', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    sent_at     timestamptz,
    dedupe_key  text UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX emails_user_idx ON emails (user_id, created_at DESC);
CREATE TRIGGER emails_updated_at BEFORE UPDATE ON emails FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Fixed-window counters shared by every API instance.
CREATE TABLE rate_limits (
    bucket       text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL DEFAULT 1,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limits_window_idx ON rate_limits (window_start);

-- What happened to an account, newest first: signup, logins, uploads, dubs, billing.
CREATE TABLE user_activity (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    action      text NOT NULL,
    description text NOT NULL,
    metadata    jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_activity_user_idx ON user_activity (user_id, created_at DESC);
