-- Bring-your-own-key: usage rows billed on an account's own Resemble key (no provider cost,
-- only the platform fee; excluded from reconciliation), and the sealed keys themselves.
ALTER TABLE provider_resemble_usage ADD COLUMN byok boolean NOT NULL DEFAULT false;

-- One Resemble key per account, sealed with AES-256-GCM under the gateway's secrets key
-- (`INDOX_SECRETS_KEY`); `key_hint` is the key's last four characters, for display.
-- `accounts.byok` mirrors whether a key is registered, so authentication reads it for free.
ALTER TABLE accounts ADD COLUMN byok boolean NOT NULL DEFAULT false;

CREATE TABLE account_provider_keys (
    account_id  uuid PRIMARY KEY REFERENCES accounts (id),
    sealed      bytea NOT NULL,
    key_hint    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
