-- Schema version 7: maintained counters for the funnel pivot (stage x month x manager). Triggers
-- keep them in step with `deals` in the same transaction as every insert, update and delete,
-- whatever code path writes the deal, so the pivot reads a few thousand counter rows instead of
-- aggregating every deal (DESIGN.md §7: count from maintained counters).

CREATE TABLE deal_counters (
    pipeline_id   INTEGER NOT NULL,
    stage_id      INTEGER NOT NULL,
    created_month INTEGER NOT NULL,
    owner_id      INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    dept_id       INTEGER NOT NULL,
    is_open       INTEGER NOT NULL,
    deals         INTEGER NOT NULL,
    amount        INTEGER NOT NULL,
    PRIMARY KEY (pipeline_id, stage_id, created_month, owner_id, currency, dept_id, is_open)
) WITHOUT ROWID;

INSERT INTO deal_counters
SELECT pipeline_id, stage_id, created_month, owner_id, currency, dept_id, is_open, count(*), sum(amount_minor)
FROM deals GROUP BY 1, 2, 3, 4, 5, 6, 7;

CREATE TRIGGER deal_counters_insert AFTER INSERT ON deals
BEGIN
    INSERT INTO deal_counters VALUES (NEW.pipeline_id, NEW.stage_id, NEW.created_month, NEW.owner_id,
        NEW.currency, NEW.dept_id, NEW.is_open, 1, NEW.amount_minor)
    ON CONFLICT DO UPDATE SET deals = deals + 1, amount = amount + excluded.amount;
END;

CREATE TRIGGER deal_counters_delete AFTER DELETE ON deals
BEGIN
    UPDATE deal_counters SET deals = deals - 1, amount = amount - OLD.amount_minor
    WHERE pipeline_id = OLD.pipeline_id AND stage_id = OLD.stage_id AND created_month = OLD.created_month
      AND owner_id = OLD.owner_id AND currency = OLD.currency AND dept_id = OLD.dept_id AND is_open = OLD.is_open;
END;

CREATE TRIGGER deal_counters_update
AFTER UPDATE OF pipeline_id, stage_id, created_month, owner_id, currency, dept_id, is_open, amount_minor ON deals
BEGIN
    UPDATE deal_counters SET deals = deals - 1, amount = amount - OLD.amount_minor
    WHERE pipeline_id = OLD.pipeline_id AND stage_id = OLD.stage_id AND created_month = OLD.created_month
      AND owner_id = OLD.owner_id AND currency = OLD.currency AND dept_id = OLD.dept_id AND is_open = OLD.is_open;
    INSERT INTO deal_counters VALUES (NEW.pipeline_id, NEW.stage_id, NEW.created_month, NEW.owner_id,
        NEW.currency, NEW.dept_id, NEW.is_open, 1, NEW.amount_minor)
    ON CONFLICT DO UPDATE SET deals = deals + 1, amount = amount + excluded.amount;
END;
