-- Async jobs (speech-to-text, detect, ...): one row per job, its hold, its upstream id,
-- its result, and the usage row it was billed with. A job reaching a terminal status
-- notifies `indox_jobs` with its id (long-polls wake on it).
CREATE TABLE jobs (
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES accounts (id),
    kind            text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    request         jsonb NOT NULL,
    input_asset_id  uuid NULL,
    input_quantity  numeric(20,3) NOT NULL,
    hold_id         uuid NULL,
    upstream_id     text NULL,
    result          jsonb NULL,
    error           text NULL,
    usage_id        uuid NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz NULL
);

CREATE UNIQUE INDEX jobs_upstream_idx ON jobs (kind, upstream_id) WHERE upstream_id IS NOT NULL;
CREATE INDEX jobs_account_created_idx ON jobs (account_id, created_at);

-- Provider webhook deliveries already processed (digest of the signature header and body).
CREATE TABLE webhook_receipts (
    digest       bytea PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION indox_jobs_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('indox_jobs', NEW.id::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER jobs_notify_terminal
    AFTER UPDATE OF status ON jobs
    FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION indox_jobs_notify();
