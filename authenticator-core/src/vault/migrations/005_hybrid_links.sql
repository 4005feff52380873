-- Vault schema: hybrid linking (state-assisted reconnects, see hybrid/linking.rs and
-- vault/hybrid_links.rs). Numbered 005 beside another engineer's 004; registered in order in
-- schema.rs (the coordinator renumbers at merge).
-- `hybrid_identity`: the phone's one long-lived P-256 identity key for linked browsers, sealed.
-- `hybrid_links`: one row per linked browser. The link id travels in the clear in the browser's
-- client payload, so it is the key here too; everything else is sealed: `metadata` (contact id,
-- the browser's name and QR public key), `secrets` (the link secret). Both tables are bound to
-- the state head (a removed link stays removed).

CREATE TABLE hybrid_identity (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    secrets BLOB    NOT NULL   -- sealed: the identity key's scalar
) STRICT;

CREATE TABLE hybrid_links (
    link_id      BLOB    PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    metadata     BLOB    NOT NULL,   -- sealed: contact id, browser name, browser public key
    secrets      BLOB    NOT NULL    -- sealed: the link secret
) STRICT;
