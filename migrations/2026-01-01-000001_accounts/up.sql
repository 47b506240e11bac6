-- Accounts (tenants) and their API keys. Only the SHA-256 of a key's secret is stored.
CREATE TABLE accounts (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    balance     numeric(20, 8) NOT NULL DEFAULT 0,
    held        numeric(20, 8) NOT NULL DEFAULT 0 CHECK (held >= 0),
    markup_rate numeric(10, 6) NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts (id),
    secret_hash bytea NOT NULL,
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz NULL
);

CREATE INDEX api_keys_account_id_idx ON api_keys (account_id);
