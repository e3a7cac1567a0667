-- Schema version 11: outbox ids without AUTOINCREMENT. Its bookkeeping row in sqlite_sequence
-- was one more page written by every change (about 7 µs of a 100 µs stage change). Ids still
-- grow in commit order and are never reused: pruning always keeps the newest event
-- (store/outbox.rs), so the next id is above every id handed out.

CREATE TABLE outbox_ids (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    entity     TEXT NOT NULL,
    entity_id  INTEGER NOT NULL,
    owner_id   INTEGER NOT NULL,
    dept_id    INTEGER NOT NULL,
    is_open    INTEGER NOT NULL,
    payload    TEXT NOT NULL
);
INSERT INTO outbox_ids (id, at, event_type, entity, entity_id, owner_id, dept_id, is_open, payload)
SELECT id, at, event_type, entity, entity_id, owner_id, dept_id, is_open, payload FROM outbox;
-- An outbox pruned empty by an earlier engine: keep its last id as a marker. Its entity is none
-- a consumer reads, so it is never delivered.
INSERT INTO outbox_ids (id, at, event_type, entity, entity_id, owner_id, dept_id, is_open, payload)
SELECT seq, 0, 'outbox.last_pruned', 'outbox', 0, 0, 0, 0, '{}' FROM sqlite_sequence
WHERE name = 'outbox' AND seq > (SELECT coalesce(max(id), 0) FROM outbox);
DROP TABLE outbox;
ALTER TABLE outbox_ids RENAME TO outbox;
