-- The reconciliation and `/analytics` range scans read `provider_resemble_usage` by time.
CREATE INDEX CONCURRENTLY IF NOT EXISTS provider_resemble_usage_created_at_idx
    ON provider_resemble_usage (created_at);
