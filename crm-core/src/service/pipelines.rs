//! Configuring pipelines (administrators) and reading them (everyone).

use crate::access::EntityType;
use crate::crm::{Crm, WriteCx};
use crate::error::{CrmError, Result};
use crate::ids::{PipelineId, StageId};
use crate::model::{require_text, validate_stage_specs, Pipeline, Stage, StageSpec};
use crate::store::pipelines;
use crate::Ctx;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Where the deals of a removed stage go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRemap {
    /// The stage being removed.
    pub from: StageId,
    /// A kept stage of the same kind that receives its deals.
    pub to: StageId,
}

/// A new definition of an existing pipeline.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineUpdate {
    /// New name, if it changes.
    #[serde(default)]
    pub name: Option<String>,
    /// The full new list of stages, in order. Entries with an `id` keep that stage (and its
    /// deals); entries without create stages; existing stages not listed are removed.
    pub stages: Vec<StageSpec>,
    /// For each removed stage that holds deals, where they go. Editing never orphans a deal.
    #[serde(default)]
    pub remap: Vec<StageRemap>,
}

fn pipeline_must_exist(cx: &WriteCx<'_>, id: PipelineId) -> Result<Pipeline> {
    pipelines::get(cx.tx, id)?.ok_or(CrmError::NotFound {
        entity: "pipeline",
        id: id.0,
    })
}

/// Writes the stages of `specs` for pipeline `id` (inserting new ones, updating kept ones) and
/// resolves transitions by name. Returns the ids in order.
fn write_stages(cx: &WriteCx<'_>, id: PipelineId, specs: &[StageSpec]) -> Result<Vec<StageId>> {
    let mut ids = Vec::with_capacity(specs.len());
    for (pos, s) in specs.iter().enumerate() {
        let stage = Stage {
            id: s.id.unwrap_or_default(),
            name: s.name.trim().to_string(),
            probability: s.probability,
            kind: s.kind,
            rotting_days: s.rotting_days,
            required_fields: s.required_fields.clone(),
            allowed_next: None,
        };
        ids.push(match s.id {
            Some(_) => {
                pipelines::update_stage(cx.tx, pos, &stage)?;
                stage.id
            }
            None => pipelines::insert_stage(cx.tx, id, pos, &stage)?,
        });
    }
    for (s, sid) in specs.iter().zip(&ids) {
        let next: Option<Vec<StageId>> = s.allowed_next.as_ref().map(|names| {
            names
                .iter()
                .filter_map(|n| {
                    specs
                        .iter()
                        .position(|o| o.name.trim() == n.trim())
                        .map(|i| ids[i])
                })
                .collect()
        });
        pipelines::set_allowed_next(cx.tx, *sid, next.as_deref())?;
    }
    Ok(ids)
}

impl Crm {
    /// Creates a pipeline with its stages (in funnel order).
    ///
    /// ```
    /// # fn main() -> crm_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let crm = crm_core::Crm::open(dir.path().join("crm.db"))?;
    /// use crm_core::model::{StageKind, StageSpec};
    /// let sys = crm.system_context("setup")?;
    /// let p = crm.create_pipeline(&sys, "Sales", &[
    ///     StageSpec::new("Lead", 10, StageKind::Open),
    ///     StageSpec::new("Won", 100, StageKind::Won),
    ///     StageSpec::new("Lost", 0, StageKind::Lost),
    /// ])?;
    /// assert_eq!(p.stages.len(), 3);
    /// # Ok(()) }
    /// ```
    pub fn create_pipeline(&self, ctx: &Ctx, name: &str, stages: &[StageSpec]) -> Result<Pipeline> {
        self.write(ctx, |cx| {
            cx.require_admin("create_pipeline")?;
            let name = require_text("name", name, 200)?;
            validate_stage_specs(stages)?;
            if let Some(i) = stages.iter().position(|s| s.id.is_some()) {
                return Err(CrmError::invalid(
                    format!("stages[{i}].id"),
                    "a new pipeline has no existing stages",
                ));
            }
            if pipelines::name_taken(cx.tx, &name, None)? {
                return Err(CrmError::invalid(
                    "name",
                    format!("a pipeline named {name:?} exists"),
                ));
            }
            let id = pipelines::insert(cx.tx, &name)?;
            write_stages(cx, id, stages)?;
            let p = pipeline_must_exist(cx, id)?;
            cx.audit(
                "pipeline.create",
                "pipeline",
                Some(id.0),
                &json!({"pipeline": [null, &p]}),
            )?;
            Ok(p)
        })
    }

    /// Redefines a pipeline's name and stages. Removing a stage that holds deals needs a
    /// [`StageRemap`] to a kept stage of the same kind; the moves are recorded as stage events.
    pub fn update_pipeline(
        &self,
        ctx: &Ctx,
        id: PipelineId,
        update: &PipelineUpdate,
    ) -> Result<Pipeline> {
        self.write(ctx, |cx| {
            cx.require_admin("update_pipeline")?;
            let old = pipeline_must_exist(cx, id)?;
            validate_stage_specs(&update.stages)?;
            for (i, s) in update.stages.iter().enumerate() {
                if let Some(sid) = s.id {
                    if old.stage(sid).is_none() {
                        return Err(CrmError::invalid(
                            format!("stages[{i}].id"),
                            format!("stage {sid} is not in pipeline {id}"),
                        ));
                    }
                }
            }
            let name = match &update.name {
                Some(n) => {
                    let n = require_text("name", n, 200)?;
                    if pipelines::name_taken(cx.tx, &n, Some(id))? {
                        return Err(CrmError::invalid(
                            "name",
                            format!("a pipeline named {n:?} exists"),
                        ));
                    }
                    n
                }
                None => old.name.clone(),
            };
            let kept = |sid: StageId| update.stages.iter().any(|s| s.id == Some(sid));
            // A stage's kind decides its deals' status: it cannot change under deals.
            for (i, s) in update.stages.iter().enumerate() {
                let Some(before) = s.id.and_then(|sid| old.stage(sid)) else {
                    continue;
                };
                let holding = pipelines::deals_in_stage(cx.tx, before.id)?.len();
                if before.kind != s.kind && holding > 0 {
                    return Err(CrmError::invalid(
                        format!("stages[{i}].kind"),
                        format!(
                            "stage {:?} holds {holding} deals: move them before changing its kind",
                            before.name
                        ),
                    ));
                }
            }
            for (i, r) in update.remap.iter().enumerate() {
                let from = old.stage(r.from).filter(|_| !kept(r.from));
                let to = update.stages.iter().find(|s| s.id == Some(r.to));
                match (from, to) {
                    (None, _) => {
                        return Err(CrmError::invalid(
                            format!("remap[{i}].from"),
                            format!("stage {} is not a removed stage of this pipeline", r.from),
                        ))
                    }
                    (_, None) => {
                        return Err(CrmError::invalid(
                            format!("remap[{i}].to"),
                            format!("stage {} is not a kept stage of this pipeline", r.to),
                        ))
                    }
                    (Some(f), Some(t)) if f.kind != t.kind => {
                        return Err(CrmError::invalid(
                            format!("remap[{i}].to"),
                            "the target stage must be of the same kind",
                        ))
                    }
                    _ => {}
                }
            }
            pipelines::rename(cx.tx, id, &name)?;
            write_stages(cx, id, &update.stages)?;
            let actor = cx.ctx.user_id().map(|u| u.0);
            for removed in old.stages.iter().filter(|s| !kept(s.id)) {
                let holding = pipelines::deals_in_stage(cx.tx, removed.id)?;
                if !holding.is_empty() {
                    let Some(r) = update.remap.iter().find(|r| r.from == removed.id) else {
                        return Err(CrmError::Constraint {
                            entity: "stage",
                            id: removed.id.0,
                            message: format!(
                                "holds {} deals: give a remap target to remove it",
                                holding.len()
                            ),
                        });
                    };
                    pipelines::move_all_deals(
                        cx.tx,
                        removed.id,
                        r.to,
                        removed.kind,
                        cx.now,
                        actor,
                    )?;
                    for (deal, acl) in holding {
                        let change = json!({ "stage_id": [removed.id, r.to] });
                        cx.changed("deal.change_stage", EntityType::Deal, deal.0, &acl, &change)?;
                    }
                }
                pipelines::delete_stage(cx.tx, removed.id)?;
            }
            let new = pipeline_must_exist(cx, id)?;
            cx.audit(
                "pipeline.update",
                "pipeline",
                Some(id.0),
                &json!({"pipeline": [&old, &new]}),
            )?;
            Ok(new)
        })
    }

    /// A pipeline with its stages.
    pub fn pipeline(&self, ctx: &Ctx, id: PipelineId) -> Result<Pipeline> {
        self.read(ctx, |c, _| {
            pipelines::get(c, id)?.ok_or(CrmError::NotFound {
                entity: "pipeline",
                id: id.0,
            })
        })
    }

    /// Every pipeline.
    pub fn pipelines(&self, ctx: &Ctx) -> Result<Vec<Pipeline>> {
        self.read(ctx, |c, _| {
            pipelines::ids(c)?
                .into_iter()
                .filter_map(|id| pipelines::get(c, id).transpose())
                .collect()
        })
    }
}
