-- Vault schema version 2: creation order finer than a second. getAssertion returns passkeys
-- newest first (CTAP 2.1 §6.2.2), and `created_at` has whole seconds, so passkeys made within
-- one second need a tie-breaker. Existing rows get their current order (oldest first).

ALTER TABLE credentials ADD COLUMN created_seq INTEGER NOT NULL DEFAULT 0;

UPDATE credentials SET created_seq = (
    SELECT count(*) FROM credentials AS older
    WHERE older.created_at < credentials.created_at
       OR (older.created_at = credentials.created_at AND older.cred_handle <= credentials.cred_handle)
);

DROP INDEX credentials_by_rp;
CREATE INDEX credentials_by_rp ON credentials (rp_handle, created_at, created_seq);
-- Keeps "max(created_seq) + 1" on insert from scanning the table.
CREATE INDEX credentials_by_seq ON credentials (created_seq);
