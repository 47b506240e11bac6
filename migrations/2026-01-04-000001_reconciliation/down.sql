DROP TABLE IF EXISTS reconciliation_alerts;
DROP TABLE IF EXISTS reconciliation_lines;
DROP TABLE IF EXISTS reconciliation_runs;
