-- Grants = payments (issue 14): a subscription period's credits are granted once, however many
-- transactions pay for it (a renewal, then an upgrade's proration pays the difference). Grants
-- for a period carry it in their metadata; this labels the grants made before, from the billing
-- history of their transaction. Their amounts and idempotency keys stay as they are.
UPDATE credit_ledger l
SET metadata = coalesce(l.metadata, '{}'::jsonb)
    || jsonb_build_object('subscription', bh.paddle_subscription_id,
                          'period_end', floor(extract(epoch FROM bh.period_end))::bigint)
FROM billing_history bh
WHERE l.kind = 'grant'
  AND l.idempotency_key = 'paddle:' || bh.paddle_transaction_id
  AND bh.status = 'completed'
  AND bh.paddle_subscription_id IS NOT NULL
  AND bh.period_end IS NOT NULL
  AND NOT coalesce(l.metadata ? 'period_end', false);

CREATE INDEX credit_ledger_paid_period_idx ON credit_ledger (user_id, (metadata->>'subscription'))
    WHERE kind = 'grant' AND metadata ? 'period_end';
CREATE INDEX credit_ledger_adjusted_txn_idx ON credit_ledger (user_id, (metadata->>'transaction'))
    WHERE kind = 'adjustment';

-- Chargebacks (adjustments with action `chargeback`) suspend dubbing until they are resolved
-- (`chargeback_reverse`), whatever state the subscription is in.
CREATE TABLE billing_disputes (
    adjustment_id  text PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    transaction_id text NOT NULL,
    opened_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz
);
CREATE INDEX billing_disputes_open_idx ON billing_disputes (user_id) WHERE resolved_at IS NULL;
