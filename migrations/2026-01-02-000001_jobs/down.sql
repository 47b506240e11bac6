DROP TRIGGER IF EXISTS jobs_notify_terminal ON jobs;
DROP FUNCTION IF EXISTS indox_jobs_notify();
DROP TABLE IF EXISTS webhook_receipts;
DROP TABLE IF EXISTS jobs;
