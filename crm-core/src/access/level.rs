//! The vocabulary of permissions: entity types, actions and access levels.

use crate::error::{CrmError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A kind of record that permissions are granted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntityType {
    /// Organisations and persons.
    Client,
    /// Deals in pipelines.
    Deal,
    /// Tasks, calls, meetings, e-mails and notes.
    Activity,
}

impl EntityType {
    /// Every entity type, in a stable order.
    pub const ALL: [EntityType; 3] = [EntityType::Client, EntityType::Deal, EntityType::Activity];

    /// The stable lower-case name stored in the database and used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Client => "client",
            EntityType::Deal => "deal",
            EntityType::Activity => "activity",
        }
    }

    /// Parses the stable name; `field` names the input in the error.
    pub fn parse(s: &str, field: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| CrmError::invalid(field, format!("unknown entity type {s:?}")))
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a user does to a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// See the record (get, list, search, count, duplicates).
    Read,
    /// Create a record (the new record must fall inside the granted level).
    Create,
    /// Change fields, archive and restore.
    Update,
    /// Delete for good.
    Delete,
    /// Export to a file.
    Export,
    /// Import from a file.
    Import,
    /// Give the record to another owner.
    Assign,
    /// Move a deal to another stage of its pipeline.
    ChangeStage,
}

impl Action {
    /// Every action, in a stable order.
    pub const ALL: [Action; 8] = [
        Action::Read,
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Export,
        Action::Import,
        Action::Assign,
        Action::ChangeStage,
    ];

    /// The stable lower-case name stored in the database and used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Export => "export",
            Action::Import => "import",
            Action::Assign => "assign",
            Action::ChangeStage => "change_stage",
        }
    }

    /// Parses the stable name; `field` names the input in the error.
    pub fn parse(s: &str, field: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| CrmError::invalid(field, format!("unknown action {s:?}")))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far a grant reaches. Each level includes the ones below it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    /// Nothing (only records open to everyone, when the cell includes them).
    #[default]
    None,
    /// Records the user owns.
    Own,
    /// Records stamped with the user's department, or a department the user heads.
    Department,
    /// Records of those departments and every department below them.
    DepartmentTree,
    /// Every record.
    All,
}

impl AccessLevel {
    /// Every level, lowest first.
    pub const ALL: [AccessLevel; 5] = [
        AccessLevel::None,
        AccessLevel::Own,
        AccessLevel::Department,
        AccessLevel::DepartmentTree,
        AccessLevel::All,
    ];

    /// The integer stored in the database (0 = none … 4 = all).
    pub fn as_i64(self) -> i64 {
        self as i64
    }

    /// The level stored as `n`; `field` names the input in the error.
    pub fn from_i64(n: i64, field: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_i64() == n)
            .ok_or_else(|| CrmError::invalid(field, format!("unknown access level {n}")))
    }
}

/// One cell of a role: the level granted for an (entity type, action) pair, and whether records
/// flagged "open to everyone" are included besides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// The entity type.
    pub entity: EntityType,
    /// The action.
    pub action: Action,
    /// How far the grant reaches.
    pub level: AccessLevel,
    /// Whether records open to everyone are included whatever the level.
    #[serde(default)]
    pub include_open: bool,
}
