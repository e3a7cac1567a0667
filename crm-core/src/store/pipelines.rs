//! SQL for pipelines and stages.

use super::json_column;
use crate::error::{CrmError, Result};
use crate::ids::{PipelineId, StageId};
use crate::model::{Pipeline, RequiredField, Stage, StageKind};
use rusqlite::{params, Connection, OptionalExtension};

fn corrupt(what: String, message: String) -> CrmError {
    CrmError::Corrupt { what, message }
}

/// A pipeline with its stages in order.
pub fn get(c: &Connection, id: PipelineId) -> Result<Option<Pipeline>> {
    let name: Option<String> = c
        .prepare_cached("SELECT name FROM pipelines WHERE id = ?")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    let Some(name) = name else { return Ok(None) };
    let mut st = c.prepare_cached(
        "SELECT id, name, probability, kind, rotting_days, required_fields, allowed_next
         FROM stages WHERE pipeline_id = ? ORDER BY position",
    )?;
    let rows = st.query_map([id], |r| {
        Ok((
            r.get::<_, StageId>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, Option<String>>(6)?,
        ))
    })?;
    let mut stages = Vec::new();
    for row in rows {
        let (sid, sname, prob, kind, rot, req, next) = row?;
        let what = || format!("stages {sid}");
        stages.push(Stage {
            id: sid,
            name: sname,
            probability: u8::try_from(prob)
                .map_err(|_| corrupt(what(), format!("probability {prob}")))?,
            kind: StageKind::from_i64(kind)
                .ok_or_else(|| corrupt(what(), format!("kind {kind}")))?,
            rotting_days: rot.and_then(|d| u32::try_from(d).ok()),
            required_fields: json_column::<Vec<RequiredField>>(&req, what)?,
            allowed_next: next
                .map(|n| json_column::<Vec<StageId>>(&n, what))
                .transpose()?,
        });
    }
    Ok(Some(Pipeline { id, name, stages }))
}

/// Every pipeline id, in creation order.
pub fn ids(c: &Connection) -> Result<Vec<PipelineId>> {
    let mut st = c.prepare_cached("SELECT id FROM pipelines ORDER BY id")?;
    let rows = st.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether a pipeline with this name exists (other than `except`).
pub fn name_taken(c: &Connection, name: &str, except: Option<PipelineId>) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT 1 FROM pipelines WHERE name = ? AND id IS NOT ?")?
            .exists(params![name, except])?,
    )
}

/// Inserts a pipeline row.
pub fn insert(c: &Connection, name: &str) -> Result<PipelineId> {
    c.execute("INSERT INTO pipelines (name) VALUES (?)", [name])?;
    Ok(PipelineId(c.last_insert_rowid()))
}

/// Renames a pipeline.
pub fn rename(c: &Connection, id: PipelineId, name: &str) -> Result<()> {
    c.execute(
        "UPDATE pipelines SET name = ? WHERE id = ?",
        params![name, id],
    )?;
    Ok(())
}

/// Inserts a stage (transitions are written afterwards with [`set_allowed_next`]).
pub fn insert_stage(
    c: &Connection,
    pipeline: PipelineId,
    position: usize,
    s: &Stage,
) -> Result<StageId> {
    c.execute(
        "INSERT INTO stages (pipeline_id, name, position, probability, kind, rotting_days, required_fields)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        params![
            pipeline,
            s.name,
            position as i64,
            s.probability,
            s.kind.as_i64(),
            s.rotting_days,
            serde_json::to_string(&s.required_fields).unwrap_or_else(|_| "[]".into())
        ],
    )?;
    Ok(StageId(c.last_insert_rowid()))
}

/// Rewrites an existing stage's attributes and position.
pub fn update_stage(c: &Connection, position: usize, s: &Stage) -> Result<()> {
    c.execute(
        "UPDATE stages SET name = ?, position = ?, probability = ?, kind = ?, rotting_days = ?, required_fields = ?
         WHERE id = ?",
        params![
            s.name,
            position as i64,
            s.probability,
            s.kind.as_i64(),
            s.rotting_days,
            serde_json::to_string(&s.required_fields).unwrap_or_else(|_| "[]".into()),
            s.id
        ],
    )?;
    Ok(())
}

/// Sets the allowed transitions of a stage (`None` = any).
pub fn set_allowed_next(c: &Connection, id: StageId, next: Option<&[StageId]>) -> Result<()> {
    let json = next.map(|n| serde_json::to_string(n).unwrap_or_else(|_| "[]".into()));
    c.execute(
        "UPDATE stages SET allowed_next = ? WHERE id = ?",
        params![json, id],
    )?;
    Ok(())
}

/// Moves every deal of stage `from` to stage `to` (keeping their history), recording a stage
/// event for each; returns the number moved.
pub fn move_all_deals(
    c: &Connection,
    from: StageId,
    to: StageId,
    status: StageKind,
    now: i64,
    actor: Option<i64>,
) -> Result<usize> {
    // Deals moved into a lost stage keep the reason they have (`change_stage` records it too).
    c.execute(
        "INSERT INTO deal_stage_events (deal_id, pipeline_id, from_stage_id, to_stage_id, at, actor_id, lost_reason)
         SELECT id, pipeline_id, stage_id, ?2, ?3, ?4, CASE WHEN ?5 THEN lost_reason END FROM deals WHERE stage_id = ?1",
        params![from, to, now, actor, status == StageKind::Lost],
    )?;
    Ok(c.execute(
        "UPDATE deals SET stage_id = ?2, status = ?3, stage_entered_at = ?4, version = version + 1, updated_at = ?4
         WHERE stage_id = ?1",
        params![from, to, status.as_i64(), now],
    )?)
}

/// Deletes a stage that holds no deals; automation rules on it are removed too.
pub fn delete_stage(c: &Connection, id: StageId) -> Result<()> {
    c.execute("DELETE FROM automation_rules WHERE stage_id = ?", [id])?;
    c.execute("DELETE FROM stages WHERE id = ?", [id])?;
    Ok(())
}

/// Whether a stage exists.
pub fn stage_exists(c: &Connection, id: StageId) -> Result<bool> {
    Ok(c.prepare_cached("SELECT 1 FROM stages WHERE id = ?")?
        .exists([id])?)
}

/// The deals in a stage with their permission attributes.
pub fn deals_in_stage(
    c: &Connection,
    id: StageId,
) -> Result<Vec<(crate::ids::DealId, crate::access::RecordAcl)>> {
    let mut st = c.prepare_cached(
        "SELECT id, owner_id, dept_id, is_open FROM deals WHERE stage_id = ? ORDER BY id",
    )?;
    let rows = st.query_map([id], |r| {
        Ok((
            r.get(0)?,
            crate::access::RecordAcl {
                owner_id: r.get(1)?,
                department_id: r.get(2)?,
                open: r.get(3)?,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
