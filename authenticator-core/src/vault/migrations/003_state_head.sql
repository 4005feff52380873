-- Vault schema version 3: the sealed state head (see vault/head.rs, proto/vault-format.md).
-- One row binding the PIN state, every setting, the audit chain and the global sign-counter
-- reservation to one monotonic generation, so an older or missing row is detected. The sealed
-- `state` is made by the code in the same transaction as this migration (it needs the vault
-- key); `generation` and `counter_end` repeat two of its fields in the clear for cheap checks.

CREATE TABLE vault_head (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  INTEGER NOT NULL CHECK (generation > 0),
    counter_end INTEGER NOT NULL CHECK (counter_end >= 0),
    state       BLOB    NOT NULL   -- sealed: generation, record digests, audit chain head, counter_end
) STRICT;
