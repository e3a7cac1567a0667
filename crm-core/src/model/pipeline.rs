//! Pipelines (sales funnels) and their stages.

use crate::error::{CrmError, Result};
use crate::ids::{PipelineId, StageId};
use crate::model::require_text;
use serde::{Deserialize, Serialize};

/// What reaching a stage means for a deal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// The deal is still being worked.
    #[default]
    Open,
    /// The deal is won.
    Won,
    /// The deal is lost (entering needs a lost reason).
    Lost,
}

impl StageKind {
    pub(crate) fn as_i64(self) -> i64 {
        match self {
            StageKind::Open => 1,
            StageKind::Won => 2,
            StageKind::Lost => 3,
        }
    }

    pub(crate) fn from_i64(n: i64) -> Option<Self> {
        match n {
            1 => Some(StageKind::Open),
            2 => Some(StageKind::Won),
            3 => Some(StageKind::Lost),
            _ => None,
        }
    }
}

/// A deal field that a stage can require before a deal enters it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequiredField {
    /// A non-zero amount.
    Amount,
    /// An expected close date.
    ExpectedCloseDate,
    /// A client.
    Client,
    /// A contact person.
    ContactPerson,
    /// A value of the custom field with this key.
    Custom(String),
}

/// A stage of a pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// Its id.
    pub id: StageId,
    /// Name, unique within the pipeline.
    pub name: String,
    /// Default win probability of deals in this stage, 0–100.
    pub probability: u8,
    /// Open, won or lost.
    pub kind: StageKind,
    /// Days a deal may stay in the stage before it "rots" (automation can act on it).
    pub rotting_days: Option<u32>,
    /// Fields a deal must have to enter the stage.
    pub required_fields: Vec<RequiredField>,
    /// Stages a deal may move to from here; `None` means any stage of the pipeline.
    pub allowed_next: Option<Vec<StageId>>,
}

/// A pipeline: an ordered list of stages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    /// Its id.
    pub id: PipelineId,
    /// Unique name.
    pub name: String,
    /// Stages in funnel order.
    pub stages: Vec<Stage>,
}

impl Pipeline {
    /// The stage with this id, if it belongs to the pipeline.
    pub fn stage(&self, id: StageId) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }
}

/// A stage in a pipeline definition. `id` is set for stages that already exist (to keep them)
/// and left out for new ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// The existing stage this entry keeps; `None` creates a stage.
    #[serde(default)]
    pub id: Option<StageId>,
    /// Name, unique within the pipeline.
    pub name: String,
    /// Default win probability, 0–100.
    pub probability: u8,
    /// Open, won or lost.
    #[serde(default)]
    pub kind: StageKind,
    /// Rotting limit in days (at least 1).
    #[serde(default)]
    pub rotting_days: Option<u32>,
    /// Fields a deal must have to enter.
    #[serde(default)]
    pub required_fields: Vec<RequiredField>,
    /// Allowed next stages by *name* within the same definition; `None` allows any.
    #[serde(default)]
    pub allowed_next: Option<Vec<String>>,
}

impl StageSpec {
    /// A stage with a name, probability and kind, and no other rules.
    pub fn new(name: impl Into<String>, probability: u8, kind: StageKind) -> Self {
        StageSpec {
            id: None,
            name: name.into(),
            probability,
            kind,
            rotting_days: None,
            required_fields: Vec::new(),
            allowed_next: None,
        }
    }
}

/// Checks a list of stage specs on its own: names, probabilities, transitions, at least one
/// open stage.
pub(crate) fn validate_stage_specs(stages: &[StageSpec]) -> Result<()> {
    if stages.is_empty() || stages.len() > 100 {
        return Err(CrmError::invalid(
            "stages",
            "a pipeline has 1 to 100 stages",
        ));
    }
    if !stages.iter().any(|s| s.kind == StageKind::Open) {
        return Err(CrmError::invalid(
            "stages",
            "a pipeline needs at least one open stage",
        ));
    }
    for (i, s) in stages.iter().enumerate() {
        let f = |name: &str| format!("stages[{i}].{name}");
        let name = require_text(&f("name"), &s.name, 100)?;
        if stages[..i].iter().any(|o| o.name.trim() == name) {
            return Err(CrmError::invalid(
                f("name"),
                format!("duplicate stage name {name:?}"),
            ));
        }
        if s.probability > 100 {
            return Err(CrmError::invalid(f("probability"), "must be 0-100"));
        }
        if s.rotting_days == Some(0) {
            return Err(CrmError::invalid(f("rotting_days"), "must be at least 1"));
        }
        if stages[..i].iter().any(|o| o.id.is_some() && o.id == s.id) {
            return Err(CrmError::invalid(f("id"), "stage listed twice"));
        }
        for (j, next) in s.allowed_next.iter().flatten().enumerate() {
            if !stages.iter().any(|o| o.name.trim() == next.trim()) {
                return Err(CrmError::invalid(
                    format!("stages[{i}].allowed_next[{j}]"),
                    format!("no stage named {next:?}"),
                ));
            }
        }
        for (j, r) in s.required_fields.iter().enumerate() {
            if let RequiredField::Custom(k) = r {
                require_text(&format!("stages[{i}].required_fields[{j}]"), k, 64)?;
            }
        }
    }
    Ok(())
}
