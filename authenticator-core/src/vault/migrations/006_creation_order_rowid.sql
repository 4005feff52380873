-- Vault schema version 6: a registration's commit writes fewer pages.
-- Keyed by `cred_handle` (a random hash), a new passkey's row went to a random leaf of the
-- table. The rows are large (two sealed records, about eight to a 4 KiB page), so that leaf
-- was often full and the insert split it, rewriting its siblings and their parent; and the
-- `credentials_by_seq` index (which only served `max(created_seq) + 1`) added a page of its
-- own. On a 10,000-passkey vault one registration appended 4.8 WAL frames on average.
-- Now a row's place in the table is its creation order: `created_seq` is the rowid, a new row
-- goes into the last leaf (SQLite finds max(rowid) + 1 there, no index needed), and two small
-- indexes find rows by credential and by site. Existing rows keep their order: they are
-- numbered 1..n in their old `created_seq` order. `cred_handle` stays the row's identity in
-- the sealed fields' AAD, so no record is sealed again.

CREATE TABLE credentials_v6 (
    created_seq  INTEGER PRIMARY KEY,  -- creation order (the rowid): the newest is the highest
    cred_handle  BLOB    NOT NULL,     -- keyed hash of the credential id (unique: index below)
    rp_handle    BLOB    NOT NULL,     -- keyed hash of the rp id
    created_at   INTEGER NOT NULL,
    sign_count   INTEGER NOT NULL DEFAULT 0 CHECK (sign_count >= 0),
    metadata     BLOB    NOT NULL,     -- sealed: ids, names, public key, options
    secrets      BLOB    NOT NULL,     -- sealed: private key, hmac-secret keys
    discoverable INTEGER CHECK (discoverable IN (0, 1))
) STRICT;

INSERT INTO credentials_v6 (created_seq, cred_handle, rp_handle, created_at, sign_count,
                            metadata, secrets, discoverable)
SELECT row_number() OVER (ORDER BY created_seq, cred_handle), cred_handle, rp_handle,
       created_at, sign_count, metadata, secrets, discoverable
FROM credentials;

-- Drops `credentials_by_rp` and `credentials_by_seq` with it.
DROP TABLE credentials;
ALTER TABLE credentials_v6 RENAME TO credentials;

CREATE UNIQUE INDEX credentials_by_handle ON credentials (cred_handle);
-- The rowid ends every index entry: a site's passkeys come out newest first from this index
-- alone (ORDER BY created_at DESC, created_seq DESC).
CREATE INDEX credentials_by_rp ON credentials (rp_handle, created_at);
