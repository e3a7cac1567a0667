//! Events of the transactional outbox.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A change to a client, deal or activity, as delivered to consumers (plugins).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// Position in commit order; consumers acknowledge up to an id.
    pub id: i64,
    /// When the change was committed.
    pub at: DateTime<Utc>,
    /// What happened, e.g. `client.create`, `deal.change_stage`, `activity.update`.
    pub event_type: String,
    /// `client`, `deal` or `activity`.
    pub entity: String,
    /// The record.
    pub entity_id: i64,
    /// `{"actor": …, "changes": {field: [old, new]}}`.
    pub payload: Value,
}
