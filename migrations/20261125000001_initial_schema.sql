-- OneVoice initial schema: the seed's data model (seed-system.md §2) with its defects fixed
-- (UUID defaults, real foreign keys, checked status values, case-insensitive unique email,
-- maintained updated_at), plus the credit ledger and the received-webhook store of the new design.

CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

-- Users ------------------------------------------------------------------------------------------
CREATE TABLE users (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email               text NOT NULL CHECK (email = lower(btrim(email)) AND email LIKE '%_@_%' AND length(email) <= 254),
    username            text NOT NULL CHECK (length(username) BETWEEN 1 AND 50),
    full_name           text CHECK (length(full_name) <= 100),
    password_hash       text NOT NULL,
    is_active           boolean NOT NULL DEFAULT true,
    is_verified         boolean NOT NULL DEFAULT false,
    avatar_key          text,
    locale              text NOT NULL DEFAULT 'ko' CHECK (locale IN ('ko', 'en')),
    email_notifications boolean NOT NULL DEFAULT true,
    processing_complete boolean NOT NULL DEFAULT true,
    billing_updates     boolean NOT NULL DEFAULT true,
    marketing_emails    boolean NOT NULL DEFAULT false,
    paddle_customer_id  text UNIQUE,
    last_login_at       timestamptz,
    deleted_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- Emails are stored normalized (lower case), so a plain unique index is case-insensitive.
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Signups awaiting email verification. Only a hash of the verification token is stored.
CREATE TABLE pending_users (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email                   text NOT NULL CHECK (email = lower(btrim(email))),
    username                text NOT NULL CHECK (length(username) BETWEEN 1 AND 50),
    full_name               text CHECK (length(full_name) <= 100),
    password_hash           text NOT NULL,
    verification_token_hash bytea NOT NULL UNIQUE,
    expires_at              timestamptz NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX pending_users_email_key ON pending_users (email);
CREATE INDEX pending_users_expires_at_idx ON pending_users (expires_at);
CREATE TRIGGER pending_users_updated_at BEFORE UPDATE ON pending_users FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Subscriptions ----------------------------------------------------------------------------------
CREATE TABLE subscriptions (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    plan_id                text NOT NULL,
    paddle_subscription_id text UNIQUE,
    -- Paddle Billing's own status values, plus the seed's `cancelled`/`unpaid` for old rows.
    status                 text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'trialing', 'past_due', 'paused', 'canceled', 'cancelled', 'unpaid')),
    current_period_start   timestamptz NOT NULL,
    current_period_end     timestamptz NOT NULL CHECK (current_period_end >= current_period_start),
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    cancelled_at           timestamptz,
    credits_included       integer NOT NULL DEFAULT 0 CHECK (credits_included >= 0),
    -- occurred_at of the newest Paddle event applied, so an older event never overwrites newer state.
    paddle_updated_at      timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_user_idx ON subscriptions (user_id, created_at DESC);
CREATE TRIGGER subscriptions_updated_at BEFORE UPDATE ON subscriptions FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Videos and their files -------------------------------------------------------------------------
CREATE TABLE videos (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                 uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title                   text NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
    description             text,
    original_language       text,
    target_languages        text[] NOT NULL DEFAULT '{}',
    status                  text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'uploaded', 'processing', 'completed', 'failed', 'cancelled', 'deleting')),
    status_reason           text,
    is_public               boolean NOT NULL DEFAULT false,
    processing_started_at   timestamptz,
    processing_completed_at timestamptz,
    processing_error        text,
    deleted_at              timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX videos_user_created_idx ON videos (user_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX videos_user_status_idx ON videos (user_id, status, created_at DESC) WHERE deleted_at IS NULL;
CREATE TRIGGER videos_updated_at BEFORE UPDATE ON videos FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE media_files (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    video_id       uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    job_id         uuid,
    filename       text NOT NULL,
    file_type      text NOT NULL CHECK (file_type IN ('original', 'thumbnail', 'dubbed_video', 'subtitle_video',
                                                      'dubbed_audio', 'dub_subtitles', 'translation_subtitles',
                                                      'source_subtitles', 'source_transcript')),
    file_format    text NOT NULL,
    content_type   text,
    file_size      bigint CHECK (file_size >= 0),
    duration       double precision CHECK (duration >= 0),
    resolution     text,
    fps            double precision,
    media_info     jsonb,
    s3_bucket      text NOT NULL,
    s3_key         text NOT NULL,
    language_code  text,
    voice_id       text,
    is_active      boolean NOT NULL DEFAULT true,
    extra_metadata jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (s3_bucket, s3_key)
);
CREATE INDEX media_files_lookup_idx ON media_files (video_id, file_type, language_code, created_at DESC) WHERE is_active;
CREATE TRIGGER media_files_updated_at BEFORE UPDATE ON media_files FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Jobs -------------------------------------------------------------------------------------------
CREATE TABLE jobs (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    video_id                  uuid REFERENCES videos (id) ON DELETE CASCADE,
    job_type                  text NOT NULL DEFAULT 'dubbing' CHECK (job_type IN ('dubbing')),
    status                    text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
    progress                  double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    source_language           text,
    target_language           text,
    voice_id                  text,
    preserve_background_music boolean NOT NULL DEFAULT true,
    workflow_id               text UNIQUE,
    idempotency_key           text,
    request_hash              bytea,
    started_at                timestamptz,
    completed_at              timestamptz,
    estimated_completion      timestamptz,
    error_message             text,
    error_code                text,
    retry_count               integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    max_retries               integer NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    priority                  integer NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
    credits_cost              integer CHECK (credits_cost >= 0),
    job_config                jsonb,
    job_result                jsonb,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_user_created_idx ON jobs (user_id, created_at DESC);
CREATE INDEX jobs_user_status_idx ON jobs (user_id, status, created_at DESC);
CREATE INDEX jobs_video_created_idx ON jobs (video_id, created_at DESC);
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE TRIGGER jobs_updated_at BEFORE UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION set_updated_at();

ALTER TABLE media_files ADD CONSTRAINT media_files_job_fk FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE SET NULL;

CREATE TABLE job_steps (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id         uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step_name      text NOT NULL,
    step_order     integer NOT NULL CHECK (step_order >= 1),
    status         text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'skipped', 'cancelled')),
    progress       double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    weight         double precision NOT NULL DEFAULT 1 CHECK (weight >= 0),
    started_at     timestamptz,
    completed_at   timestamptz,
    error_message  text,
    error_code     text,
    input_data     jsonb,
    output_data    jsonb,
    logs           text,
    extra_metadata jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, step_name),
    UNIQUE (job_id, step_order)
);
CREATE TRIGGER job_steps_updated_at BEFORE UPDATE ON job_steps FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Money and credits ------------------------------------------------------------------------------
CREATE TABLE billing_history (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    paddle_transaction_id  text,
    paddle_subscription_id text,
    paddle_invoice_id      text,
    amount                 numeric(12, 2) NOT NULL,
    currency               char(3) NOT NULL DEFAULT 'USD' CHECK (currency = upper(currency)),
    status                 text NOT NULL CHECK (status IN ('completed', 'pending', 'failed', 'cancelled', 'refunded')),
    payment_type           text NOT NULL CHECK (payment_type IN ('subscription', 'one_time', 'refund', 'adjustment')),
    payment_provider       text NOT NULL DEFAULT 'paddle',
    description            text,
    invoice_url            text,
    receipt_url            text,
    period_start           timestamptz,
    period_end             timestamptz,
    paid_at                timestamptz,
    failure_code           text,
    failure_message        text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    -- one row per transaction and outcome, so a redelivered webhook cannot add a second row
    CONSTRAINT billing_history_transaction_status_key UNIQUE (paddle_transaction_id, status)
);
CREATE INDEX billing_history_user_created_idx ON billing_history (user_id, created_at DESC);
CREATE TRIGGER billing_history_updated_at BEFORE UPDATE ON billing_history FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The credit ledger: append-only, every change of a user's balance is one row, and the balance is
-- their sum. Each entry carries a unique idempotency key (e.g. `job:<id>:reserve`,
-- `grant:<paddle transaction id>`), so a retried activity or a redelivered webhook cannot apply a
-- change twice. Sign convention: positive adds credits, negative takes them.
CREATE TABLE credit_ledger (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    job_id          uuid REFERENCES jobs (id) ON DELETE SET NULL,
    video_id        uuid REFERENCES videos (id) ON DELETE SET NULL,
    kind            text NOT NULL CHECK (kind IN ('grant', 'reserve', 'capture', 'release', 'refund', 'adjustment', 'expire')),
    amount          bigint NOT NULL,
    idempotency_key text NOT NULL,
    description     text,
    metadata        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credit_ledger_idempotency_key UNIQUE (idempotency_key),
    CONSTRAINT credit_ledger_sign CHECK (
        (kind IN ('grant', 'release', 'refund') AND amount >= 0) OR
        (kind IN ('reserve', 'expire') AND amount <= 0) OR
        (kind = 'capture' AND amount <= 0) OR kind = 'adjustment')
);
CREATE INDEX credit_ledger_user_idx ON credit_ledger (user_id, created_at DESC);
CREATE INDEX credit_ledger_job_idx ON credit_ledger (job_id) WHERE job_id IS NOT NULL;

-- The seed's credit_usage table, now derived from the ledger: what each job really consumed.
CREATE VIEW credit_usage AS
SELECT l.id, l.user_id, l.video_id, l.job_id, -l.amount AS credits_used,
       'dubbing'::text AS operation_type, l.description,
       to_char(l.created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS usage_month, l.created_at
FROM credit_ledger l
WHERE l.kind = 'capture';

-- Every webhook received, stored raw before processing; the provider's event id makes redelivery harmless.
CREATE TABLE webhook_events (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider     text NOT NULL CHECK (provider IN ('paddle')),
    event_id     text NOT NULL,
    event_type   text NOT NULL,
    occurred_at  timestamptz,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    error        text,
    CONSTRAINT webhook_events_event_key UNIQUE (provider, event_id)
);
CREATE INDEX webhook_events_unprocessed_idx ON webhook_events (received_at) WHERE processed_at IS NULL;
