-- Vault schema version 4: OBR receipts on their way to the workspace (see vault/receipt_queue.rs).
-- A receipt is queued when the phone makes it and removed once the workspace took it, so one
-- whose upload failed (the workspace unreachable) is posted at the next successful contact.
-- `receipt` is sealed with its `seq` bound into the AAD: a row written or moved from outside
-- the app does not open and is dropped, never posted.

CREATE TABLE receipt_queue (
    seq       INTEGER PRIMARY KEY,
    queued_at INTEGER NOT NULL,
    receipt   BLOB    NOT NULL     -- sealed: the signed receipt (COSE_Sign1) as the session made it
) STRICT;
