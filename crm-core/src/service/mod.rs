//! The capabilities of [`crate::Crm`], one module each. Each takes an acting context, resolves
//! it to a plan, and calls the storage layer.

pub(crate) mod activities;
pub mod audit;
mod automation;
pub mod backup;
pub mod client_queries;
pub(crate) mod clients;
mod custom_fields;
pub(crate) mod deals;
mod export;
mod funnel;
mod import;
mod merge;
mod org;
mod outbox;
pub mod pipelines;
mod settings;
pub mod timeline;

use crate::crm::WriteCx;
use crate::error::{CrmError, Result};
use crate::ids::UserId;
use crate::model::User;
use crate::store::org as org_store;
use serde_json::{json, Map, Value};

/// `{field: [old, new]}` for every top-level field that differs (bookkeeping fields excluded).
pub(crate) fn diff(old: &Value, new: &Value) -> Value {
    const SKIP: [&str; 3] = ["version", "updated_at", "created_at"];
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let mut out = Map::new();
    for key in old.keys().chain(new.keys()) {
        if SKIP.contains(&key.as_str()) || out.contains_key(key) {
            continue;
        }
        let (a, b) = (
            old.get(key).unwrap_or(&Value::Null),
            new.get(key).unwrap_or(&Value::Null),
        );
        if a != b {
            out.insert(key.clone(), json!([a, b]));
        }
    }
    Value::Object(out)
}

/// A record as a JSON document, for audit diffs.
pub(crate) fn to_json(record: &impl serde::Serialize) -> Value {
    serde_json::to_value(record).unwrap_or(Value::Null)
}

/// The owner of a new record: the given one or the acting user. Must be an active user.
pub(crate) fn resolve_owner(cx: &WriteCx<'_>, given: Option<UserId>, field: &str) -> Result<User> {
    resolve_owner_as(cx, given, field, false)
}

/// [`resolve_owner`]; with `history`, a deactivated user is accepted (imports bring in records
/// of people who have left).
fn resolve_owner_as(
    cx: &WriteCx<'_>,
    given: Option<UserId>,
    field: &str,
    history: bool,
) -> Result<User> {
    let id = given
        .or(cx.ctx.user_id())
        .ok_or_else(|| CrmError::invalid(field, "required in the system context"))?;
    match org_store::user(cx.tx, id)? {
        Some(u) if u.active || history => Ok(u),
        Some(_) => Err(CrmError::invalid(
            field,
            format!("user {id} is deactivated"),
        )),
        None => Err(CrmError::invalid(field, format!("no user {id}"))),
    }
}

/// The owner of a record about to be created (the given one or the actor) and the record's
/// permission attributes, refused unless they lie inside the actor's create (or import) level;
/// "open to everyone" does not count for creating.
pub(crate) fn create_target(
    cx: &WriteCx<'_>,
    entity: crate::access::EntityType,
    via: Via,
    owner: Option<UserId>,
    open: bool,
    field: &str,
) -> Result<(User, crate::access::RecordAcl)> {
    let owner = resolve_owner_as(cx, owner, field, via == Via::Import)?;
    let acl = crate::access::RecordAcl {
        owner_id: owner.id,
        department_id: owner.department_id,
        open,
    };
    let action = via.action(crate::access::Action::Create);
    if !cx.access.plan(entity, action).allows_by_level(&acl) {
        return Err(cx.deny(
            entity,
            action,
            None,
            true,
            "the new record lies outside the actor's create level",
        ));
    }
    Ok((owner, acl))
}

/// The new owner of a record being reassigned: an active user such that the record, stamped with
/// their department, still lies inside the actor's `action` level (assign, or import).
pub(crate) fn assign_target(
    cx: &WriteCx<'_>,
    entity: crate::access::EntityType,
    action: crate::access::Action,
    id: i64,
    open: bool,
    new_owner: UserId,
    field: &str,
) -> Result<User> {
    let owner = resolve_owner(cx, Some(new_owner), field)?;
    let target = crate::access::RecordAcl {
        owner_id: owner.id,
        department_id: owner.department_id,
        open,
    };
    if !cx.access.plan(entity, action).allows_by_level(&target) {
        return Err(cx.deny(
            entity,
            action,
            Some(id),
            true,
            "the new owner is outside the actor's assign scope",
        ));
    }
    Ok(owner)
}

/// `Conflict` unless the stored version is the one the caller based its change on.
pub(crate) fn check_version(
    entity: &'static str,
    id: i64,
    actual: i64,
    expected: i64,
) -> Result<()> {
    if actual != expected {
        return Err(CrmError::Conflict {
            entity,
            id,
            expected,
            actual,
        });
    }
    Ok(())
}

/// A past (or present) instant supplied by the caller; `field` names it.
pub(crate) fn past_instant(
    at: Option<chrono::DateTime<chrono::Utc>>,
    now: i64,
    field: &str,
) -> Result<i64> {
    match at.map(|t| t.timestamp_millis()) {
        Some(t) if t > now => Err(CrmError::invalid(field, "must not be in the future")),
        Some(t) => Ok(t),
        None => Ok(now),
    }
}

/// How a write is authorised and recorded: through the API (its own action, one audit entry per
/// record) or by an import job (the import action; the job is audited once, each record still
/// emits its outbox event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    Api,
    Import,
}

impl Via {
    /// The action that authorises `api_action` done this way.
    pub fn action(self, api_action: crate::access::Action) -> crate::access::Action {
        match self {
            Via::Api => api_action,
            Via::Import => crate::access::Action::Import,
        }
    }

    /// Records a change: audit entry and outbox event with the field diff (API), or an outbox
    /// event marked as imported (import: the diff of a bulk load is not worth its cost; the
    /// record itself can be read).
    pub fn record(
        self,
        cx: &WriteCx<'_>,
        action: &str,
        entity: crate::access::EntityType,
        id: i64,
        acl: &crate::access::RecordAcl,
        diff: impl FnOnce() -> Result<Value>,
    ) -> Result<()> {
        match self {
            Via::Api => cx.changed(action, entity, id, acl, &diff()?),
            Via::Import => cx.emit(action, entity, id, acl, &json!({ "imported": true })),
        }
    }
}
