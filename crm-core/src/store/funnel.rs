//! SQL for funnel reports: grouped aggregates over the deals (and activities) a plan reaches.
//! Every query takes the actor's plan rendered to SQL; the service folds days into periods.

use crate::access::SqlAccess;
use crate::error::Result;
use crate::ids::{DealId, DepartmentId, PipelineId, StageId, UserId};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, Row};

/// Scope of a report query: pipeline, actor's plan, optional owner and department subtree.
pub struct Scope<'a> {
    pub pipeline: PipelineId,
    pub access: &'a SqlAccess,
    pub owner: Option<UserId>,
    pub department: Option<DepartmentId>,
}

impl Scope<'_> {
    /// `WHERE` conditions over alias `d` and their parameters.
    fn conditions(&self) -> (String, Vec<Value>) {
        let pred = self.access.predicate();
        let mut sql = format!("d.pipeline_id = ? AND {}", pred.sql);
        let mut params = vec![Value::Integer(self.pipeline.0)];
        params.extend(pred.params);
        if let Some(o) = self.owner {
            sql.push_str(" AND d.owner_id = ?");
            params.push(Value::Integer(o.0));
        }
        if let Some(dep) = self.department {
            sql.push_str(
                " AND d.dept_id IN (SELECT descendant FROM department_closure WHERE ancestor = ?)",
            );
            params.push(Value::Integer(dep.0));
        }
        (sql, params)
    }
}

fn query<T>(
    c: &Connection,
    sql: &str,
    params: &[Value],
    f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(params_from_iter(params), f)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// An aggregate row: grouping keys plus count and amount sum of one currency.
#[derive(Clone, Debug)]
pub struct Agg {
    pub stage: StageId,
    pub owner: UserId,
    pub dept: DepartmentId,
    pub currency: String,
    pub count: u64,
    pub amount: i64,
    /// Day number, or month number for month-grouped queries, or an instant in ms for
    /// per-row queries (see each function).
    pub time: i64,
    /// Sum of (closed_at - created_at) in ms, for closed deals.
    pub cycle_ms: i64,
    /// 2 won, 3 lost (closed queries), 1 otherwise.
    pub status: i64,
}

fn agg(r: &Row<'_>) -> rusqlite::Result<Agg> {
    Ok(Agg {
        stage: r.get(0)?,
        owner: r.get(1)?,
        dept: r.get(2)?,
        currency: r.get(3)?,
        count: r.get::<_, i64>(4)?.max(0) as u64,
        amount: r.get(5)?,
        time: r.get(6)?,
        cycle_ms: r.get(7)?,
        status: r.get(8)?,
    })
}

/// Open deals now, per stage, owner, department and currency.
pub fn open_deals(c: &Connection, s: &Scope<'_>) -> Result<Vec<Agg>> {
    let (cond, params) = s.conditions();
    let sql = format!(
        "SELECT d.stage_id, d.owner_id, d.dept_id, d.currency, count(*), sum(d.amount_minor), 0, 0, 1
         FROM deals d WHERE {cond} AND d.status = 1 GROUP BY d.stage_id, d.owner_id, d.dept_id, d.currency"
    );
    query(c, &sql, &params, agg)
}

/// Deals created in `[from_ms, to_ms)`, grouped by stage, month number, owner and currency: the
/// stage × month × manager pivot, read from the maintained counters when the range is whole
/// months of the stored buckets (`months`; `from_ms`/`to_ms` are then those months' bounds), else
/// per deal with `time` = created_at ms.
pub fn created_deals(
    c: &Connection,
    s: &Scope<'_>,
    from_ms: i64,
    to_ms: i64,
    months: Option<(i64, i64)>,
) -> Result<Vec<Agg>> {
    let (cond, mut params) = s.conditions();
    let sql = match months {
        Some((m0, m1)) => {
            // Whole months of the report time zone: read the maintained counters.
            params.extend([Value::Integer(m0), Value::Integer(m1)]);
            format!(
                "SELECT d.stage_id, d.owner_id, min(d.dept_id), d.currency, sum(d.deals), sum(d.amount), d.created_month, 0, 1
                 FROM deal_counters d WHERE {cond} AND d.created_month BETWEEN ? AND ?
                 GROUP BY d.stage_id, d.created_month, d.owner_id, d.currency HAVING sum(d.deals) > 0"
            )
        }
        None => {
            params.extend([Value::Integer(from_ms), Value::Integer(to_ms)]);
            format!(
                "SELECT d.stage_id, d.owner_id, d.dept_id, d.currency, 1, d.amount_minor, d.created_at, 0, 1
                 FROM deals d WHERE {cond} AND d.created_at >= ? AND d.created_at < ?"
            )
        }
    };
    query(c, &sql, &params, agg)
}

/// Deals closed (won or lost) in `[from_ms, to_ms)`, one row per deal with `time` = closed_at ms.
pub fn closed_deals(c: &Connection, s: &Scope<'_>, from_ms: i64, to_ms: i64) -> Result<Vec<Agg>> {
    let (cond, mut params) = s.conditions();
    params.extend([Value::Integer(from_ms), Value::Integer(to_ms)]);
    let sql = format!(
        "SELECT d.stage_id, d.owner_id, d.dept_id, d.currency, 1, d.amount_minor, d.closed_at, d.closed_at - d.created_at, d.status
         FROM deals d WHERE {cond} AND d.status IN (2, 3) AND d.closed_at >= ? AND d.closed_at < ?"
    );
    query(c, &sql, &params, agg)
}

/// Lost reasons of deals lost in `[from_ms, to_ms)` with their counts.
pub fn lost_reasons(
    c: &Connection,
    s: &Scope<'_>,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(String, u64)>> {
    let (cond, mut params) = s.conditions();
    params.extend([Value::Integer(from_ms), Value::Integer(to_ms)]);
    let sql = format!(
        "SELECT coalesce(d.lost_reason, ''), count(*) FROM deals d
         WHERE {cond} AND d.status = 3 AND d.closed_at >= ? AND d.closed_at < ?
         GROUP BY 1 ORDER BY 2 DESC, 1"
    );
    query(c, &sql, &params, |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64))
    })
}

/// (expected close date, currency, effective probability, count, amount sum).
pub type ForecastRow = (String, String, i64, u64, i64);

/// Open deals expected to close in `[from, to)` (ISO dates): (expected date, currency,
/// effective probability, count, amount sum).
pub fn forecast(c: &Connection, s: &Scope<'_>, from: &str, to: &str) -> Result<Vec<ForecastRow>> {
    let (cond, mut params) = s.conditions();
    params.extend([Value::Text(from.into()), Value::Text(to.into())]);
    let sql = format!(
        "SELECT d.expected_close, d.currency, coalesce(d.probability, st.probability), count(*), sum(d.amount_minor)
         FROM deals d JOIN stages st ON st.id = d.stage_id
         WHERE {cond} AND d.status = 1 AND d.expected_close >= ? AND d.expected_close < ?
         GROUP BY 1, 2, 3"
    );
    query(c, &sql, &params, |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get::<_, i64>(3)?.max(0) as u64,
            r.get(4)?,
        ))
    })
}

/// Stage events of deals created in `[from_ms, to_ms)`, by deal then time: (deal, stage, at ms).
pub fn events(
    c: &Connection,
    s: &Scope<'_>,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(DealId, StageId, i64)>> {
    let (cond, mut params) = s.conditions();
    params.extend([Value::Integer(from_ms), Value::Integer(to_ms)]);
    let sql = format!(
        "SELECT e.deal_id, e.to_stage_id, e.at FROM deal_stage_events e JOIN deals d ON d.id = e.deal_id
         WHERE {cond} AND d.created_at >= ? AND d.created_at < ? ORDER BY e.deal_id, e.at, e.id"
    );
    query(c, &sql, &params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
}

/// Activities done in `[from_ms, to_ms)` readable under `access`, optionally of one owner or a
/// department subtree: (owner, kind, done_at ms).
pub fn done_activities(
    c: &Connection,
    access: &SqlAccess,
    owner: Option<UserId>,
    department: Option<DepartmentId>,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(UserId, String, i64)>> {
    let pred = access.predicate();
    let mut sql = format!("SELECT a.owner_id, a.kind, a.done_at FROM activities a WHERE {} AND a.done_at >= ? AND a.done_at < ?", pred.sql);
    let mut params = pred.params;
    params.extend([Value::Integer(from_ms), Value::Integer(to_ms)]);
    if let Some(o) = owner {
        sql.push_str(" AND a.owner_id = ?");
        params.push(Value::Integer(o.0));
    }
    if let Some(dep) = department {
        sql.push_str(
            " AND a.dept_id IN (SELECT descendant FROM department_closure WHERE ancestor = ?)",
        );
        params.push(Value::Integer(dep.0));
    }
    query(c, &sql, &params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
}

/// The currencies used by deals of a pipeline.
pub fn currencies(c: &Connection, pipeline: PipelineId) -> Result<Vec<String>> {
    query(
        c,
        "SELECT DISTINCT currency FROM deals WHERE pipeline_id = ? ORDER BY 1",
        &[Value::Integer(pipeline.0)],
        |r| r.get(0),
    )
}
