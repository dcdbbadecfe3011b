-- API keys of accounts whose plan has API access. The key is shown once, at creation; only the
-- SHA-256 of it is kept. A key carries about 190 random bits, so a fast hash is enough: there is
-- no dictionary to guess it from, and each request can afford to check it.
CREATE TABLE api_keys (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id               uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                  text NOT NULL,
    -- The first characters of the key (`ov_` and 12 more): how a request's key is found, and
    -- what lists show so a user can tell keys apart.
    prefix                text NOT NULL UNIQUE,
    secret_sha256         bytea NOT NULL CHECK (length(secret_sha256) = 32),
    scopes                text[] NOT NULL
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'dub', 'billing']),
    rate_limit_per_minute integer NOT NULL CHECK (rate_limit_per_minute > 0),
    created_at            timestamptz NOT NULL DEFAULT now(),
    last_used_at          timestamptz,
    revoked_at            timestamptz
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at DESC) WHERE revoked_at IS NULL;
