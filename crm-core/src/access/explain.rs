//! `explain`: which grant allowed an action on a record, or which rule denied it.

use super::plan::{RecordAcl, RoleVia, Scope, UserAccess};
use super::{AccessLevel, Action, EntityType};
use crate::ids::{ForbidId, RoleId};
use serde::{Deserialize, Serialize};

/// How a record matched the grant that allowed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The user owns the record.
    Owner,
    /// The record's department is one of the user's departments or below them.
    Department,
    /// The grant reaches every record.
    All,
    /// The record is open to everyone and the cell includes open records.
    OpenRecord,
}

/// The outcome of [`explain`], with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Explanation {
    /// The system context may do anything.
    SystemContext,
    /// Allowed by a grant of a role.
    Allowed {
        /// The role.
        role_id: RoleId,
        /// Its name.
        role_name: String,
        /// How the user holds it.
        via: RoleVia,
        /// The level of the cell.
        level: AccessLevel,
        /// How the record matched.
        matched_by: MatchedBy,
    },
    /// Denied by a forbid rule (forbids win over every grant).
    Forbidden {
        /// The rule.
        forbid_id: ForbidId,
    },
    /// Denied because the user is deactivated.
    InactiveUser,
    /// Denied because no cell of the user's roles reaches the record.
    NoGrant {
        /// The highest level the user holds for this entity and action.
        best_level: AccessLevel,
    },
}

impl Explanation {
    /// Whether the explained action is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(
            self,
            Explanation::SystemContext | Explanation::Allowed { .. }
        )
    }
}

/// Explains the decision of `access` for `action` on a record with attributes `r`.
pub fn explain(
    access: &UserAccess,
    entity: EntityType,
    action: Action,
    r: &RecordAcl,
) -> Explanation {
    if !access.active {
        return Explanation::InactiveUser;
    }
    let plan = access.plan(entity, action);
    if let Some(f) = plan.forbids.iter().find(|f| f.matches(r)) {
        return Explanation::Forbidden { forbid_id: f.id };
    }
    // The strongest cell that matches explains the decision best.
    let mut best: Option<Explanation> = None;
    let mut best_rank = None;
    for (role, g) in access.cells(entity, action) {
        let matched_by = match access.scope_of(g.level) {
            Scope::All => Some(MatchedBy::All),
            Scope::Departments(ds) if ds.contains(&r.department_id) => Some(MatchedBy::Department),
            Scope::Own(u) if r.owner_id == u => Some(MatchedBy::Owner),
            _ if g.include_open && r.open => Some(MatchedBy::OpenRecord),
            _ => None,
        };
        let Some(matched_by) = matched_by else {
            continue;
        };
        let rank = (matched_by != MatchedBy::OpenRecord, g.level);
        if best_rank.is_none_or(|b| rank > b) {
            best_rank = Some(rank);
            best = Some(Explanation::Allowed {
                role_id: role.role_id,
                role_name: role.role_name.clone(),
                via: role.via,
                level: g.level,
                matched_by,
            });
        }
    }
    best.unwrap_or(Explanation::NoGrant {
        best_level: plan.level,
    })
}
