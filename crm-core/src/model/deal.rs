//! Deals and their stage history.

use crate::ids::{ClientId, DealId, DepartmentId, PipelineId, StageId, UserId};
use crate::model::{Patch, StageKind};
use crate::money::Currency;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A stored deal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deal {
    /// Its id.
    pub id: DealId,
    /// Title.
    pub title: String,
    /// The client (organisation or person).
    pub client_id: Option<ClientId>,
    /// The contact person at the client.
    pub contact_id: Option<ClientId>,
    /// The pipeline.
    pub pipeline_id: PipelineId,
    /// The current stage.
    pub stage_id: StageId,
    /// Open, won or lost: the kind of the current stage.
    pub status: StageKind,
    /// Amount in minor units of `currency`.
    pub amount_minor: i64,
    /// ISO 4217 currency.
    pub currency: Currency,
    /// Per-deal probability override (0–100); `None` uses the stage default.
    pub probability_override: Option<u8>,
    /// The probability in effect: the override or the stage default.
    pub probability: u8,
    /// Expected close date.
    pub expected_close_date: Option<NaiveDate>,
    /// The responsible manager.
    pub owner_id: UserId,
    /// The owner's department, stamped for permission checks.
    pub department_id: DepartmentId,
    /// Open to everyone.
    pub open: bool,
    /// Custom field values.
    pub custom: BTreeMap<String, Value>,
    /// Why the deal was lost (set when it entered a lost stage).
    pub lost_reason: Option<String>,
    /// When it was won or lost; `None` while open.
    pub closed_at: Option<DateTime<Utc>>,
    /// When it entered its current stage.
    pub stage_entered_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Time of the last change.
    pub updated_at: DateTime<Utc>,
    /// Identifier in another system (unique), used to match imports.
    pub external_id: Option<String>,
}

/// Input for creating a deal.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDeal {
    /// Title (1–300 characters).
    pub title: String,
    /// The client; must be readable by the actor.
    #[serde(default)]
    pub client_id: Option<ClientId>,
    /// A person who is the client's contact (or the client itself when it is a person).
    #[serde(default)]
    pub contact_id: Option<ClientId>,
    /// The pipeline.
    pub pipeline_id: PipelineId,
    /// The first stage; defaults to the pipeline's first stage. It must be open and its
    /// required fields present.
    #[serde(default)]
    pub stage_id: Option<StageId>,
    /// Amount in minor units (not negative).
    #[serde(default)]
    pub amount_minor: i64,
    /// ISO 4217 currency.
    pub currency: Currency,
    /// Probability override, 0–100.
    #[serde(default)]
    pub probability_override: Option<u8>,
    /// Expected close date.
    #[serde(default)]
    pub expected_close_date: Option<NaiveDate>,
    /// Owner; defaults to the acting user (required in the system context).
    #[serde(default)]
    pub owner_id: Option<UserId>,
    /// Open to everyone.
    #[serde(default)]
    pub open: bool,
    /// Custom field values.
    #[serde(default)]
    pub custom: BTreeMap<String, Value>,
    /// Creation time to record instead of now (for importing history); not in the future.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Identifier in another system (unique), used to match imports.
    #[serde(default)]
    pub external_id: Option<String>,
}

impl NewDeal {
    /// A new deal with a title, pipeline and currency, and every other field at its default
    /// (first open stage, no amount, owned by the acting user); fill in the rest with struct
    /// update syntax: `NewDeal { amount_minor: 5000, ..NewDeal::new("Renewal", p, eur) }`.
    pub fn new(title: impl Into<String>, pipeline_id: PipelineId, currency: Currency) -> Self {
        NewDeal {
            title: title.into(),
            client_id: None,
            contact_id: None,
            pipeline_id,
            stage_id: None,
            amount_minor: 0,
            currency,
            probability_override: None,
            expected_close_date: None,
            owner_id: None,
            open: false,
            custom: BTreeMap::new(),
            created_at: None,
            external_id: None,
        }
    }
}

/// A change to a deal's fields. Stage changes go through `Crm::move_deal`, the owner through
/// `Crm::assign_deal`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealUpdate {
    /// New title.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub title: Patch<String>,
    /// New client or `null`.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub client_id: Patch<Option<ClientId>>,
    /// New contact person or `null`.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub contact_id: Patch<Option<ClientId>>,
    /// New amount.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub amount_minor: Patch<i64>,
    /// New currency.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub currency: Patch<Currency>,
    /// New probability override, or `null` for the stage default.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub probability_override: Patch<Option<u8>>,
    /// New expected close date, or `null`.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub expected_close_date: Patch<Option<NaiveDate>>,
    /// New open flag.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub open: Patch<bool>,
    /// Custom values to merge (`null` removes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, Value>,
    /// New external id, or `null` to clear.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub external_id: Patch<Option<String>>,
}

/// A request to move a deal to another stage.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageMove {
    /// The target stage (of the deal's pipeline).
    pub stage_id: StageId,
    /// Required when the target stage is a lost stage.
    #[serde(default)]
    pub lost_reason: Option<String>,
    /// When the move happened, instead of now (for importing history); not in the future and
    /// not before the deal entered its current stage.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// One stage change of a deal (its first entry has no `from_stage_id`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageEvent {
    /// Its id.
    pub id: i64,
    /// The deal.
    pub deal_id: DealId,
    /// The stage left; `None` for the deal's creation.
    pub from_stage_id: Option<StageId>,
    /// The stage entered.
    pub to_stage_id: StageId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who moved it; `None` for the system context.
    pub actor_id: Option<UserId>,
}

/// A page request for deals, ordered by id (newest first).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealQuery {
    /// Only deals of this pipeline.
    #[serde(default)]
    pub pipeline_id: Option<PipelineId>,
    /// Only deals in this stage.
    #[serde(default)]
    pub stage_id: Option<StageId>,
    /// Only deals with this status.
    #[serde(default)]
    pub status: Option<StageKind>,
    /// Only deals of this client.
    #[serde(default)]
    pub client_id: Option<ClientId>,
    /// Only deals of this owner.
    #[serde(default)]
    pub owner_id: Option<UserId>,
    /// Page size, 1–500 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    #[serde(default)]
    pub after: Option<String>,
}
