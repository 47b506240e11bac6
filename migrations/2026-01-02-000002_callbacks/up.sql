-- Callbacks to users' own servers (Standard Webhooks): each account's signing secret
-- (readable by the account, so kept as is; the previous one stays valid for a day after a
-- rotation), and every delivery attempt.
CREATE TABLE account_webhook_secrets (
    account_id        uuid PRIMARY KEY REFERENCES accounts (id),
    secret            text NOT NULL,
    previous_secret   text NULL,
    previous_until    timestamptz NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    rotated_at        timestamptz NULL
);

CREATE TABLE callback_deliveries (
    id           bigserial PRIMARY KEY,
    job_id       uuid NOT NULL REFERENCES jobs (id),
    event_id     text NOT NULL,
    attempt      integer NOT NULL,
    status_code  integer NULL,
    error        text NULL,
    delivered    boolean NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX callback_deliveries_job_idx ON callback_deliveries (job_id, id);
