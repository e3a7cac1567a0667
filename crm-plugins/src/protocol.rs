//! The JSON-lines protocol between the host and `crm-plugin-runner`, the process that hosts a
//! plugin library out of process. One JSON object per line on the runner's stdin and stdout;
//! the runner's stderr goes to the host log.
//!
//! The runner starts with `crm-plugin-runner serve <plugin dir>`, checks and loads the plugin
//! exactly as the host would, and says `ready` (or `fatal` and exits). The host then sends
//! `create` once and `call`s, one at a time; each is answered by a `result` with the same `id`.
//! While a call runs, the runner may send `log`, `emit` and `crm_call` (answered by the host's
//! `reply` with the same `cb`). `cancel` sets the flag the plugin sees through
//! `is_cancelled`. Closing the runner's stdin destroys the instance and ends the process.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A line from the host to the runner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ToRunner {
    /// Create the instance.
    Create {
        /// Request id.
        id: u64,
        /// The instance's configuration.
        config: Value,
    },
    /// Call a method.
    Call {
        /// Request id.
        id: u64,
        /// Method name.
        method: String,
        /// JSON input.
        input: Value,
    },
    /// Set or clear the cancellation flag.
    Cancel {
        /// The new value.
        cancelled: bool,
    },
    /// The answer to a `crm_call`.
    Reply {
        /// The callback id it answers.
        cb: u64,
        /// `CRM_PLUGIN_*` status.
        status: i32,
        /// The result on success.
        #[serde(default)]
        output: Value,
        /// The JSON error document (as text) on failure.
        #[serde(default)]
        error: Option<String>,
    },
}

/// A line from the runner to the host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum FromRunner {
    /// The plugin is loaded and its table checked.
    Ready {
        /// The table's name.
        name: String,
        /// The table's version.
        version: String,
        /// ABI major.
        abi_major: u16,
        /// ABI minor.
        abi_minor: u16,
    },
    /// The plugin could not be loaded; the runner exits.
    Fatal {
        /// A [`crate::PluginError`] kind (`manifest`, `checksum`, `abi`...).
        kind: String,
        /// What went wrong.
        message: String,
    },
    /// The answer to `create` or `call`.
    Result {
        /// The request id it answers.
        id: u64,
        /// `CRM_PLUGIN_*` status.
        status: i32,
        /// The JSON result on success.
        #[serde(default)]
        output: Value,
        /// The message on failure.
        #[serde(default)]
        error: Option<String>,
    },
    /// A line for the host log.
    Log {
        /// `CRM_PLUGIN_LOG_*` level.
        level: i32,
        /// The text.
        message: String,
    },
    /// A record handed to the host.
    Emit {
        /// The record.
        record: Value,
    },
    /// A CRM call as the plugin's user; the host answers with `reply`.
    CrmCall {
        /// Callback id.
        cb: u64,
        /// Method name.
        method: String,
        /// JSON input.
        input: Value,
    },
}
