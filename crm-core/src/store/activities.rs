//! SQL for activities.

use super::from_millis;
use crate::access::{AclColumns, SqlAccess};
use crate::error::{CrmError, Result};
use crate::ids::{ActivityId, ClientId, DealId, DepartmentId, UserId};
use crate::model::{Activity, ActivityKind};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

/// Permission columns of `activities` under the alias `a`.
pub const ACL_COLUMNS: AclColumns = AclColumns {
    owner: "a.owner_id",
    department: "a.dept_id",
    open: "a.is_open",
};

pub(crate) const ACTIVITY_COLUMNS: &str =
    "a.id, a.kind, a.subject, a.body, a.client_id, a.deal_id, a.owner_id, a.dept_id, \
    a.due_at, a.remind_at, a.done_at, a.is_open, a.rule_id, a.version, a.created_at, a.updated_at, a.external_id";

/// Decodes a row selected with [`ACTIVITY_COLUMNS`] starting at column `o`.
pub(crate) fn activity_from_row(r: &Row<'_>, o: usize) -> rusqlite::Result<Result<Activity>> {
    let kind: String = r.get(o + 1)?;
    let id: i64 = r.get(o)?;
    let Some(kind) = ActivityKind::parse(&kind) else {
        return Ok(Err(CrmError::Corrupt {
            what: format!("activities.kind of activity {id}"),
            message: kind,
        }));
    };
    let ts = |i: usize| -> rusqlite::Result<Option<chrono::DateTime<chrono::Utc>>> {
        Ok(r.get::<_, Option<i64>>(o + i)?.map(from_millis))
    };
    Ok(Ok(Activity {
        id: ActivityId(id),
        kind,
        subject: r.get(o + 2)?,
        body: r.get(o + 3)?,
        client_id: r.get(o + 4)?,
        deal_id: r.get(o + 5)?,
        assignee_id: r.get(o + 6)?,
        department_id: r.get(o + 7)?,
        due_at: ts(8)?,
        remind_at: ts(9)?,
        done_at: ts(10)?,
        open: r.get(o + 11)?,
        rule_id: r.get(o + 12)?,
        version: r.get(o + 13)?,
        created_at: from_millis(r.get(o + 14)?),
        updated_at: from_millis(r.get(o + 15)?),
        external_id: r.get(o + 16)?,
    }))
}

fn collect(st: &mut rusqlite::CachedStatement<'_>, params: &[Value]) -> Result<Vec<Activity>> {
    let rows = st.query_map(params_from_iter(params), |r| activity_from_row(r, 0))?;
    let mut out = Vec::new();
    for a in rows {
        out.push(a??);
    }
    Ok(out)
}

/// An activity by id, whatever the actor may see.
pub fn get(c: &Connection, id: ActivityId) -> Result<Option<Activity>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {ACTIVITY_COLUMNS} FROM activities a WHERE a.id = ?"
    ))?;
    Ok(collect(&mut st, &[Value::Integer(id.0)])?.pop())
}

/// The permission attributes of an activity.
pub fn acl(c: &Connection, id: ActivityId) -> Result<Option<crate::access::RecordAcl>> {
    Ok(
        c.prepare_cached("SELECT owner_id, dept_id, is_open FROM activities WHERE id = ?")?
            .query_row([id], |r| {
                Ok(crate::access::RecordAcl {
                    owner_id: r.get(0)?,
                    department_id: r.get(1)?,
                    open: r.get(2)?,
                })
            })
            .optional()?,
    )
}

/// The columns an activity is written with.
pub struct ActivityRow<'a> {
    pub kind: ActivityKind,
    pub subject: &'a str,
    pub body: Option<&'a str>,
    pub client_id: Option<ClientId>,
    pub deal_id: Option<DealId>,
    pub owner_id: UserId,
    pub dept_id: DepartmentId,
    pub due_at: Option<i64>,
    pub remind_at: Option<i64>,
    pub done_at: Option<i64>,
    pub open: bool,
    pub rule_id: Option<i64>,
    pub external_id: Option<&'a str>,
}

/// Inserts an activity.
pub fn insert(
    c: &Connection,
    a: &ActivityRow<'_>,
    created_at: i64,
    now: i64,
) -> Result<ActivityId> {
    c.prepare_cached(
        "INSERT INTO activities (kind, subject, body, client_id, deal_id, owner_id, dept_id, due_at, remind_at, done_at,
            is_open, rule_id, created_at, updated_at, external_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        a.kind.as_str(), a.subject, a.body, a.client_id, a.deal_id, a.owner_id, a.dept_id, a.due_at, a.remind_at,
        a.done_at, a.open, a.rule_id, created_at, now, a.external_id
    ])?;
    Ok(ActivityId(c.last_insert_rowid()))
}

/// Rewrites the editable fields if the version is still `expected`.
pub fn update(
    c: &Connection,
    id: ActivityId,
    expected: i64,
    a: &ActivityRow<'_>,
    now: i64,
) -> Result<bool> {
    Ok(c.prepare_cached(
        "UPDATE activities SET subject = ?, body = ?, due_at = ?, remind_at = ?, done_at = ?, is_open = ?,
            version = version + 1, updated_at = ? WHERE id = ? AND version = ?",
    )?
    .execute(params![a.subject, a.body, a.due_at, a.remind_at, a.done_at, a.open, now, id, expected])? == 1)
}

/// Gives an activity to another assignee if the version is still `expected`.
pub fn set_owner(
    c: &Connection,
    id: ActivityId,
    expected: i64,
    owner: UserId,
    dept: DepartmentId,
    now: i64,
) -> Result<bool> {
    Ok(c.execute(
        "UPDATE activities SET owner_id = ?, dept_id = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?",
        params![owner, dept, now, id, expected],
    )? == 1)
}

/// Deletes an activity.
pub fn delete(c: &Connection, id: ActivityId) -> Result<()> {
    c.execute("DELETE FROM activities WHERE id = ?", [id])?;
    Ok(())
}

/// Pending activities with a reminder at or before `now` (and, with `owner`, of that owner),
/// readable under `access`, soonest first.
pub fn due_reminders(
    c: &Connection,
    access: &SqlAccess,
    now: i64,
    limit: usize,
) -> Result<Vec<Activity>> {
    let pred = access.predicate();
    let sql = format!(
        "SELECT {ACTIVITY_COLUMNS} FROM activities a
         WHERE a.done_at IS NULL AND a.remind_at IS NOT NULL AND a.remind_at <= ? AND {}
         ORDER BY a.remind_at, a.id LIMIT ?",
        pred.sql
    );
    let mut params = vec![Value::Integer(now)];
    params.extend(pred.params);
    params.push(Value::Integer(limit as i64));
    collect(&mut c.prepare_cached(&sql)?, &params)
}

/// Pending tasks of `owner` due before `now`, readable under `access`, oldest due first.
pub fn overdue(
    c: &Connection,
    access: &SqlAccess,
    owner: UserId,
    now: i64,
    limit: usize,
) -> Result<Vec<Activity>> {
    let pred = access.predicate();
    let sql = format!(
        "SELECT {ACTIVITY_COLUMNS} FROM activities a
         WHERE a.owner_id = ? AND a.done_at IS NULL AND a.due_at IS NOT NULL AND a.due_at < ? AND {}
         ORDER BY a.due_at, a.id LIMIT ?",
        pred.sql
    );
    let mut params = vec![Value::Integer(owner.0), Value::Integer(now)];
    params.extend(pred.params);
    params.push(Value::Integer(limit as i64));
    collect(&mut c.prepare_cached(&sql)?, &params)
}

/// The activity holding an external id, if any.
pub fn by_external_id(c: &Connection, external_id: &str) -> Result<Option<ActivityId>> {
    Ok(
        c.prepare_cached("SELECT id FROM activities WHERE external_id = ?")?
            .query_row([external_id], |r| r.get(0))
            .optional()?,
    )
}

/// Moves the activities of a deal that name client `from` to client `to`; returns them.
pub fn follow_deal_client(
    c: &Connection,
    deal: DealId,
    from: Option<ClientId>,
    to: Option<ClientId>,
    now: i64,
) -> Result<Vec<ActivityId>> {
    let ids: Vec<ActivityId> = c
        .prepare_cached(
            "SELECT id FROM activities WHERE deal_id = ? AND client_id IS ? ORDER BY id",
        )?
        .query_map(params![deal, from], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = c.prepare_cached(
        "UPDATE activities SET client_id = ?, version = version + 1, updated_at = ? WHERE id = ?",
    )?;
    for id in &ids {
        st.execute(params![to, now, id])?;
    }
    Ok(ids)
}

/// Number of activities referencing a client.
pub fn count_for_client(c: &Connection, id: ClientId) -> Result<i64> {
    Ok(
        c.prepare_cached("SELECT count(*) FROM activities WHERE client_id = ?")?
            .query_row([id], |r| r.get(0))?,
    )
}

/// Activities after id `after` that `access` reaches, by id (for exports).
pub fn export_page(
    c: &Connection,
    access: &SqlAccess,
    after: i64,
    limit: usize,
) -> Result<Vec<Activity>> {
    let pred = access.predicate();
    let sql = format!(
        "SELECT {ACTIVITY_COLUMNS} FROM activities a WHERE {} AND a.id > ? ORDER BY a.id LIMIT ?",
        pred.sql
    );
    let mut params = pred.params;
    params.extend([Value::Integer(after), Value::Integer(limit as i64)]);
    collect(&mut c.prepare_cached(&sql)?, &params)
}

/// The record an import or export reference names: its external id, or `#<id>` (what exports
/// write for records without one) for a record that has no external id.
pub fn by_reference(c: &Connection, reference: &str) -> Result<Option<ActivityId>> {
    if let Some(id) = by_external_id(c, reference)? {
        return Ok(Some(id));
    }
    let Some(n) = reference
        .strip_prefix('#')
        .and_then(|n| n.parse::<i64>().ok())
    else {
        return Ok(None);
    };
    Ok(
        c.prepare_cached("SELECT id FROM activities WHERE id = ? AND external_id IS NULL")?
            .query_row([n], |r| r.get(0))
            .optional()?,
    )
}
