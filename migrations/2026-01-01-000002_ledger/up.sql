-- The money: holds, the append-only ledger and the usage rows.
--
-- Invariants (checked by the adapter's tests):
--   accounts.balance = sum(ledger_entries.amount) over kinds top_up, charge, refund, adjustment
--   accounts.held    = sum(ledger_entries.amount) over kinds hold, release, settle
CREATE TABLE holds (
    id          uuid PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts (id),
    amount      numeric(20, 8) NOT NULL CHECK (amount > 0),
    state       text NOT NULL CHECK (state IN ('open', 'settled', 'released')),
    request_id  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz NULL
);

CREATE INDEX holds_account_open_idx ON holds (account_id) WHERE state = 'open';

-- Append-only. `amount` is signed: + credits the balance, - debits it; for hold, release
-- and settle it is the change to `held`.
CREATE TABLE ledger_entries (
    id            bigserial PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES accounts (id),
    kind          text NOT NULL CHECK (kind IN ('top_up', 'charge', 'hold', 'release', 'settle', 'refund', 'adjustment')),
    amount        numeric(20, 8) NOT NULL,
    balance_after numeric(20, 8) NOT NULL,
    held_after    numeric(20, 8) NOT NULL,
    usage_id      uuid NULL,
    hold_id       uuid NULL,
    note          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, id);

CREATE TABLE provider_resemble_usage (
    id                uuid PRIMARY KEY,
    account_id        uuid NOT NULL REFERENCES accounts (id),
    request_id        text NOT NULL,
    job_id            uuid NULL,
    capability        text NOT NULL,
    unit              text NOT NULL,
    quantity          numeric(20, 3) NOT NULL,
    upstream_quantity numeric(20, 3) NULL,
    unit_price        numeric(20, 8) NOT NULL,
    provider_cost     numeric(20, 8) NOT NULL,
    markup_rate       numeric(10, 6) NOT NULL,
    markup            numeric(20, 8) NOT NULL,
    charged           numeric(20, 8) NOT NULL,
    currency          text NOT NULL,
    asset_id          uuid NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT provider_resemble_usage_account_request_key UNIQUE (account_id, request_id)
);

CREATE UNIQUE INDEX provider_resemble_usage_job_id_key
    ON provider_resemble_usage (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX provider_resemble_usage_account_created_idx
    ON provider_resemble_usage (account_id, created_at);
