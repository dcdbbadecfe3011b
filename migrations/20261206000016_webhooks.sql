-- Signed webhooks. An account registers endpoints (URL, the events it wants, a secret shown once).
-- Events are written in the same transaction as the change they report (a job's step, its end,
-- a video becoming ready), with one delivery per subscribed endpoint; a relay in the worker hands
-- each undispatched delivery to its own `WebhookDeliveryWorkflow`, so a slow or dead endpoint
-- never holds up the job that caused the event.

-- The job's event counter: every event about a job carries the next number, so a receiver can
-- order events that arrive out of order (retries do not keep the order).
ALTER TABLE jobs ADD COLUMN event_seq bigint NOT NULL DEFAULT 0;

CREATE TABLE webhook_endpoints (
    id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url                        text NOT NULL,
    description                text NOT NULL DEFAULT '',
    events                     text[] NOT NULL CHECK (cardinality(events) > 0),
    -- The signing secret is needed to sign, so it is kept (it signs; it opens nothing here).
    secret                     text NOT NULL,
    -- After a rotation the old secret signs too, until it expires: receivers switch unhurried.
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    enabled                    boolean NOT NULL DEFAULT true,
    disabled_reason            text,
    last_success_at            timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_user_idx ON webhook_endpoints (user_id, created_at DESC);

CREATE TABLE outbound_events (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_type  text NOT NULL,
    job_id      uuid,
    video_id    uuid,
    sequence    bigint NOT NULL,
    -- The exact bytes delivered (and signed), the same for every delivery of the event.
    body        text NOT NULL,
    -- One event per cause, however often the activity that writes it runs.
    dedupe_key  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    endpoint_id   uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id      uuid NOT NULL REFERENCES outbound_events (id) ON DELETE CASCADE,
    -- A manual redelivery names the delivery it repeats.
    redelivery_of uuid REFERENCES webhook_deliveries (id) ON DELETE SET NULL,
    status        text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts      integer NOT NULL DEFAULT 0,
    response_code integer,
    latency_ms    integer,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Set once its workflow was started by the relay.
    dispatched_at timestamptz,
    finished_at   timestamptz
);
CREATE INDEX webhook_deliveries_undispatched_idx ON webhook_deliveries (created_at)
    WHERE dispatched_at IS NULL;
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC);

-- The delivery log: one row per attempt (Temporal's attempt number).
CREATE TABLE webhook_attempts (
    delivery_id   uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt       integer NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    response_code integer,
    latency_ms    integer NOT NULL,
    error         text,
    PRIMARY KEY (delivery_id, attempt)
);
