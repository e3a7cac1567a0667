//! # crm-core
//!
//! An embeddable CRM engine: clients (organisations, persons, contact people), the organisation
//! (users, a department tree, roles and forbid rules), permissions that apply to every path, and
//! a hash-chained audit log, stored in one SQLite file.
//!
//! Every call takes an acting context ([`Ctx`]): a user, bound by their roles, or the audited
//! system context the host opens for bootstrap. There is no other way to the data.
//!
//! ```
//! # fn main() -> crm_core::Result<()> {
//! use crm_core::access::{AccessLevel, Action, EntityType, Grant};
//! use crm_core::model::{ClientQuery, NewClient, NewDepartment, NewUser, RoleSubject};
//! use crm_core::Crm;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let crm = Crm::open(dir.path().join("crm.db"))?;
//! let sys = crm.system_context("bootstrap")?;
//! let sales = crm.create_department(&sys, &NewDepartment { name: "Sales".into(), parent_id: None })?;
//! let bob = crm.create_user(&sys, &NewUser { name: "Bob".into(), email: "bob@example.com".into(), department_id: sales.id, admin: false })?;
//! let grants: Vec<Grant> = [Action::Read, Action::Create, Action::Update]
//!     .map(|action| Grant { entity: EntityType::Client, action, level: AccessLevel::Own, include_open: false })
//!     .to_vec();
//! let manager = crm.create_role(&sys, "Manager", &grants)?;
//! crm.assign_role(&sys, manager.id, &RoleSubject::User { user_id: bob.id })?;
//!
//! let as_bob = crm.user_context(bob.id)?;
//! crm.create_client(&as_bob, &NewClient::organization("Acme Ltd"))?;
//! let page = crm.list_clients(&as_bob, &ClientQuery::default())?;
//! assert_eq!(page.items.len(), 1);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod access;
mod context;
mod crm;
mod error;
pub mod ids;
pub mod model;
pub mod money;
pub mod period;
pub mod service;
mod store;

pub use context::{Actor, Ctx};
pub use crm::Crm;
pub use error::{CrmError, Result};
pub use service::audit::{AuditProblem, AuditQuery, AuditReport};
pub use service::backup::{BackupCheck, RestoreTarget};
pub use service::client_queries::Count;
pub use service::pipelines::{PipelineUpdate, StageRemap};
pub use service::timeline::TimelineQuery;
pub use store::audit::AuditEntry;
pub use store::backup::CopyProgress;
pub use store::migrations::SCHEMA_VERSION;
pub use store::{Durability, OpenOptions};

/// Test and tooling support; not part of the stable API.
#[doc(hidden)]
pub mod testing {
    /// Creates (or upgrades) a database file at schema version `version`, as an older engine
    /// would have left it.
    pub fn create_at_schema_version(path: &std::path::Path, version: i64) -> crate::Result<()> {
        let mut conn = rusqlite::Connection::open(path)?;
        crate::store::migrations::migrate_to(&mut conn, version)
    }
}
