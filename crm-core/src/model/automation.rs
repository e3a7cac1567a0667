//! Automation rules: conditions that create tasks when `Crm::run_due` runs.

use crate::ids::{RuleId, StageId};
use serde::{Deserialize, Serialize};

/// When a rule fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleTrigger {
    /// A client (not archived) has had no activity for `days` days: a task for its owner.
    ClientIdle {
        /// Idle days (1–3650).
        days: u32,
    },
    /// An open deal has stayed in its stage longer than the stage's rotting limit: a task for
    /// the deal's owner.
    DealRotting,
    /// A deal entered this stage (after the rule was created): a task for the deal's owner.
    StageEntered {
        /// The stage.
        stage_id: StageId,
    },
}

/// A stored rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationRule {
    /// Its id.
    pub id: RuleId,
    /// When it fires.
    pub trigger: RuleTrigger,
    /// Subject of the task it creates.
    pub task_subject: String,
    /// The task is due this many days after the run.
    pub due_in_days: u32,
    /// Inactive rules do nothing.
    pub active: bool,
}

/// Input for creating a rule.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAutomationRule {
    /// When it fires.
    pub trigger: RuleTrigger,
    /// Subject of the task it creates (1–300 characters).
    pub task_subject: String,
    /// The task is due this many days after the run (0–365, default 1).
    #[serde(default = "one")]
    pub due_in_days: u32,
}

fn one() -> u32 {
    1
}

/// The tasks one rule created in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleTasks {
    /// The rule.
    pub rule_id: RuleId,
    /// Tasks it created.
    pub tasks: u32,
}

/// What one `run_due` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationReport {
    /// Tasks created, per rule that created any.
    pub created: Vec<RuleTasks>,
    /// Tasks created in all.
    pub total: u32,
}
