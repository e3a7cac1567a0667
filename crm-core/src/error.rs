//! The one error type of the engine.
//!
//! Every variant has a stable numeric [`CrmError::code`]; the C ABI returns the same numbers as its
//! status codes, so a host can switch on them without parsing messages. Messages name the field or
//! the record that caused the error.

use crate::access::{Action, EntityType};

/// Result alias used throughout the crate.
pub type Result<T, E = CrmError> = std::result::Result<T, E>;

/// Everything that can go wrong in a call to the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrmError {
    /// A value supplied by the caller is invalid. `field` is a path such as `emails[1].address`.
    #[error("invalid {field}: {message}")]
    Validation {
        /// Path of the offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The record does not exist, or the acting user may not read it (the two are
    /// indistinguishable on purpose, so ids cannot be probed).
    #[error("{entity} {id} not found")]
    NotFound {
        /// Kind of record, e.g. `client`.
        entity: &'static str,
        /// The id that was asked for.
        id: i64,
    },
    /// The acting user may see the record but may not perform this action on it.
    #[error("permission denied: {action} on {entity}{}", id.map(|i| format!(" {i}")).unwrap_or_default())]
    PermissionDenied {
        /// The action that was refused.
        action: Action,
        /// The entity type it was refused on.
        entity: EntityType,
        /// The record, when the action targets one.
        id: Option<i64>,
    },
    /// An administrative call by a user who is not an administrator.
    #[error("permission denied: {operation} needs an administrator")]
    AdminRequired {
        /// What was attempted, e.g. `create_role`.
        operation: &'static str,
    },
    /// The record changed since the caller read it (optimistic concurrency).
    #[error("{entity} {id} was modified: expected version {expected}, found {actual}")]
    Conflict {
        /// Kind of record.
        entity: &'static str,
        /// The record.
        id: i64,
        /// The version the caller based its change on.
        expected: i64,
        /// The version stored now.
        actual: i64,
    },
    /// The change would break a rule of the data model (a cycle, a record still in use, a
    /// duplicate name…). The message says which.
    #[error("{entity} {id}: {message}")]
    Constraint {
        /// Kind of record.
        entity: &'static str,
        /// The record.
        id: i64,
        /// Which rule the change would break.
        message: String,
    },
    /// The acting user is deactivated; every call is refused until reactivation.
    #[error("user {0} is deactivated")]
    InactiveUser(i64),
    /// The database file was written by a newer version of the engine.
    #[error("database schema version {found} is newer than this library supports ({supported})")]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// SQLite reported an error (I/O, corruption, disk full…).
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    /// The caller's progress callback asked to stop. What was documented for the operation as
    /// kept on cancellation (nothing, or whole committed batches) is all that was written.
    #[error("cancelled by the caller")]
    Cancelled,
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file or folder.
        path: String,
        /// The operating system's complaint.
        message: String,
    },
    /// A stored document could not be decoded; the database was edited outside the engine.
    #[error("corrupt stored data in {what}: {message}")]
    Corrupt {
        /// Where the bad data was found.
        what: String,
        /// The decoder's complaint.
        message: String,
    },
}

impl CrmError {
    /// Stable numeric code of this error; the C ABI uses the same numbers as `crm_status`.
    ///
    /// | code | meaning |
    /// |---|---|
    /// | 2 | validation |
    /// | 3 | not found |
    /// | 4 | permission denied (including administrator required) |
    /// | 5 | version conflict |
    /// | 6 | constraint |
    /// | 7 | inactive user |
    /// | 8 | schema too new |
    /// | 9 | storage |
    /// | 10 | corrupt data |
    /// | 11 | cancelled |
    /// | 12 | file I/O |
    pub fn code(&self) -> i32 {
        match self {
            CrmError::Validation { .. } => 2,
            CrmError::NotFound { .. } => 3,
            CrmError::PermissionDenied { .. } | CrmError::AdminRequired { .. } => 4,
            CrmError::Conflict { .. } => 5,
            CrmError::Constraint { .. } => 6,
            CrmError::InactiveUser(_) => 7,
            CrmError::SchemaTooNew { .. } => 8,
            CrmError::Storage(_) => 9,
            CrmError::Corrupt { .. } => 10,
            CrmError::Cancelled => 11,
            CrmError::Io { .. } => 12,
        }
    }

    /// Shorthand for a [`CrmError::Io`] about `path`.
    pub fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        CrmError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }

    /// Shorthand for a [`CrmError::Validation`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        CrmError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// True for errors that are the caller's fault and leave the database unchanged.
    pub fn is_permission(&self) -> bool {
        matches!(
            self,
            CrmError::PermissionDenied { .. } | CrmError::AdminRequired { .. }
        )
    }
}
