-- Schema version 4: the transactional outbox. Every change to a client, deal or activity writes
-- its event here in the same transaction as the change; ids grow in commit order and are never
-- reused. The record's permission attributes at the time of the change are kept, so each
-- consumer only receives events of records its user may read.

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    entity     TEXT NOT NULL,
    entity_id  INTEGER NOT NULL,
    owner_id   INTEGER NOT NULL,
    dept_id    INTEGER NOT NULL,
    is_open    INTEGER NOT NULL,
    payload    TEXT NOT NULL
);
CREATE INDEX outbox_type ON outbox (event_type, id);

-- One cursor per consumer (a plugin): the last event it acknowledged.
CREATE TABLE outbox_cursors (
    consumer   TEXT PRIMARY KEY,
    last_id    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
