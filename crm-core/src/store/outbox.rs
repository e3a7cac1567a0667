//! SQL for the transactional outbox and its consumer cursors.

use super::from_millis;
use crate::access::{AclColumns, RecordAcl, SqlAccess};
use crate::error::Result;
use crate::model::OutboxEvent;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

/// Permission columns of `outbox` under the alias `o`.
pub const ACL_COLUMNS: AclColumns = AclColumns {
    owner: "o.owner_id",
    department: "o.dept_id",
    open: "o.is_open",
};

/// Appends an event in the caller's transaction.
pub fn append(
    c: &Connection,
    at: i64,
    event_type: &str,
    entity: &str,
    entity_id: i64,
    acl: &RecordAcl,
    payload: &str,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO outbox (at, event_type, entity, entity_id, owner_id, dept_id, is_open, payload)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![at, event_type, entity, entity_id, acl.owner_id, acl.department_id, acl.open, payload])?;
    Ok(())
}

/// Events after `after` of an entity readable under the per-entity accesses (pairs of entity
/// name and rendered plan; entities without a plan are skipped), optionally of the given types,
/// in id order.
pub fn page(
    c: &Connection,
    accesses: &[(&str, SqlAccess)],
    types: &[String],
    after: i64,
    limit: usize,
) -> Result<Vec<OutboxEvent>> {
    if accesses.is_empty() {
        return Ok(vec![]);
    }
    let mut sql = String::from("SELECT o.id, o.at, o.event_type, o.entity, o.entity_id, o.payload FROM outbox o WHERE o.id > ? AND (");
    let mut params = vec![Value::Integer(after)];
    for (i, (entity, access)) in accesses.iter().enumerate() {
        let pred = access.predicate();
        if i > 0 {
            sql.push_str(" OR ");
        }
        sql.push_str(&format!("(o.entity = ? AND {})", pred.sql));
        params.push(Value::Text((*entity).to_string()));
        params.extend(pred.params);
    }
    sql.push(')');
    if !types.is_empty() {
        sql.push_str(&format!(
            " AND o.event_type IN ({})",
            vec!["?"; types.len()].join(", ")
        ));
        params.extend(types.iter().map(|t| Value::Text(t.clone())));
    }
    sql.push_str(" ORDER BY o.id LIMIT ?");
    params.push(Value::Integer(limit as i64));
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(&params), |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, at, event_type, entity, entity_id, payload) = row?;
        out.push(OutboxEvent {
            id,
            at: from_millis(at),
            event_type,
            entity,
            entity_id,
            payload: super::json_column(&payload, || format!("outbox {id}"))?,
        });
    }
    Ok(out)
}

/// The newest event id (0 when empty).
pub fn head(c: &Connection) -> Result<i64> {
    Ok(c.query_row("SELECT coalesce(max(id), 0) FROM outbox", [], |r| r.get(0))?)
}

/// A consumer's cursor (0 when it has none).
pub fn cursor(c: &Connection, consumer: &str) -> Result<i64> {
    Ok(
        c.prepare_cached("SELECT last_id FROM outbox_cursors WHERE consumer = ?")?
            .query_row([consumer], |r| r.get(0))
            .optional()?
            .unwrap_or(0),
    )
}

/// Moves a consumer's cursor forward to `id` (never backward); returns the cursor now stored.
pub fn ack(c: &Connection, consumer: &str, id: i64, now: i64) -> Result<i64> {
    c.prepare_cached(
        "INSERT INTO outbox_cursors (consumer, last_id, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (consumer) DO UPDATE SET last_id = max(last_id, ?2), updated_at = ?3",
    )?
    .execute(params![consumer, id, now])?;
    cursor(c, consumer)
}

/// Forgets a consumer's cursor; returns whether it had one.
pub fn forget(c: &Connection, consumer: &str) -> Result<bool> {
    Ok(c.execute("DELETE FROM outbox_cursors WHERE consumer = ?", [consumer])? == 1)
}

/// Deletes events every registered consumer has acknowledged, except the newest event: ids come
/// from `max(id) + 1` (no AUTOINCREMENT, schema 11), so keeping it means no id is ever handed out
/// twice. Returns how many were deleted.
pub fn prune(c: &Connection) -> Result<usize> {
    Ok(c.execute(
        "DELETE FROM outbox WHERE id <= (SELECT coalesce(min(last_id), 0) FROM outbox_cursors)
         AND id < (SELECT max(id) FROM outbox)",
        [],
    )?)
}
