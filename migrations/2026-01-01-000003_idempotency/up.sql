-- Idempotency-Key records, scoped per account. A key is completed in the same transaction
-- as the charge it belongs to.
CREATE TABLE idempotency_keys (
    account_id      uuid NOT NULL REFERENCES accounts (id),
    key             text NOT NULL,
    fingerprint     bytea NOT NULL,
    state           text NOT NULL CHECK (state IN ('in_flight', 'completed')),
    response_status integer NULL,
    response_body   bytea NULL,
    locked_at       timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz NULL,
    PRIMARY KEY (account_id, key)
);
