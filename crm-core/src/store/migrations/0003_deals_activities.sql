-- Schema version 3: pipelines, deals with their stage history, exchange rates, activities and
-- automation rules.

-- Settings that are not permissions. report_tz is the IANA time zone whose calendar the stored
-- period buckets (created_day, created_month, closed_day, closed_month) follow.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO settings (key, value) VALUES ('report_tz', 'UTC');

CREATE TABLE pipelines (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- kind: 1 open, 2 won, 3 lost. allowed_next: JSON array of stage ids, NULL = any.
CREATE TABLE stages (
    id              INTEGER PRIMARY KEY,
    pipeline_id     INTEGER NOT NULL REFERENCES pipelines (id),
    name            TEXT NOT NULL,
    position        INTEGER NOT NULL,
    probability     INTEGER NOT NULL,
    kind            INTEGER NOT NULL,
    rotting_days    INTEGER,
    required_fields TEXT NOT NULL DEFAULT '[]',
    allowed_next    TEXT
);
CREATE INDEX stages_pipeline ON stages (pipeline_id, position);

-- status mirrors the kind of the current stage. Period buckets are day and month numbers in the
-- report time zone: day = days since 1970-01-01, month = year * 12 + month - 1.
CREATE TABLE deals (
    id                 INTEGER PRIMARY KEY,
    title              TEXT NOT NULL,
    client_id          INTEGER REFERENCES clients (id),
    contact_id         INTEGER REFERENCES clients (id),
    pipeline_id        INTEGER NOT NULL REFERENCES pipelines (id),
    stage_id           INTEGER NOT NULL REFERENCES stages (id),
    status             INTEGER NOT NULL,
    amount_minor       INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    probability        INTEGER,
    expected_close     TEXT,
    expected_month     INTEGER,
    owner_id           INTEGER NOT NULL REFERENCES users (id),
    dept_id            INTEGER NOT NULL REFERENCES departments (id),
    is_open            INTEGER NOT NULL DEFAULT 0,
    custom             TEXT NOT NULL DEFAULT '{}',
    lost_reason        TEXT,
    closed_at          INTEGER,
    closed_day         INTEGER,
    closed_month       INTEGER,
    stage_entered_at   INTEGER NOT NULL,
    version            INTEGER NOT NULL DEFAULT 1,
    created_at         INTEGER NOT NULL,
    created_day        INTEGER NOT NULL,
    created_month      INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
-- List branches, newest first.
CREATE INDEX deals_dept_list  ON deals (dept_id, id);
CREATE INDEX deals_owner_list ON deals (owner_id, id);
CREATE INDEX deals_open_list  ON deals (is_open, id);
CREATE INDEX deals_client     ON deals (client_id, id);
CREATE INDEX deals_stage      ON deals (stage_id, stage_entered_at);
-- The funnel pivot (stage x month x manager): covering, in GROUP BY order (DESIGN.md §7).
CREATE INDEX deals_funnel ON deals (pipeline_id, stage_id, created_month, owner_id, currency, dept_id, is_open, amount_minor, created_at, created_day);
CREATE INDEX deals_closed ON deals (pipeline_id, status, closed_at);

CREATE TABLE deal_stage_events (
    id            INTEGER PRIMARY KEY,
    deal_id       INTEGER NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
    pipeline_id   INTEGER NOT NULL,
    from_stage_id INTEGER,
    to_stage_id   INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    actor_id      INTEGER
);
CREATE INDEX deal_stage_events_deal ON deal_stage_events (deal_id, at, id);
CREATE INDEX deal_stage_events_pipeline ON deal_stage_events (pipeline_id, at);

-- One rate per currency pair and day: 1 unit of currency = rate_nanos / 1e9 units of quote.
CREATE TABLE exchange_rates (
    currency TEXT NOT NULL,
    quote    TEXT NOT NULL,
    day      TEXT NOT NULL,
    rate_nanos INTEGER NOT NULL,
    PRIMARY KEY (currency, quote, day)
) WITHOUT ROWID;

CREATE TABLE activities (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT,
    client_id   INTEGER REFERENCES clients (id),
    deal_id     INTEGER REFERENCES deals (id),
    owner_id    INTEGER NOT NULL REFERENCES users (id),
    dept_id     INTEGER NOT NULL REFERENCES departments (id),
    is_open     INTEGER NOT NULL DEFAULT 0,
    due_at      INTEGER,
    remind_at   INTEGER,
    done_at     INTEGER,
    rule_id     INTEGER,
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX activities_client   ON activities (client_id, created_at, id);
CREATE INDEX activities_deal     ON activities (deal_id, created_at, id);
CREATE INDEX activities_owner    ON activities (owner_id, done_at, due_at);
CREATE INDEX activities_reminder ON activities (remind_at) WHERE done_at IS NULL AND remind_at IS NOT NULL;
CREATE INDEX activities_done     ON activities (owner_id, done_at, kind);

-- kind: 'client_idle' (param days), 'deal_rotting', 'stage_entered' (param stage id).
CREATE TABLE automation_rules (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    days       INTEGER,
    stage_id   INTEGER REFERENCES stages (id),
    subject    TEXT NOT NULL,
    due_days   INTEGER NOT NULL DEFAULT 1,
    active     INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);

-- What a rule already did, so run_due is idempotent: one row per (rule, occasion).
CREATE TABLE automation_runs (
    rule_id     INTEGER NOT NULL REFERENCES automation_rules (id) ON DELETE CASCADE,
    occasion    TEXT NOT NULL,
    activity_id INTEGER,
    at          INTEGER NOT NULL,
    PRIMARY KEY (rule_id, occasion)
) WITHOUT ROWID;
