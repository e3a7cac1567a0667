-- Schema version 5: external ids for importing and matching, and client merges (undoable).

ALTER TABLE clients ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX clients_external ON clients (external_id) WHERE external_id IS NOT NULL;
ALTER TABLE deals ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX deals_external ON deals (external_id) WHERE external_id IS NOT NULL;
ALTER TABLE activities ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX activities_external ON activities (external_id) WHERE external_id IS NOT NULL;

-- A merge of `duplicate` into `survivor`. `undo` is the JSON document that restores the state
-- before the merge (the survivor's fields, the duplicate's archive state and every moved
-- reference); `undone_at` is set when it was undone.
CREATE TABLE client_merges (
    id           INTEGER PRIMARY KEY,
    survivor_id  INTEGER NOT NULL REFERENCES clients (id),
    duplicate_id INTEGER NOT NULL REFERENCES clients (id),
    at           INTEGER NOT NULL,
    actor_id     INTEGER,
    undo         TEXT NOT NULL,
    undone_at    INTEGER
);
CREATE INDEX client_merges_survivor ON client_merges (survivor_id) WHERE undone_at IS NULL;
