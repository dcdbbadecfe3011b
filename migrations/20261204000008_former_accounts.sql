-- What money needs to remember of an address after its account is erased (issue 14): a keyed
-- HMAC of the normalized email (never the address itself), whether that address already had its
-- welcome credits, and the Paddle customer it paid as, so later Paddle events are still
-- attributed. No foreign key: these rows outlive the user rows on purpose.
CREATE TABLE former_accounts (
    email_hmac         bytea PRIMARY KEY,
    signup_granted_at  timestamptz,
    paddle_customer_id text UNIQUE,
    erased_at          timestamptz
);
