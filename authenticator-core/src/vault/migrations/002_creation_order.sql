-- Vault schema version 2, for getAssertion without an allowList (CTAP 2.1 §6.2.2):
-- - creation order finer than a second: passkeys are returned newest first and `created_at`
--   has whole seconds, so passkeys made within one second need a tie-breaker (`created_seq`).
--   Existing rows get their current order.
-- - a plain `discoverable` flag, so looking up a site's discoverable passkeys does not decrypt
--   its other ones. NULL (rows from v1) means "not known without decrypting"; the decrypted
--   record stays authoritative, the column only narrows the search.

ALTER TABLE credentials ADD COLUMN created_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE credentials ADD COLUMN discoverable INTEGER CHECK (discoverable IN (0, 1));

UPDATE credentials SET created_seq = (
    SELECT count(*) FROM credentials AS older
    WHERE older.created_at < credentials.created_at
       OR (older.created_at = credentials.created_at AND older.cred_handle <= credentials.cred_handle)
);

DROP INDEX credentials_by_rp;
CREATE INDEX credentials_by_rp ON credentials (rp_handle, created_at, created_seq);
-- Keeps "max(created_seq) + 1" on insert from scanning the table.
CREATE INDEX credentials_by_seq ON credentials (created_seq);
