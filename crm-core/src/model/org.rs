//! The organisation: users, the department tree, roles, role assignments and forbid rules.

use crate::access::{Action, EntityType, Grant};
use crate::ids::{DepartmentId, ForbidId, RoleAssignmentId, RoleId, UserId};
use serde::{Deserialize, Serialize};

/// A node of the department tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    /// Its id.
    pub id: DepartmentId,
    /// Display name.
    pub name: String,
    /// The department above it; `None` for a root.
    pub parent_id: Option<DepartmentId>,
    /// The head of the department, if one is set.
    pub head_user_id: Option<UserId>,
}

/// Input for creating a department.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    /// Display name (1–200 characters).
    pub name: String,
    /// The department above it; `None` for a root.
    #[serde(default)]
    pub parent_id: Option<DepartmentId>,
}

/// A user of the CRM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Login e-mail, unique (case-insensitive).
    pub email: String,
    /// The department the user belongs to; records the user owns are stamped with it.
    pub department_id: DepartmentId,
    /// Deactivated users have no access at all.
    pub active: bool,
    /// Administrators manage the organisation, roles and configuration.
    pub admin: bool,
}

/// Input for creating a user.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Display name (1–200 characters).
    pub name: String,
    /// Login e-mail, unique (case-insensitive).
    pub email: String,
    /// The department the user belongs to.
    pub department_id: DepartmentId,
    /// Whether the user administers the CRM.
    #[serde(default)]
    pub admin: bool,
}

/// A role: a named set of grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Its id.
    pub id: RoleId,
    /// Unique name.
    pub name: String,
    /// Its cells; a missing (entity, action) pair means level `none` without open records.
    pub grants: Vec<Grant>,
}

/// Who a role is assigned to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoleSubject {
    /// One user.
    User {
        /// The user.
        user_id: UserId,
    },
    /// Every member of a department, optionally also of every department below it.
    Department {
        /// The department.
        department_id: DepartmentId,
        /// Whether members of sub-departments get the role too.
        #[serde(default)]
        include_subdepartments: bool,
    },
    /// Whoever is head of the department (the role follows the head when the head changes).
    HeadOf {
        /// The department.
        department_id: DepartmentId,
    },
}

/// A role given to a subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignment {
    /// Its id.
    pub id: RoleAssignmentId,
    /// The role.
    pub role_id: RoleId,
    /// Who holds it.
    pub subject: RoleSubject,
}

/// Who a forbid rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ForbidSubject {
    /// One user.
    User {
        /// The user.
        user_id: UserId,
    },
    /// Members of a department, optionally also of the departments below it.
    Department {
        /// The department.
        department_id: DepartmentId,
        /// Whether members of sub-departments are covered too.
        #[serde(default)]
        include_subdepartments: bool,
    },
    /// Everyone who holds a role, however it was assigned.
    Role {
        /// The role.
        role_id: RoleId,
    },
}

/// Which records a forbid rule takes away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ForbidTarget {
    /// Every record of the entity type.
    AllRecords,
    /// Records stamped with exactly this department.
    Department {
        /// The department.
        department_id: DepartmentId,
    },
    /// Records of this department and every department below it.
    DepartmentTree {
        /// The root of the subtree.
        department_id: DepartmentId,
    },
    /// Records flagged open to everyone.
    OpenRecords,
}

/// A typed deny rule. Forbids always win over grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forbid {
    /// Its id (ignored on creation).
    #[serde(default = "ForbidId::unset")]
    pub id: ForbidId,
    /// Who it applies to.
    pub subject: ForbidSubject,
    /// The entity type.
    pub entity: EntityType,
    /// The action it denies.
    pub action: Action,
    /// Which records it denies the action on.
    pub target: ForbidTarget,
}

impl ForbidId {
    /// Placeholder id of a rule not yet stored.
    pub fn unset() -> Self {
        ForbidId(0)
    }
}
