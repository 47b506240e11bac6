DROP TABLE account_provider_keys;
ALTER TABLE accounts DROP COLUMN byok;
ALTER TABLE provider_resemble_usage DROP COLUMN byok;
