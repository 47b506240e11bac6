-- Reconciliation (docs/decisions.md, RC1–RC8): every run compares one UTC day of our usage
-- rows with the upstream's `billing_usage` report for that day.
--
-- One row per run: re-running a day (the CLI, a retry) makes a new run, so the history of
-- what was compared and when stays intact. A failed run (the upstream report could not be
-- read) has an error and no lines.
CREATE TABLE reconciliation_runs (
    id             uuid PRIMARY KEY,
    day            date NOT NULL,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL,
    status         text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    error          text NULL,
    -- Our row groups left out of the comparison (RC2): capability, unit, quantity, rows, reason.
    not_comparable jsonb NOT NULL DEFAULT '[]',
    CONSTRAINT reconciliation_runs_error_iff_failed CHECK ((status = 'failed') = (error IS NOT NULL))
);

CREATE INDEX reconciliation_runs_day_idx ON reconciliation_runs (day, finished_at);

-- One line per upstream unit of a run. `ours` is seconds (or a count of voices built for
-- `voice_subscriptions`); `theirs` is kept exactly as reported; `drift` is
-- (theirs - ours) / ours, NULL when only ours is 0.
CREATE TABLE reconciliation_lines (
    run_id        uuid NOT NULL REFERENCES reconciliation_runs (id),
    upstream_unit text NOT NULL,
    ours          numeric NOT NULL,
    theirs        numeric NOT NULL,
    drift         numeric NULL,
    alert         boolean NOT NULL,
    -- Some of our usage of this unit was not comparable (RC3): checked one way only.
    partial       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (run_id, upstream_unit)
);

-- Alerts are raised by runs. While an alert is open (not acknowledged), a re-run of its day
-- that finds the same figures (day, unit, ours, theirs) raises no second one (RC8); new
-- figures (late rows, a corrected report) or an acknowledged alert make a new one.
CREATE TABLE reconciliation_alerts (
    id              uuid PRIMARY KEY,
    run_id          uuid NOT NULL REFERENCES reconciliation_runs (id),
    day             date NOT NULL,
    upstream_unit   text NOT NULL,
    ours            numeric NOT NULL,
    theirs          numeric NOT NULL,
    drift           numeric NULL,
    created_at      timestamptz NOT NULL,
    acknowledged_at timestamptz NULL
);

CREATE UNIQUE INDEX reconciliation_alerts_open_key
    ON reconciliation_alerts (day, upstream_unit, ours, theirs) WHERE acknowledged_at IS NULL;
CREATE INDEX reconciliation_alerts_run_idx ON reconciliation_alerts (run_id);
CREATE INDEX reconciliation_alerts_created_idx ON reconciliation_alerts (created_at, id);
