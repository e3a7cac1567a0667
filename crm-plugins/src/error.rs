//! [`PluginError`], the one error type of the plugin host and loader.

use crate::call::CallError;
use serde::Serialize;

/// Everything that can go wrong loading, enabling or calling a plugin. Every variant has a
/// stable [`code`](PluginError::code) (60–79, between the engine's codes and the C layer's)
/// and a stable [`kind`](PluginError::kind) name, and serialises to a JSON error document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The host was configured without a plugin directory: plugin loading is off.
    #[error("plugins are disabled: the host has no plugin directory")]
    Disabled,
    /// No plugin of that id in the plugin directory.
    #[error("no plugin {0:?} in the plugin directory")]
    NotFound(String),
    /// The manifest is missing, unreadable or invalid.
    #[error("plugin {id:?}: bad manifest {path}: {message}")]
    Manifest {
        /// The plugin (its directory name).
        id: String,
        /// The manifest file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The library's sha256 is not the one the manifest names.
    #[error("plugin {id:?}: {library} has sha256 {actual}, the manifest expects {expected}")]
    Checksum {
        /// The plugin.
        id: String,
        /// The library file.
        library: String,
        /// The manifest's value.
        expected: String,
        /// The file's.
        actual: String,
    },
    /// The library cannot be used with this host: no entry symbol, another ABI major, a newer
    /// minor, a table smaller than it claims, a library that does not load.
    #[error("plugin {id:?}: {message}")]
    Abi {
        /// The plugin.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// The plugin is already enabled.
    #[error("plugin {0:?} is already enabled")]
    AlreadyEnabled(String),
    /// The plugin is not enabled.
    #[error("plugin {0:?} is not enabled")]
    NotEnabled(String),
    /// The plugin's `create` failed.
    #[error("plugin {id:?} could not start: {error}")]
    Create {
        /// The plugin.
        id: String,
        /// Its status and message.
        error: CallError,
    },
    /// A call failed in the plugin (its status and message).
    #[error("plugin {id:?}, method {method:?}: {error}")]
    Call {
        /// The plugin.
        id: String,
        /// The method called.
        method: String,
        /// Its status and message.
        error: CallError,
    },
    /// The out-of-process runner died (crashed, was killed) or stopped answering; the next call
    /// starts a new one.
    #[error("plugin {id:?}: runner process failed: {message}")]
    Crashed {
        /// The plugin.
        id: String,
        /// What happened (exit status, signal, timeout).
        message: String,
    },
    /// An option passed by the host application is invalid.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The option.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or a process started.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's complaint.
        message: String,
    },
    /// The CRM refused a bookkeeping call of the host (cursor, user).
    #[cfg(feature = "host")]
    #[error(transparent)]
    Crm(#[from] crm_core::CrmError),
}

impl PluginError {
    /// Stable numeric code.
    ///
    /// | code | kind |
    /// |---|---|
    /// | 60 | disabled |
    /// | 61 | not_found |
    /// | 62 | manifest |
    /// | 63 | checksum |
    /// | 64 | abi |
    /// | 65 | already_enabled |
    /// | 66 | not_enabled |
    /// | 67 | create |
    /// | 68 | call |
    /// | 69 | crashed |
    /// | 70 | invalid |
    /// | 71 | io |
    /// | engine code | crm (the engine's own code, 2–12) |
    pub fn code(&self) -> i32 {
        match self {
            PluginError::Disabled => 60,
            PluginError::NotFound(_) => 61,
            PluginError::Manifest { .. } => 62,
            PluginError::Checksum { .. } => 63,
            PluginError::Abi { .. } => 64,
            PluginError::AlreadyEnabled(_) => 65,
            PluginError::NotEnabled(_) => 66,
            PluginError::Create { .. } => 67,
            PluginError::Call { .. } => 68,
            PluginError::Crashed { .. } => 69,
            PluginError::Invalid { .. } => 70,
            PluginError::Io { .. } => 71,
            #[cfg(feature = "host")]
            PluginError::Crm(e) => e.code(),
        }
    }

    /// Stable lower-case name of the variant.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Disabled => "disabled",
            PluginError::NotFound(_) => "not_found",
            PluginError::Manifest { .. } => "manifest",
            PluginError::Checksum { .. } => "checksum",
            PluginError::Abi { .. } => "abi",
            PluginError::AlreadyEnabled(_) => "already_enabled",
            PluginError::NotEnabled(_) => "not_enabled",
            PluginError::Create { .. } => "create",
            PluginError::Call { .. } => "call",
            PluginError::Crashed { .. } => "crashed",
            PluginError::Invalid { .. } => "invalid",
            PluginError::Io { .. } => "io",
            #[cfg(feature = "host")]
            PluginError::Crm(_) => "crm",
        }
    }

    /// For a failed call: the plugin's status (`CRM_PLUGIN_*`).
    pub fn plugin_status(&self) -> Option<i32> {
        match self {
            PluginError::Call { error, .. } | PluginError::Create { error, .. } => {
                Some(error.status)
            }
            _ => None,
        }
    }

    /// The JSON error document: `{"code", "kind", "message"}` plus `plugin_status` for failed
    /// calls.
    pub fn to_json(&self) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "code": self.code(),
            "kind": self.kind(),
            "message": self.to_string(),
        });
        if let Some(s) = self.plugin_status() {
            doc["plugin_status"] = s.into();
            doc["plugin_status_name"] = crate::call::status_name(s).into();
        }
        doc
    }

    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        PluginError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

impl Serialize for PluginError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}
