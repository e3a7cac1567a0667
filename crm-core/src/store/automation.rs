//! SQL for automation rules and their occasions.

use crate::error::{CrmError, Result};
use crate::ids::{ClientId, DealId, RuleId, StageId, UserId};
use crate::model::{AutomationRule, RuleTrigger};
use rusqlite::{params, Connection};

/// A rotting deal: (deal, client, owner, entered its stage at).
pub type RottingDeal = (DealId, Option<ClientId>, UserId, i64);

/// An entry into a stage: (event id, deal, client, owner).
pub type StageEntry = (i64, DealId, Option<ClientId>, UserId);

/// Inserts a rule.
pub fn insert(
    c: &Connection,
    trigger: &RuleTrigger,
    subject: &str,
    due_days: u32,
    now: i64,
) -> Result<RuleId> {
    let (kind, days, stage) = match *trigger {
        RuleTrigger::ClientIdle { days } => ("client_idle", Some(days), None),
        RuleTrigger::DealRotting => ("deal_rotting", None, None),
        RuleTrigger::StageEntered { stage_id } => ("stage_entered", None, Some(stage_id)),
    };
    c.execute(
        "INSERT INTO automation_rules (kind, days, stage_id, subject, due_days, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        params![kind, days, stage, subject, due_days, now],
    )?;
    Ok(RuleId(c.last_insert_rowid()))
}

/// Every rule, by id, with its creation time.
pub fn list(c: &Connection) -> Result<Vec<(AutomationRule, i64)>> {
    let mut st = c.prepare_cached(
        "SELECT id, kind, days, stage_id, subject, due_days, active, created_at FROM automation_rules ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, RuleId>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<u32>>(2)?,
            r.get::<_, Option<StageId>>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, u32>(5)?,
            r.get::<_, bool>(6)?,
            r.get::<_, i64>(7)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, kind, days, stage, subject, due, active, created) = row?;
        let trigger = match (kind.as_str(), days, stage) {
            ("client_idle", Some(days), _) => RuleTrigger::ClientIdle { days },
            ("deal_rotting", _, _) => RuleTrigger::DealRotting,
            ("stage_entered", _, Some(stage_id)) => RuleTrigger::StageEntered { stage_id },
            _ => {
                return Err(CrmError::Corrupt {
                    what: format!("automation_rules {id}"),
                    message: format!("bad rule {kind:?}"),
                })
            }
        };
        out.push((
            AutomationRule {
                id,
                trigger,
                task_subject: subject,
                due_in_days: due,
                active,
            },
            created,
        ));
    }
    Ok(out)
}

/// Activates or deactivates a rule; returns whether it exists.
pub fn set_active(c: &Connection, id: RuleId, active: bool) -> Result<bool> {
    Ok(c.execute(
        "UPDATE automation_rules SET active = ? WHERE id = ?",
        params![active, id],
    )? == 1)
}

/// Deletes a rule; returns whether it existed.
pub fn delete(c: &Connection, id: RuleId) -> Result<bool> {
    Ok(c.execute("DELETE FROM automation_rules WHERE id = ?", [id])? == 1)
}

/// Records that a rule handled an occasion; false when it already had (nothing to do).
pub fn claim(c: &Connection, rule: RuleId, occasion: &str, now: i64) -> Result<bool> {
    Ok(c.prepare_cached(
        "INSERT OR IGNORE INTO automation_runs (rule_id, occasion, at) VALUES (?, ?, ?)",
    )?
    .execute(params![rule, occasion, now])?
        == 1)
}

/// Clients (not archived) whose last activity not created by `rule` (or, without one, whose
/// creation) is before `cutoff`: (client, owner, that time).
pub fn idle_clients(
    c: &Connection,
    rule: RuleId,
    cutoff: i64,
) -> Result<Vec<(ClientId, UserId, i64)>> {
    let mut st = c.prepare_cached(
        "SELECT id, owner_id, last FROM (
            SELECT c.id, c.owner_id,
                   coalesce((SELECT max(coalesce(a.done_at, a.created_at)) FROM activities a
                             WHERE a.client_id = c.id AND a.rule_id IS NOT ?1), c.created_at) AS last
            FROM clients c WHERE c.archived = 0)
         WHERE last < ?2 ORDER BY id",
    )?;
    let rows = st.query_map(params![rule.0, cutoff], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Open deals that stayed in a stage with a rotting limit past it at `now`:
/// (deal, client, owner, entered at).
pub fn rotting_deals(c: &Connection, now: i64) -> Result<Vec<RottingDeal>> {
    let mut st = c.prepare_cached(
        "SELECT d.id, d.client_id, d.owner_id, d.stage_entered_at FROM deals d JOIN stages s ON s.id = d.stage_id
         WHERE d.status = 1 AND s.rotting_days IS NOT NULL AND d.stage_entered_at + s.rotting_days * 86400000 < ?
         ORDER BY d.id",
    )?;
    let rows = st.query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Entries into `stage` between `since` and `now`: (event id, deal, client, owner).
pub fn stage_entries(
    c: &Connection,
    stage: StageId,
    since: i64,
    now: i64,
) -> Result<Vec<StageEntry>> {
    let mut st = c.prepare_cached(
        "SELECT e.id, d.id, d.client_id, d.owner_id FROM deal_stage_events e JOIN deals d ON d.id = e.deal_id
         WHERE e.to_stage_id = ? AND e.at >= ? AND e.at <= ? ORDER BY e.id",
    )?;
    let rows = st.query_map(params![stage, since, now], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
