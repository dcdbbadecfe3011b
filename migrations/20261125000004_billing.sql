-- Billing with Paddle: what each subscription needs for ordering, grace periods and suspension.

-- Paddle clears the billing period of canceled and paused subscriptions.
ALTER TABLE subscriptions ALTER COLUMN current_period_start DROP NOT NULL;
ALTER TABLE subscriptions ALTER COLUMN current_period_end DROP NOT NULL;

ALTER TABLE subscriptions
    ADD COLUMN paddle_customer_id text,
    ADD COLUMN paddle_price_id    text,
    ADD COLUMN next_billed_at     timestamptz,
    ADD COLUMN paused_at          timestamptz,
    -- When the current unpaid episode began; the grace period runs from here.
    ADD COLUMN past_due_since     timestamptz,
    -- occurred_at of the newest completed payment: a late `past_due` older than it is not an episode.
    ADD COLUMN last_paid_at       timestamptz,
    -- Set when the grace period ran out unpaid: no new dubbing until a payment clears it.
    ADD COLUMN suspended_at       timestamptz;

CREATE INDEX subscriptions_suspended_idx ON subscriptions (user_id) WHERE suspended_at IS NOT NULL;

-- Whom a webhook concerned and what applying it did, for operators and for redelivery.
ALTER TABLE webhook_events
    ADD COLUMN user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN outcome text;
CREATE INDEX webhook_events_user_idx ON webhook_events (user_id, occurred_at DESC);

-- One row per transaction and outcome already; listing a user's history newest first is the read.
CREATE INDEX billing_history_user_paid_idx ON billing_history (user_id, coalesce(paid_at, created_at) DESC);
