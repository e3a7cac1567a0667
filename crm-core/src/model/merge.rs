//! Merging duplicate clients.

use crate::ids::ClientId;
use crate::model::Client;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which side a merged field comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeChoice {
    /// Keep the survivor's value.
    Survivor,
    /// Take the duplicate's value.
    Duplicate,
    /// Both (lists only: e-mails, phones, addresses, tags; the default for lists).
    Both,
}

/// A merge of `duplicate_id` into `survivor_id`.
///
/// Fields are resolved one by one: equal values, or a value only one side has, need no choice;
/// a field where both sides hold different values (e.g. two tax ids) needs an explicit choice in
/// `choices`, keyed by field name (`name`, `parent_id`, `tax_id`, `registration_number`,
/// `external_id`, `open`, `owner_id`, `emails`, `phones`, `addresses`, `tags`, `custom.<key>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The client that stays.
    pub survivor_id: ClientId,
    /// The client merged into it; it is archived afterwards.
    pub duplicate_id: ClientId,
    /// Explicit choices per field.
    #[serde(default)]
    pub choices: BTreeMap<String, MergeChoice>,
}

/// What a merge did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergeOutcome {
    /// Pass to `Crm::undo_merge` to undo it.
    pub merge_id: i64,
    /// The survivor after the merge.
    pub survivor: Client,
    /// Deals moved (as client or contact person).
    pub deals: u64,
    /// Activities moved.
    pub activities: u64,
    /// Contact links moved (links the survivor already had are dropped).
    pub contacts: u64,
    /// Subsidiaries moved.
    pub subsidiaries: u64,
}
