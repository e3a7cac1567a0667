//! SQL for the client timeline: three bounded, permission-filtered sources, each newest first
//! from a keyset position, merged by the service.

use super::activities::{activity_from_row, ACTIVITY_COLUMNS};
use super::{audit, from_millis};
use crate::access::SqlAccess;
use crate::error::Result;
use crate::ids::{ClientId, UserId};
use crate::model::{Activity, StageEvent};
use crate::AuditEntry;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

/// A keyset position: items strictly older than `(at, rank, id)` are returned.
#[derive(Clone, Copy, Debug)]
pub struct Before {
    pub at: i64,
    pub rank: i64,
    pub id: i64,
}

/// `(at, id)` comparison for a source of the given rank: older time, or same time and (lower rank,
/// or same rank and lower id).
fn keyset(at: &str, id: &str, rank: i64, b: &Before, params: &mut Vec<Value>) -> String {
    params.extend([
        Value::Integer(b.at),
        Value::Integer(b.at),
        Value::Integer(rank),
        Value::Integer(b.rank),
        Value::Integer(rank),
        Value::Integer(b.rank),
        Value::Integer(b.id),
    ]);
    format!("({at} < ? OR ({at} = ? AND (? < ? OR (? = ? AND {id} < ?))))")
}

/// Activities of the client readable under `access`, placed at their creation time.
pub fn activities(
    c: &Connection,
    access: &SqlAccess,
    client: ClientId,
    before: &Before,
    rank: i64,
    limit: usize,
) -> Result<Vec<Activity>> {
    let pred = access.predicate();
    let mut params = vec![Value::Integer(client.0)];
    params.extend(pred.params);
    let ks = keyset("a.created_at", "a.id", rank, before, &mut params);
    params.push(Value::Integer(limit as i64));
    let sql = format!(
        "SELECT {ACTIVITY_COLUMNS} FROM activities a WHERE a.client_id = ? AND {} AND {ks}
         ORDER BY a.created_at DESC, a.id DESC LIMIT ?",
        pred.sql
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(&params), |r| activity_from_row(r, 0))?;
    let mut out = Vec::new();
    for a in rows {
        out.push(a??);
    }
    Ok(out)
}

/// Stage events of the client's deals readable under `deal_access`, with the deal titles.
pub fn stage_events(
    c: &Connection,
    deal_access: &SqlAccess,
    client: ClientId,
    before: &Before,
    rank: i64,
    limit: usize,
) -> Result<Vec<(StageEvent, String)>> {
    let pred = deal_access.predicate();
    let mut params = vec![Value::Integer(client.0)];
    params.extend(pred.params);
    let ks = keyset("e.at", "e.id", rank, before, &mut params);
    params.push(Value::Integer(limit as i64));
    let sql = format!(
        "SELECT e.id, e.deal_id, e.from_stage_id, e.to_stage_id, e.at, e.actor_id, d.title
         FROM deal_stage_events e JOIN deals d ON d.id = e.deal_id
         WHERE d.client_id = ? AND {} AND {ks} ORDER BY e.at DESC, e.id DESC LIMIT ?",
        pred.sql
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(&params), |r| {
        Ok((
            StageEvent {
                id: r.get(0)?,
                deal_id: r.get(1)?,
                from_stage_id: r.get(2)?,
                to_stage_id: r.get(3)?,
                at: from_millis(r.get(4)?),
                actor_id: r.get::<_, Option<i64>>(5)?.map(UserId),
            },
            r.get(6)?,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Successful audited changes of the client itself and of its deals readable under `deal_access`.
pub fn changes(
    c: &Connection,
    deal_access: &SqlAccess,
    client: ClientId,
    before: &Before,
    rank: i64,
    limit: usize,
) -> Result<Vec<AuditEntry>> {
    let pred = deal_access.predicate();
    let mut params = vec![Value::Integer(client.0), Value::Integer(client.0)];
    params.extend(pred.params);
    let ks = keyset("l.at", "l.id", rank, before, &mut params);
    params.push(Value::Integer(limit as i64));
    let sql = format!(
        "SELECT {} FROM audit_log l
         WHERE l.outcome = 'ok' AND ((l.entity = 'client' AND l.entity_id IN (
                WITH RECURSIVE merged(id) AS (
                    SELECT ?1
                    UNION SELECT m.duplicate_id FROM client_merges m JOIN merged ON m.survivor_id = merged.id
                    WHERE m.undone_at IS NULL)
                SELECT id FROM merged))
            OR (l.entity = 'deal' AND l.entity_id IN (SELECT d.id FROM deals d WHERE d.client_id = ? AND {})))
           AND {ks}
         ORDER BY l.at DESC, l.id DESC LIMIT ?",
        audit::ENTRY_COLUMNS, pred.sql
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(&params), audit::entry_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
