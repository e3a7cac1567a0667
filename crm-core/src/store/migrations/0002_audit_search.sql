-- Schema version 2: custom fields, duplicate keys, full-text search and the audit log.

CREATE TABLE custom_fields (
    id         INTEGER PRIMARY KEY,
    entity     TEXT NOT NULL,
    key        TEXT NOT NULL,
    label      TEXT NOT NULL,
    field_type TEXT NOT NULL,
    options    TEXT NOT NULL DEFAULT '[]',
    required   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (entity, key)
);

-- Normalised identifying keys of a client (kind: 'email' | 'phone' | 'tax' | 'name' | 'tag').
CREATE TABLE client_keys (
    kind      TEXT NOT NULL,
    key       TEXT NOT NULL,
    client_id INTEGER NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, key, client_id)
) WITHOUT ROWID;
CREATE INDEX client_keys_client ON client_keys (client_id);

-- rowid = clients.id. Maintained by the engine in the same transaction as the client row.
CREATE VIRTUAL TABLE client_fts USING fts5 (
    name, emails, phones, ids,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Append-only, hash-chained. hash = SHA-256 over prev_hash and the entry's fields
-- (see crm-core/src/store/audit.rs); audit_head records the last entry so that a removed
-- tail is detected too.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    INTEGER,
    actor_note  TEXT,
    action      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   INTEGER,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL
);
CREATE INDEX audit_entity ON audit_log (entity, entity_id, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TABLE audit_head (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    last_id INTEGER NOT NULL,
    hash    BLOB NOT NULL
);
INSERT INTO audit_head (id, last_id, hash) VALUES (1, 0, zeroblob(32));
