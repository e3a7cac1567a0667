//! SQL for deals and their stage events.

use super::{from_millis, json_column};
use crate::access::{AclColumns, RecordAcl, SqlAccess};
use crate::error::{CrmError, Result};
use crate::ids::{ClientId, DealId, DepartmentId, PipelineId, StageId, UserId};
use crate::model::{Deal, StageEvent, StageKind};
use crate::money::Currency;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use std::fmt::Write;

/// Permission columns of `deals` under the alias `d`.
pub const ACL_COLUMNS: AclColumns = AclColumns {
    owner: "d.owner_id",
    department: "d.dept_id",
    open: "d.is_open",
};

const DEAL_COLUMNS: &str = "d.id, d.title, d.client_id, d.contact_id, d.pipeline_id, d.stage_id, d.status, \
    d.amount_minor, d.currency, d.probability, d.expected_close, d.owner_id, d.dept_id, d.is_open, d.custom, \
    d.lost_reason, d.closed_at, d.stage_entered_at, d.version, d.created_at, d.updated_at, \
    (SELECT probability FROM stages WHERE id = d.stage_id), d.external_id";

fn deal_from_row(r: &Row<'_>) -> rusqlite::Result<Result<Deal>> {
    let id: i64 = r.get(0)?;
    let what = move |col: &str| format!("deals.{col} of deal {id}");
    let status: i64 = r.get(6)?;
    let currency: String = r.get(8)?;
    let custom: String = r.get(14)?;
    let expected: Option<String> = r.get(10)?;
    let override_p: Option<i64> = r.get(9)?;
    let stage_p: Option<i64> = r.get(21)?;
    let build = || -> Result<Deal> {
        let prob = |p: i64, col: &str| {
            u8::try_from(p).map_err(|_| CrmError::Corrupt {
                what: what(col),
                message: format!("{p}"),
            })
        };
        let probability_override = override_p.map(|p| prob(p, "probability")).transpose()?;
        Ok(Deal {
            id: DealId(id),
            title: r.get(1)?,
            client_id: r.get(2)?,
            contact_id: r.get(3)?,
            pipeline_id: r.get(4)?,
            stage_id: r.get(5)?,
            status: StageKind::from_i64(status).ok_or_else(|| CrmError::Corrupt {
                what: what("status"),
                message: format!("{status}"),
            })?,
            amount_minor: r.get(7)?,
            currency: Currency::parse(&currency, "currency").map_err(|e| CrmError::Corrupt {
                what: what("currency"),
                message: e.to_string(),
            })?,
            probability: match probability_override {
                Some(p) => p,
                None => prob(stage_p.unwrap_or(0), "stage probability")?,
            },
            probability_override,
            expected_close_date: expected
                .map(|s| {
                    crate::model::parse_date(&s).ok_or_else(|| CrmError::Corrupt {
                        what: what("expected_close"),
                        message: s.clone(),
                    })
                })
                .transpose()?,
            owner_id: r.get(11)?,
            department_id: r.get(12)?,
            open: r.get(13)?,
            custom: json_column(&custom, || what("custom"))?,
            lost_reason: r.get(15)?,
            closed_at: r.get::<_, Option<i64>>(16)?.map(from_millis),
            stage_entered_at: from_millis(r.get(17)?),
            version: r.get(18)?,
            created_at: from_millis(r.get(19)?),
            updated_at: from_millis(r.get(20)?),
            external_id: r.get(22)?,
        })
    };
    Ok(build())
}

fn collect(st: &mut rusqlite::CachedStatement<'_>, params: &[Value]) -> Result<Vec<Deal>> {
    let rows = st.query_map(params_from_iter(params), deal_from_row)?;
    let mut out = Vec::new();
    for d in rows {
        out.push(d??);
    }
    Ok(out)
}

/// A deal by id, whatever the actor may see.
pub fn get(c: &Connection, id: DealId) -> Result<Option<Deal>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {DEAL_COLUMNS} FROM deals d WHERE d.id = ?"
    ))?;
    let mut found = collect(&mut st, &[Value::Integer(id.0)])?;
    Ok(found.pop())
}

/// The permission attributes of a deal.
pub fn acl(c: &Connection, id: DealId) -> Result<Option<RecordAcl>> {
    Ok(
        c.prepare_cached("SELECT owner_id, dept_id, is_open FROM deals WHERE id = ?")?
            .query_row([id], |r| {
                Ok(RecordAcl {
                    owner_id: r.get(0)?,
                    department_id: r.get(1)?,
                    open: r.get(2)?,
                })
            })
            .optional()?,
    )
}

/// The columns a deal row is written with (everything but id, version and bookkeeping).
pub struct DealRow<'a> {
    pub title: &'a str,
    pub client_id: Option<ClientId>,
    pub contact_id: Option<ClientId>,
    pub pipeline_id: PipelineId,
    pub stage_id: StageId,
    pub status: StageKind,
    pub amount_minor: i64,
    pub currency: &'a Currency,
    pub probability_override: Option<u8>,
    pub expected_close: Option<String>,
    pub expected_month: Option<i64>,
    pub owner_id: UserId,
    pub dept_id: DepartmentId,
    pub open: bool,
    pub custom: String,
    pub external_id: Option<&'a str>,
}

/// Period buckets of an instant in the report time zone: (day number, month number).
pub type Buckets = (i64, i64);

/// Inserts a deal and its creation event.
pub fn insert(
    c: &Connection,
    d: &DealRow<'_>,
    created_at: i64,
    created: Buckets,
    now: i64,
    actor: Option<i64>,
) -> Result<DealId> {
    c.prepare_cached(
        "INSERT INTO deals (title, client_id, contact_id, pipeline_id, stage_id, status, amount_minor, currency,
            probability, expected_close, expected_month, owner_id, dept_id, is_open, custom, stage_entered_at,
            created_at, created_day, created_month, updated_at, external_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        d.title, d.client_id, d.contact_id, d.pipeline_id, d.stage_id, d.status.as_i64(), d.amount_minor,
        d.currency.as_str(), d.probability_override, d.expected_close, d.expected_month, d.owner_id, d.dept_id,
        d.open, d.custom, created_at, created_at, created.0, created.1, now, d.external_id
    ])?;
    let id = DealId(c.last_insert_rowid());
    insert_event(
        c,
        id,
        d.pipeline_id,
        None,
        d.stage_id,
        created_at,
        actor,
        None,
    )?;
    Ok(id)
}

/// Rewrites a deal's editable fields if its version is still `expected`.
pub fn update(
    c: &Connection,
    id: DealId,
    expected: i64,
    d: &DealRow<'_>,
    now: i64,
) -> Result<bool> {
    Ok(c.prepare_cached(
        "UPDATE deals SET title = ?, client_id = ?, contact_id = ?, amount_minor = ?, currency = ?, probability = ?,
            expected_close = ?, expected_month = ?, is_open = ?, custom = ?, external_id = ?, version = version + 1, updated_at = ?
         WHERE id = ? AND version = ?",
    )?
    .execute(params![
        d.title, d.client_id, d.contact_id, d.amount_minor, d.currency.as_str(), d.probability_override,
        d.expected_close, d.expected_month, d.open, d.custom, d.external_id, now, id, expected
    ])? == 1)
}

/// What a stage change writes.
pub struct StageChange {
    pub pipeline: PipelineId,
    pub from: StageId,
    pub actor: Option<i64>,
    pub to: StageId,
    pub status: StageKind,
    pub at: i64,
    pub closed: Option<(i64, Buckets)>,
    pub lost_reason: Option<String>,
}

/// Moves a deal to another stage if its version is still `expected`, and records the event.
pub fn change_stage(
    c: &Connection,
    id: DealId,
    expected: i64,
    ch: &StageChange,
    now: i64,
) -> Result<bool> {
    let (closed_at, closed_day, closed_month) = match ch.closed {
        Some((at, (day, month))) => (Some(at), Some(day), Some(month)),
        None => (None, None, None),
    };
    let n = c
        .prepare_cached(
            "UPDATE deals SET stage_id = ?, status = ?, stage_entered_at = ?, closed_at = ?, closed_day = ?, closed_month = ?,
                lost_reason = ?, version = version + 1, updated_at = ?
             WHERE id = ? AND version = ?",
        )?
        .execute(params![ch.to, ch.status.as_i64(), ch.at, closed_at, closed_day, closed_month, ch.lost_reason, now, id, expected])?;
    if n == 1 {
        let reason = ch.lost_reason.as_deref();
        insert_event(
            c,
            id,
            ch.pipeline,
            Some(ch.from),
            ch.to,
            ch.at,
            ch.actor,
            reason,
        )?;
    }
    Ok(n == 1)
}

/// Records a stage event; `lost_reason` is the reason given for entering a lost stage.
#[allow(clippy::too_many_arguments)]
fn insert_event(
    c: &Connection,
    deal: DealId,
    pipeline: PipelineId,
    from: Option<StageId>,
    to: StageId,
    at: i64,
    actor: Option<i64>,
    lost_reason: Option<&str>,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO deal_stage_events (deal_id, pipeline_id, from_stage_id, to_stage_id, at, actor_id, lost_reason)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![deal, pipeline, from, to, at, actor, lost_reason])?;
    Ok(())
}

/// Gives a deal to another owner if its version is still `expected`.
pub fn set_owner(
    c: &Connection,
    id: DealId,
    expected: i64,
    owner: UserId,
    dept: DepartmentId,
    now: i64,
) -> Result<bool> {
    Ok(c.execute(
        "UPDATE deals SET owner_id = ?, dept_id = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?",
        params![owner, dept, now, id, expected],
    )? == 1)
}

/// Deletes a deal with its events; its activities lose the link.
pub fn delete(c: &Connection, id: DealId) -> Result<()> {
    c.execute(
        "UPDATE activities SET deal_id = NULL WHERE deal_id = ?",
        [id],
    )?;
    c.execute("DELETE FROM deals WHERE id = ?", [id])?;
    Ok(())
}

/// The stage events of a deal, oldest first.
pub fn events(c: &Connection, id: DealId) -> Result<Vec<StageEvent>> {
    Ok(history(c, id)?.into_iter().map(|(e, _)| e).collect())
}

/// The stage events of a deal, oldest first, each with the lost reason given when it entered
/// a lost stage (`None` for other stages, and for lost spells recorded before schema 9).
pub fn history(c: &Connection, id: DealId) -> Result<Vec<(StageEvent, Option<String>)>> {
    let mut st = c.prepare_cached(
        "SELECT id, deal_id, from_stage_id, to_stage_id, at, actor_id, lost_reason FROM deal_stage_events
         WHERE deal_id = ? ORDER BY at, id",
    )?;
    let rows = st.query_map([id], |r| {
        let event = StageEvent {
            id: r.get(0)?,
            deal_id: r.get(1)?,
            from_stage_id: r.get(2)?,
            to_stage_id: r.get(3)?,
            at: from_millis(r.get(4)?),
            actor_id: r.get::<_, Option<i64>>(5)?.map(UserId),
        };
        Ok((event, r.get(6)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Filters of a deal list, over alias `d`.
#[derive(Default)]
pub struct DealFilter {
    pub pipeline_id: Option<PipelineId>,
    pub stage_id: Option<StageId>,
    pub status: Option<StageKind>,
    pub client_id: Option<ClientId>,
    pub owner_id: Option<UserId>,
}

impl DealFilter {
    fn render(&self, sql: &mut String, params: &mut Vec<Value>) {
        let mut add = |cond: &str, v: Option<i64>| {
            if let Some(v) = v {
                write!(sql, " AND {cond} = ?").ok();
                params.push(Value::Integer(v));
            }
        };
        add("d.pipeline_id", self.pipeline_id.map(|x| x.0));
        add("d.stage_id", self.stage_id.map(|x| x.0));
        add("d.status", self.status.map(StageKind::as_i64));
        add("d.client_id", self.client_id.map(|x| x.0));
        add("d.owner_id", self.owner_id.map(|x| x.0));
    }
}

/// One keyset page of deals, newest first: one bounded sub-query per permission branch, merged.
pub fn list_page(
    c: &Connection,
    access: &SqlAccess,
    f: &DealFilter,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<Deal>> {
    let mut sql = String::from("WITH page(id) AS (");
    let mut params: Vec<Value> = Vec::new();
    for (i, branch) in access.branches.iter().enumerate() {
        if i > 0 {
            sql.push_str(" UNION ");
        }
        write!(
            sql,
            "SELECT * FROM (SELECT d.id FROM deals d WHERE ({}) AND {} AND d.id < ?",
            branch.sql, access.deny.sql
        )
        .ok();
        params.extend(branch.params.iter().cloned());
        params.extend(access.deny.params.iter().cloned());
        params.push(Value::Integer(before.unwrap_or(i64::MAX)));
        f.render(&mut sql, &mut params);
        sql.push_str(" ORDER BY d.id DESC LIMIT ?)");
        params.push(Value::Integer(limit as i64));
    }
    write!(sql, " ORDER BY 1 DESC LIMIT ?) SELECT {DEAL_COLUMNS} FROM page JOIN deals d ON d.id = page.id ORDER BY d.id DESC").ok();
    params.push(Value::Integer(limit as i64));
    collect(&mut c.prepare_cached(&sql)?, &params)
}

/// The deal holding an external id, if any.
pub fn by_external_id(c: &Connection, external_id: &str) -> Result<Option<DealId>> {
    Ok(
        c.prepare_cached("SELECT id FROM deals WHERE external_id = ?")?
            .query_row([external_id], |r| r.get(0))
            .optional()?,
    )
}

/// Deals of client `org` whose contact person is `person`.
pub fn with_contact(c: &Connection, org: ClientId, person: ClientId) -> Result<Vec<Deal>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {DEAL_COLUMNS} FROM deals d WHERE d.client_id = ? AND d.contact_id = ? ORDER BY d.id"
    ))?;
    collect(&mut st, &[Value::Integer(org.0), Value::Integer(person.0)])
}

/// Clears the contact person of a deal (its version moves on).
pub fn clear_contact(c: &Connection, id: DealId, now: i64) -> Result<()> {
    c.execute(
        "UPDATE deals SET contact_id = NULL, version = version + 1, updated_at = ? WHERE id = ?",
        params![now, id],
    )?;
    Ok(())
}

/// Number of deals referencing a client (as client or contact).
pub fn count_for_client(c: &Connection, id: ClientId) -> Result<i64> {
    Ok(
        c.prepare_cached("SELECT count(*) FROM deals WHERE client_id = ?1 OR contact_id = ?1")?
            .query_row([id], |r| r.get(0))?,
    )
}

/// Deals after id `after` that `access` reaches, by id (for exports).
pub fn export_page(
    c: &Connection,
    access: &SqlAccess,
    after: i64,
    limit: usize,
) -> Result<Vec<Deal>> {
    let pred = access.predicate();
    let sql = format!(
        "SELECT {DEAL_COLUMNS} FROM deals d WHERE {} AND d.id > ? ORDER BY d.id LIMIT ?",
        pred.sql
    );
    let mut params = pred.params;
    params.extend([Value::Integer(after), Value::Integer(limit as i64)]);
    collect(&mut c.prepare_cached(&sql)?, &params)
}

/// The external id of a deal, or `#<id>` when it has none.
pub fn reference(c: &Connection, id: DealId) -> Result<String> {
    let x: Option<Option<String>> = c
        .prepare_cached("SELECT external_id FROM deals WHERE id = ?")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(x.flatten().unwrap_or_else(|| format!("#{id}")))
}

/// The record an import or export reference names: its external id, or `#<id>` (what exports
/// write for records without one) for a record that has no external id.
pub fn by_reference(c: &Connection, reference: &str) -> Result<Option<DealId>> {
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
        c.prepare_cached("SELECT id FROM deals WHERE id = ? AND external_id IS NULL")?
            .query_row([n], |r| r.get(0))
            .optional()?,
    )
}
