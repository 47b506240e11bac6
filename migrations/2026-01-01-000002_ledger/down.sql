DROP TABLE provider_resemble_usage;
DROP TABLE ledger_entries;
DROP TABLE holds;
