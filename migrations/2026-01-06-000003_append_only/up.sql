-- The ledger and the usage rows are append-only (rule B6): corrections are new `refund` or
-- `adjustment` entries, never edits. The database refuses UPDATE, DELETE and TRUNCATE on both.
CREATE FUNCTION indox_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION indox_append_only();
CREATE TRIGGER ledger_entries_no_truncate
    BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION indox_append_only();
CREATE TRIGGER provider_resemble_usage_append_only
    BEFORE UPDATE OR DELETE ON provider_resemble_usage
    FOR EACH ROW EXECUTE FUNCTION indox_append_only();
CREATE TRIGGER provider_resemble_usage_no_truncate
    BEFORE TRUNCATE ON provider_resemble_usage
    FOR EACH STATEMENT EXECUTE FUNCTION indox_append_only();
