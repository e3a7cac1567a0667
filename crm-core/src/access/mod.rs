//! Permissions: one decision, two compilations (DESIGN.md §4).
//!
//! A user's roles, their department and the forbid rules compile to a [`UserAccess`]; for an
//! (entity, action) pair it gives an [`AccessPlan`], which is
//! - evaluated in Rust for single records ([`AccessPlan::allows`]), and
//! - rendered to parameterised SQL for lists, counts and search ([`SqlAccess::render`]).
//!
//! Both read the same plan, and a property test checks them against a naive reference model.

mod explain;
pub mod fts;
mod level;
mod plan;
mod sql;
mod tree;

pub use explain::{explain, Explanation, MatchedBy};
pub use level::{AccessLevel, Action, EntityType, Grant};
pub use plan::{
    AccessPlan, AclSnapshot, CompiledForbid, ForbidScope, HeldRole, RecordAcl, RoleVia, Scope,
    UserAccess,
};
pub use sql::{AclColumns, SqlAccess, SqlPart, MAX_DEPARTMENT_BRANCHES};
pub use tree::DeptTree;
