-- Vault schema version 1. Frozen: never edit a released migration, add the next one instead.
-- Sealed columns hold AES-256-GCM envelopes (see record_crypto.rs); *_handle columns hold keyed
-- hashes; nothing here stores an rp id, user name or credential id in the clear.

CREATE TABLE vault_meta (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    wrapped_key BLOB    NOT NULL,   -- vault key, wrapped by the platform KeyProtector
    canary      BLOB    NOT NULL    -- sealed known text: tells a wrong key from a corrupt file
) STRICT;

CREATE TABLE credentials (
    cred_handle BLOB    PRIMARY KEY,   -- keyed hash of the credential id
    rp_handle   BLOB    NOT NULL,      -- keyed hash of the rp id
    created_at  INTEGER NOT NULL,
    sign_count  INTEGER NOT NULL DEFAULT 0 CHECK (sign_count >= 0),
    metadata    BLOB    NOT NULL,      -- sealed: ids, names, public key, options
    secrets     BLOB    NOT NULL       -- sealed: private key, hmac-secret keys
) STRICT, WITHOUT ROWID;

CREATE INDEX credentials_by_rp ON credentials (rp_handle, created_at);

CREATE TABLE pairings (
    pairing_id   BLOB    PRIMARY KEY,  -- random, not derived from anything about the PC
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    metadata     BLOB    NOT NULL,     -- sealed: PC name, PC static public key, routing
    secrets      BLOB    NOT NULL      -- sealed: own static private key, pairing secret
) STRICT, WITHOUT ROWID;

CREATE TABLE pin_state (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    state BLOB    NOT NULL             -- sealed: PIN hash, retries, policy
) STRICT;

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL                -- sealed
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    recorded_at INTEGER NOT NULL,
    entry       BLOB    NOT NULL       -- sealed: what happened, under which grant, for which rp
) STRICT;
