-- Schema version 1: the organisation, the permission tables and clients.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
-- Bumped in the same transaction as any change that can alter someone's rights, so cached
-- access plans are never stale.
INSERT INTO meta (key, value) VALUES ('acl_version', 1);

CREATE TABLE departments (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    parent_id    INTEGER REFERENCES departments (id),
    head_user_id INTEGER REFERENCES users (id)
);
CREATE INDEX departments_parent ON departments (parent_id);

-- Closure table: one row per (ancestor, descendant) pair, depth 0 for the node itself.
CREATE TABLE department_closure (
    ancestor   INTEGER NOT NULL REFERENCES departments (id),
    descendant INTEGER NOT NULL REFERENCES departments (id),
    depth      INTEGER NOT NULL,
    PRIMARY KEY (ancestor, descendant)
) WITHOUT ROWID;
CREATE INDEX department_closure_descendant ON department_closure (descendant, ancestor);

CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL,
    email_key  TEXT NOT NULL UNIQUE,
    dept_id    INTEGER NOT NULL REFERENCES departments (id),
    active     INTEGER NOT NULL DEFAULT 1,
    admin      INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX users_dept ON users (dept_id);

CREATE TABLE roles (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE role_grants (
    role_id      INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    entity       TEXT NOT NULL,
    action       TEXT NOT NULL,
    level        INTEGER NOT NULL,
    include_open INTEGER NOT NULL,
    PRIMARY KEY (role_id, entity, action)
) WITHOUT ROWID;

-- subject_kind: 'user' | 'department' | 'head'
CREATE TABLE role_assignments (
    id                     INTEGER PRIMARY KEY,
    role_id                INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    subject_kind           TEXT NOT NULL,
    subject_id             INTEGER NOT NULL,
    include_subdepartments INTEGER NOT NULL DEFAULT 0,
    UNIQUE (role_id, subject_kind, subject_id, include_subdepartments)
);

-- subject_kind: 'user' | 'department' | 'role'; target_kind: 'all' | 'department' | 'department_tree' | 'open'
CREATE TABLE forbid_rules (
    id                     INTEGER PRIMARY KEY,
    subject_kind           TEXT NOT NULL,
    subject_id             INTEGER NOT NULL,
    include_subdepartments INTEGER NOT NULL DEFAULT 0,
    entity                 TEXT NOT NULL,
    action                 TEXT NOT NULL,
    target_kind            TEXT NOT NULL,
    target_id              INTEGER
);

-- Lists of e-mails, phones, addresses and tags, and custom values, are JSON documents in the row:
-- a page of clients is one indexed read. Their normalised keys live in client_keys.
CREATE TABLE clients (
    id                  INTEGER PRIMARY KEY,
    kind                INTEGER NOT NULL,
    name                TEXT NOT NULL,
    sort_name           TEXT NOT NULL,
    parent_id           INTEGER REFERENCES clients (id),
    tax_id              TEXT,
    registration_number TEXT,
    emails              TEXT NOT NULL DEFAULT '[]',
    phones              TEXT NOT NULL DEFAULT '[]',
    addresses           TEXT NOT NULL DEFAULT '[]',
    tags                TEXT NOT NULL DEFAULT '[]',
    custom              TEXT NOT NULL DEFAULT '{}',
    owner_id            INTEGER NOT NULL REFERENCES users (id),
    dept_id             INTEGER NOT NULL REFERENCES departments (id),
    is_open             INTEGER NOT NULL DEFAULT 0,
    archived            INTEGER NOT NULL DEFAULT 0,
    archived_at         INTEGER,
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
-- One index per permission branch, each in list order, so every branch of a list is a bounded
-- index range scan (DESIGN.md §4).
CREATE INDEX clients_dept_list  ON clients (dept_id, archived, sort_name, id);
CREATE INDEX clients_owner_list ON clients (owner_id, archived, sort_name, id);
CREATE INDEX clients_open_list  ON clients (is_open, archived, sort_name, id);
CREATE INDEX clients_all_list   ON clients (archived, sort_name, id);
CREATE INDEX clients_parent     ON clients (parent_id);

CREATE TABLE contact_links (
    organization_id INTEGER NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    person_id       INTEGER NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    position        TEXT,
    PRIMARY KEY (organization_id, person_id)
) WITHOUT ROWID;
CREATE INDEX contact_links_person ON contact_links (person_id, organization_id);
