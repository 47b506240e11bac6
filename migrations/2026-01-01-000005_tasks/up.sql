-- The durable background task queue. Inserting a task notifies `indox_tasks` so idle
-- workers can LISTEN instead of polling.
CREATE TABLE tasks (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL,
    payload      jsonb NOT NULL,
    state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'dead')),
    attempts     integer NOT NULL DEFAULT 0,
    run_at       timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz NULL,
    last_error   text NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tasks_state_run_at_idx ON tasks (state, run_at);

CREATE FUNCTION indox_tasks_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('indox_tasks', NEW.kind);
    RETURN NEW;
END;
$$;

CREATE TRIGGER tasks_notify_insert
    AFTER INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION indox_tasks_notify();
