-- Per-account overrides of the configured rate limits, set with the admin API
-- (`PUT /api/v1/admin/accounts/{id}/rate-limits`). `capability` NULL means every capability
-- without a row of its own; a capability's own row wins over it (docs/decisions.md, AD5).
-- Gateways cache an account's rows for a few seconds (AD6), so this table is read once per
-- account and TTL per process, not once per request.
CREATE TABLE rate_limit_overrides (
    account_id uuid NOT NULL REFERENCES accounts (id),
    capability text NULL CHECK (capability <> ''),
    "limit"    integer NOT NULL CHECK ("limit" > 0),
    window_ms  bigint NOT NULL CHECK (window_ms > 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per account and capability (NULL counted as one value); also the lookup index.
CREATE UNIQUE INDEX rate_limit_overrides_account_capability_key
    ON rate_limit_overrides (account_id, (COALESCE(capability, '')));
