//! The storage layer: every SQL statement of the engine lives under this module (and the SQL
//! rendering of access plans in `access::sql`), so another backend can be added without touching
//! the domain code.

pub(crate) mod activities;
pub(crate) mod audit;
pub(crate) mod automation;
pub(crate) mod backup;
mod checkpoint;
pub(crate) mod client_search;
pub(crate) mod clients;
pub(crate) mod custom_fields;
pub(crate) mod deals;
pub(crate) mod funnel;
pub(crate) mod merge;
pub(crate) mod migrations;
pub(crate) mod org;
pub(crate) mod outbox;
pub(crate) mod pipelines;
mod pool;
pub(crate) mod settings;
pub(crate) mod timeline;

pub(crate) use pool::{lock, Pool};
pub use pool::{Durability, OpenOptions};

use crate::error::{CrmError, Result};
use chrono::{DateTime, Utc};

/// Milliseconds since the Unix epoch to a UTC time (out-of-range values clamp to the epoch).
pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Decodes a JSON column; `what` names the column for the error.
pub(crate) fn json_column<T: serde::de::DeserializeOwned>(
    s: &str,
    what: impl FnOnce() -> String,
) -> Result<T> {
    serde_json::from_str(s).map_err(|e| CrmError::Corrupt {
        what: what(),
        message: e.to_string(),
    })
}
