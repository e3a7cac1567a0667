//! Compiling a user's rights into access plans, and evaluating a plan on one record.
//!
//! A [`UserAccess`] is compiled once per user and ACL version from an [`AclSnapshot`]. For an
//! (entity, action) pair it yields an [`AccessPlan`]: the union of the user's role cells (a scope
//! and an "open records" switch) minus the forbid rules that apply. The same plan is evaluated
//! here for single records and rendered to SQL by [`super::sql`] for lists.

use super::tree::DeptTree;
use super::{AccessLevel, Action, EntityType, Grant};
use crate::ids::{DepartmentId, ForbidId, RoleId, UserId};
use crate::model::{Forbid, ForbidSubject, ForbidTarget, Role, RoleAssignment, RoleSubject, User};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// The attributes of a record that decide access to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordAcl {
    /// The record's owner.
    pub owner_id: UserId,
    /// The department stamped on the record (the owner's department).
    pub department_id: DepartmentId,
    /// Whether the record is open to everyone.
    pub open: bool,
}

/// Everything the compiler needs, read from the store in one transaction.
#[derive(Clone, Debug)]
pub struct AclSnapshot {
    /// The user whose rights are compiled.
    pub user: User,
    /// The whole department tree.
    pub tree: DeptTree,
    /// Role assignments that may concern the user (the compiler picks the ones that do).
    pub assignments: Vec<RoleAssignment>,
    /// The roles named by those assignments.
    pub roles: HashMap<RoleId, Role>,
    /// Forbid rules that may concern the user.
    pub forbids: Vec<Forbid>,
}

/// How a role reached the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoleVia {
    /// Assigned to the user directly.
    User,
    /// Assigned to a department the user belongs to (or lies below, when the assignment includes
    /// sub-departments).
    Department {
        /// The department the role was assigned to.
        department_id: DepartmentId,
    },
    /// Assigned to the head of a department the user heads.
    HeadOf {
        /// The department.
        department_id: DepartmentId,
    },
}

/// A role the user holds, with how it was reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldRole {
    /// The role.
    pub role_id: RoleId,
    /// Its name, for explanations.
    pub role_name: String,
    /// How the user came to hold it.
    pub via: RoleVia,
    /// Its cells.
    pub grants: Vec<Grant>,
}

/// Which records a plan reaches, before open records and forbids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// No record.
    Nothing,
    /// Records owned by the user.
    Own(UserId),
    /// Records stamped with one of these departments.
    Departments(BTreeSet<DepartmentId>),
    /// Every record.
    All,
}

/// Which records a forbid rule takes away, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForbidScope {
    /// Every record.
    All,
    /// Records stamped with one of these departments.
    Departments(BTreeSet<DepartmentId>),
    /// Records open to everyone.
    Open,
}

/// A forbid rule that applies to the user, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledForbid {
    /// The rule.
    pub id: ForbidId,
    /// What it takes away.
    pub scope: ForbidScope,
}

impl CompiledForbid {
    /// Whether the rule takes `r` away.
    pub fn matches(&self, r: &RecordAcl) -> bool {
        match &self.scope {
            ForbidScope::All => true,
            ForbidScope::Departments(ds) => ds.contains(&r.department_id),
            ForbidScope::Open => r.open,
        }
    }
}

/// One (entity, action) decision for one user: `allowed = !forbidden && (in scope || open && include_open)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPlan {
    /// The entity type.
    pub entity: EntityType,
    /// The action.
    pub action: Action,
    /// The highest level among the user's cells.
    pub level: AccessLevel,
    /// The records that level reaches.
    pub scope: Scope,
    /// Whether any cell includes records open to everyone.
    pub include_open: bool,
    /// Forbid rules that apply, each taking records away.
    pub forbids: Vec<CompiledForbid>,
}

impl AccessPlan {
    /// A plan that reaches nothing.
    pub fn nothing(entity: EntityType, action: Action) -> Self {
        AccessPlan {
            entity,
            action,
            level: AccessLevel::None,
            scope: Scope::Nothing,
            include_open: false,
            forbids: Vec::new(),
        }
    }

    /// Whether the plan allows the action on `r`.
    pub fn allows(&self, r: &RecordAcl) -> bool {
        if self.forbids.iter().any(|f| f.matches(r)) {
            return false;
        }
        self.scope_matches(r) || (self.include_open && r.open)
    }

    /// Whether `r` lies in the level's scope, ignoring open records and forbids. Used for
    /// creating records and for the target of a reassignment, where "open to everyone" must not
    /// let anyone put records into other people's names.
    pub fn allows_by_level(&self, r: &RecordAcl) -> bool {
        !self.forbids.iter().any(|f| f.matches(r)) && self.scope_matches(r)
    }

    fn scope_matches(&self, r: &RecordAcl) -> bool {
        match &self.scope {
            Scope::Nothing => false,
            Scope::Own(u) => r.owner_id == *u,
            Scope::Departments(ds) => ds.contains(&r.department_id),
            Scope::All => true,
        }
    }

    /// Whether the plan can reach any record at all.
    pub fn is_empty(&self) -> bool {
        (self.scope == Scope::Nothing && !self.include_open)
            || self.forbids.iter().any(|f| f.scope == ForbidScope::All)
    }
}

/// A user's compiled rights over every (entity, action) pair.
#[derive(Clone, Debug)]
pub struct UserAccess {
    /// The user.
    pub user_id: UserId,
    /// Whether the user is active; an inactive user's plans reach nothing.
    pub active: bool,
    /// Whether the user is an administrator.
    pub admin: bool,
    /// The user's department and the departments the user heads ("Department" level).
    pub own_departments: BTreeSet<DepartmentId>,
    /// Those and every department below them ("Department tree" level).
    pub tree_departments: BTreeSet<DepartmentId>,
    /// The roles the user holds.
    pub roles: Vec<HeldRole>,
    /// Forbid rules that apply to the user, with their compiled scopes.
    pub forbids: Vec<(Forbid, ForbidScope)>,
}

impl UserAccess {
    /// Compiles a snapshot.
    pub fn compile(s: &AclSnapshot) -> Self {
        let user = &s.user;
        let headed: BTreeSet<DepartmentId> = s.tree.headed_by(user.id).collect();
        let mut own_departments = headed.clone();
        own_departments.insert(user.department_id);
        let tree_departments = own_departments
            .iter()
            .flat_map(|d| s.tree.subtree(*d))
            .collect();

        let mut roles: Vec<HeldRole> = Vec::new();
        for a in &s.assignments {
            let via = match a.subject {
                RoleSubject::User { user_id } if user_id == user.id => RoleVia::User,
                RoleSubject::Department {
                    department_id,
                    include_subdepartments,
                } if in_department(&s.tree, user, department_id, include_subdepartments) => {
                    RoleVia::Department { department_id }
                }
                RoleSubject::HeadOf { department_id } if headed.contains(&department_id) => {
                    RoleVia::HeadOf { department_id }
                }
                _ => continue,
            };
            if let Some(role) = s.roles.get(&a.role_id) {
                roles.push(HeldRole {
                    role_id: role.id,
                    role_name: role.name.clone(),
                    via,
                    grants: role.grants.clone(),
                });
            }
        }
        roles.sort_by_key(|r| r.role_id);

        let held: BTreeSet<RoleId> = roles.iter().map(|r| r.role_id).collect();
        let forbids = s
            .forbids
            .iter()
            .filter(|f| match f.subject {
                ForbidSubject::User { user_id } => user_id == user.id,
                ForbidSubject::Department {
                    department_id,
                    include_subdepartments,
                } => in_department(&s.tree, user, department_id, include_subdepartments),
                ForbidSubject::Role { role_id } => held.contains(&role_id),
            })
            .map(|f| {
                let scope = match f.target {
                    ForbidTarget::AllRecords => ForbidScope::All,
                    ForbidTarget::Department { department_id } => {
                        ForbidScope::Departments(BTreeSet::from([department_id]))
                    }
                    ForbidTarget::DepartmentTree { department_id } => {
                        ForbidScope::Departments(s.tree.subtree(department_id))
                    }
                    ForbidTarget::OpenRecords => ForbidScope::Open,
                };
                (f.clone(), scope)
            })
            .collect();

        UserAccess {
            user_id: user.id,
            active: user.active,
            admin: user.admin,
            own_departments,
            tree_departments,
            roles,
            forbids,
        }
    }

    /// The plan for one (entity, action) pair.
    pub fn plan(&self, entity: EntityType, action: Action) -> AccessPlan {
        if !self.active {
            return AccessPlan::nothing(entity, action);
        }
        let cells = self.cells(entity, action);
        let level = cells
            .clone()
            .map(|(_, g)| g.level)
            .max()
            .unwrap_or_default();
        let include_open = cells.clone().any(|(_, g)| g.include_open);
        AccessPlan {
            entity,
            action,
            level,
            scope: self.scope_of(level),
            include_open,
            forbids: self
                .forbids
                .iter()
                .filter(|(f, _)| f.entity == entity && f.action == action)
                .map(|(f, scope)| CompiledForbid {
                    id: f.id,
                    scope: scope.clone(),
                })
                .collect(),
        }
    }

    /// The records a level reaches for this user.
    pub fn scope_of(&self, level: AccessLevel) -> Scope {
        match level {
            AccessLevel::None => Scope::Nothing,
            AccessLevel::Own => Scope::Own(self.user_id),
            AccessLevel::Department => Scope::Departments(self.own_departments.clone()),
            AccessLevel::DepartmentTree => Scope::Departments(self.tree_departments.clone()),
            AccessLevel::All => Scope::All,
        }
    }

    /// The user's cells for (entity, action), each with the role it comes from.
    pub fn cells(
        &self,
        entity: EntityType,
        action: Action,
    ) -> impl Iterator<Item = (&HeldRole, &Grant)> + Clone {
        self.roles.iter().flat_map(move |r| {
            r.grants
                .iter()
                .filter(move |g| g.entity == entity && g.action == action)
                .map(move |g| (r, g))
        })
    }
}

/// Whether `user` is a member of `d` (or of a department below it, when `subtree` is set).
fn in_department(tree: &DeptTree, user: &User, d: DepartmentId, subtree: bool) -> bool {
    user.department_id == d || (subtree && tree.is_within(user.department_id, d))
}
