DROP TABLE IF EXISTS callback_deliveries;
DROP TABLE IF EXISTS account_webhook_secrets;
