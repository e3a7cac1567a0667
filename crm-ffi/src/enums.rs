//! Integers from C that stand for Rust enums and flags, validated.
//!
//! C never hands the library a Rust enum: an out-of-range value would be undefined behaviour.
//! It passes an `int32_t` (one of the `CRM_*` constants), and these functions map it or answer
//! `CRM_STATUS_UNKNOWN_ENUM` naming the argument.

use crate::error::{crm_status, FfiError};
use crm_core::access::{Action, EntityType};

fn unknown(name: &str, value: i32, expected: &str) -> FfiError {
    FfiError::new(
        crm_status::CRM_STATUS_UNKNOWN_ENUM,
        format!("argument `{name}` is {value}, which is not {expected}"),
    )
}

/// An action from one of the `CRM_ACTION_*` constants.
pub fn action(value: i32, name: &str) -> Result<Action, FfiError> {
    Ok(match value {
        crate::CRM_ACTION_READ => Action::Read,
        crate::CRM_ACTION_CREATE => Action::Create,
        crate::CRM_ACTION_UPDATE => Action::Update,
        crate::CRM_ACTION_DELETE => Action::Delete,
        crate::CRM_ACTION_EXPORT => Action::Export,
        crate::CRM_ACTION_IMPORT => Action::Import,
        crate::CRM_ACTION_ASSIGN => Action::Assign,
        _ => return Err(unknown(name, value, "a CRM_ACTION_* constant (1-7)")),
    })
}

/// An entity type from one of the `CRM_ENTITY_*` constants.
pub fn entity(value: i32, name: &str) -> Result<EntityType, FfiError> {
    match value {
        crate::CRM_ENTITY_CLIENT => Ok(EntityType::Client),
        crate::CRM_ENTITY_DEAL => Ok(EntityType::Deal),
        crate::CRM_ENTITY_ACTIVITY => Ok(EntityType::Activity),
        _ => Err(unknown(name, value, "a CRM_ENTITY_* constant (1-3)")),
    }
}

/// A 0/1 flag.
pub fn flag(value: i32, name: &str) -> Result<bool, FfiError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(unknown(name, value, "0 or 1")),
    }
}

/// An optional id: `CRM_NO_ID` (0) is none.
pub fn opt_id(value: i64) -> Option<i64> {
    (value != crate::CRM_NO_ID).then_some(value)
}
