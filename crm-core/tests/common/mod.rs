//! Shared fixtures of the integration tests: a small organisation in a fresh database file, a
//! raw snapshot of every table (through a separate SQLite connection), and assertions on errors.
//!
//! `rusqlite` is a normal dependency of `crm-core`, so its integration tests may use it directly.
#![allow(dead_code)]

use crm_core::access::{AccessLevel, Action, EntityType, Grant};
use crm_core::ids::ClientId;
use crm_core::model::{
    Client, Department, Email, NewClient, NewDepartment, NewUser, Phone, Role, RoleSubject, User,
};
use crm_core::{AuditEntry, AuditQuery, Crm, CrmError, Ctx, OpenOptions};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// Grants of one level (without open records) on clients for `actions`.
pub fn grants(level: AccessLevel, actions: &[Action]) -> Vec<Grant> {
    actions
        .iter()
        .map(|&action| Grant {
            entity: EntityType::Client,
            action,
            level,
            include_open: false,
        })
        .collect()
}

/// A small organisation in a fresh database:
///
/// ```text
/// Company            admin (administrator, no roles)
/// ├── Sales          diana (role "Director": department tree, every action)
/// │   ├── North      nick (head; role "Lead": department, read/create/update/assign), nora
/// │   └── South      sam
/// └── Support        olga (no roles at all)
/// ```
///
/// Every member of Sales and below holds "Rep": own records, read/create/update.
pub struct World {
    pub dir: TempDir,
    pub path: PathBuf,
    pub crm: Crm,
    pub sys: Ctx,
    pub company: Department,
    pub sales: Department,
    pub north: Department,
    pub south: Department,
    pub support: Department,
    pub admin: User,
    pub diana: User,
    pub nick: User,
    pub nora: User,
    pub sam: User,
    pub olga: User,
    pub rep: Role,
    pub lead: Role,
    pub director: Role,
}

impl World {
    pub fn new() -> World {
        World::with_options(OpenOptions::default())
    }

    pub fn with_options(options: OpenOptions) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("crm.db");
        let crm = Crm::open_with(&path, options).expect("open");
        let sys = crm
            .system_context("test bootstrap")
            .expect("system context");
        let dept = |name: &str, parent: Option<&Department>| {
            crm.create_department(
                &sys,
                &NewDepartment {
                    name: name.into(),
                    parent_id: parent.map(|d| d.id),
                },
            )
            .expect("department")
        };
        let company = dept("Company", None);
        let sales = dept("Sales", Some(&company));
        let north = dept("North", Some(&sales));
        let south = dept("South", Some(&sales));
        let support = dept("Support", Some(&company));
        let user = |name: &str, d: &Department, admin: bool| {
            crm.create_user(
                &sys,
                &NewUser {
                    name: name.into(),
                    email: format!("{}@corp.example", name.to_lowercase()),
                    department_id: d.id,
                    admin,
                },
            )
            .expect("user")
        };
        let admin = user("Admin", &company, true);
        let diana = user("Diana", &sales, false);
        let nick = user("Nick", &north, false);
        let nora = user("Nora", &north, false);
        let sam = user("Sam", &south, false);
        let olga = user("Olga", &support, false);
        crm.set_department_head(&sys, north.id, Some(nick.id))
            .expect("head");
        use Action::*;
        let rep = crm
            .create_role(
                &sys,
                "Rep",
                &grants(AccessLevel::Own, &[Read, Create, Update]),
            )
            .expect("role");
        let lead = crm
            .create_role(
                &sys,
                "Lead",
                &grants(AccessLevel::Department, &[Read, Create, Update, Assign]),
            )
            .expect("role");
        let director = crm
            .create_role(
                &sys,
                "Director",
                &grants(AccessLevel::DepartmentTree, &Action::ALL),
            )
            .expect("role");
        crm.assign_role(
            &sys,
            rep.id,
            &RoleSubject::Department {
                department_id: sales.id,
                include_subdepartments: true,
            },
        )
        .expect("assign");
        crm.assign_role(
            &sys,
            lead.id,
            &RoleSubject::HeadOf {
                department_id: north.id,
            },
        )
        .expect("assign");
        crm.assign_role(&sys, director.id, &RoleSubject::User { user_id: diana.id })
            .expect("assign");
        World {
            dir,
            path,
            crm,
            sys,
            company,
            sales,
            north,
            south,
            support,
            admin,
            diana,
            nick,
            nora,
            sam,
            olga,
            rep,
            lead,
            director,
        }
    }

    /// The acting context of a user.
    pub fn ctx(&self, user: &User) -> Ctx {
        self.crm.user_context(user.id).expect("user context")
    }

    /// A raw snapshot of the database file.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::take(&self.path)
    }

    /// Creates an organisation owned by `owner` through the system context.
    pub fn org_of(&self, owner: &User, name: &str) -> Client {
        self.crm
            .create_client(
                &self.sys,
                &NewClient {
                    owner_id: Some(owner.id),
                    ..NewClient::organization(name)
                },
            )
            .expect("create organisation")
    }

    /// Creates a person owned by `owner` through the system context.
    pub fn person_of(&self, owner: &User, name: &str) -> Client {
        self.crm
            .create_client(
                &self.sys,
                &NewClient {
                    owner_id: Some(owner.id),
                    ..NewClient::person(name)
                },
            )
            .expect("create person")
    }

    /// The newest audit entries, newest first.
    pub fn last_audit(&self, n: u32) -> Vec<AuditEntry> {
        self.crm
            .audit_entries(
                &self.sys,
                &AuditQuery {
                    limit: Some(n),
                    ..Default::default()
                },
            )
            .expect("audit entries")
    }

    /// Every audit entry, oldest first.
    pub fn all_audit(&self) -> Vec<AuditEntry> {
        let mut out = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .crm
                .audit_entries(
                    &self.sys,
                    &AuditQuery {
                        before,
                        limit: Some(500),
                        ..Default::default()
                    },
                )
                .expect("audit entries");
            let Some(last) = page.last() else { break };
            before = Some(last.id.0);
            out.extend(page);
        }
        out.reverse();
        out
    }

    /// Runs `f`, which must fail, and checks that the database did not change at all.
    pub fn fails_unchanged<T: Debug>(
        &self,
        what: &str,
        f: impl FnOnce() -> crm_core::Result<T>,
    ) -> CrmError {
        let before = self.snapshot();
        let r = f();
        let after = self.snapshot();
        let err = match r {
            Ok(v) => panic!("{what}: expected an error, got Ok({v:?})"),
            Err(e) => e,
        };
        before.assert_same(&after, what);
        err
    }

    /// Runs `f`, which must fail, and checks that the only change to the database is one new
    /// `denied` audit entry; returns the error and that entry.
    pub fn fails_with_denial<T: Debug>(
        &self,
        what: &str,
        f: impl FnOnce() -> crm_core::Result<T>,
    ) -> (CrmError, AuditEntry) {
        let before = self.snapshot();
        let r = f();
        let after = self.snapshot();
        let err = match r {
            Ok(v) => panic!("{what}: expected an error, got Ok({v:?})"),
            Err(e) => e,
        };
        before.assert_same_except_audit(&after, what);
        let added = after.rows("audit_log").len() as i64 - before.rows("audit_log").len() as i64;
        assert_eq!(added, 1, "{what}: expected exactly one new audit entry");
        let entry = self.last_audit(1).remove(0);
        assert_eq!(entry.outcome, "denied", "{what}: {entry:?}");
        (err, entry)
    }
}

/// Every row of every table (and the schema version) of a database file, read through a
/// separate read-only connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub user_version: i64,
    pub tables: BTreeMap<String, Vec<Vec<String>>>,
}

fn show(v: Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(n) => format!("i:{n}"),
        Value::Real(x) => format!("r:{x:?}"),
        Value::Text(s) => format!("t:{s}"),
        Value::Blob(b) => format!(
            "b:{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

impl Snapshot {
    pub fn take(path: &Path) -> Snapshot {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open snapshot connection");
        let user_version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("user_version");
        let names: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .and_then(|mut st| {
                st.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()
            })
            .expect("table names");
        let mut tables = BTreeMap::new();
        for name in names {
            let n = conn
                .prepare(&format!("SELECT * FROM \"{name}\""))
                .expect("select")
                .column_count();
            let order: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
            let sql = if n == 0 {
                format!("SELECT * FROM \"{name}\"")
            } else {
                format!("SELECT * FROM \"{name}\" ORDER BY {}", order.join(", "))
            };
            let mut st = conn.prepare(&sql).expect("select ordered");
            let rows: Vec<Vec<String>> = st
                .query_map([], |r| {
                    (0..n)
                        .map(|i| r.get::<_, Value>(i).map(show))
                        .collect::<rusqlite::Result<Vec<String>>>()
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
                .expect("rows");
            tables.insert(name, rows);
        }
        Snapshot {
            user_version,
            tables,
        }
    }

    pub fn rows(&self, table: &str) -> &[Vec<String>] {
        self.tables.get(table).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Names of the tables whose rows differ.
    pub fn changed_tables(&self, other: &Snapshot) -> Vec<String> {
        let mut names: Vec<&String> = self.tables.keys().chain(other.tables.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|n| self.tables.get(*n) != other.tables.get(*n))
            .cloned()
            .collect()
    }

    pub fn assert_same(&self, after: &Snapshot, what: &str) {
        assert_eq!(
            self.user_version, after.user_version,
            "{what}: user_version changed"
        );
        let changed = self.changed_tables(after);
        assert!(
            changed.is_empty(),
            "{what}: the database changed in tables {changed:?}"
        );
    }

    pub fn assert_same_except_audit(&self, after: &Snapshot, what: &str) {
        assert_eq!(
            self.user_version, after.user_version,
            "{what}: user_version changed"
        );
        let changed: Vec<String> = self
            .changed_tables(after)
            .into_iter()
            .filter(|t| t != "audit_log" && t != "audit_head")
            .collect();
        assert!(
            changed.is_empty(),
            "{what}: the database changed in tables {changed:?}"
        );
        let old = self.rows("audit_log");
        let new = after.rows("audit_log");
        assert!(new.len() >= old.len(), "{what}: audit entries disappeared");
    }
}

/// Asserts a validation error on `field` whose message names the field.
#[track_caller]
pub fn assert_invalid(err: &CrmError, field: &str) {
    match err {
        CrmError::Validation { field: f, .. } => {
            assert_eq!(f, field, "wrong field in {err}");
            assert_eq!(err.code(), 2);
            assert!(
                err.to_string().contains(field),
                "message {err:?} does not name {field}"
            );
        }
        other => panic!("expected a validation error on {field}, got {other:?}"),
    }
}

/// Asserts `NotFound` for a client.
#[track_caller]
pub fn assert_client_not_found(err: &CrmError, id: ClientId) {
    match err {
        CrmError::NotFound { entity, id: got } => {
            assert_eq!((*entity, *got), ("client", id.0), "{err}");
            assert_eq!(err.code(), 3);
        }
        other => panic!("expected NotFound for client {id}, got {other:?}"),
    }
}

/// Asserts `PermissionDenied` for `action` on clients (and the record, when given).
#[track_caller]
pub fn assert_denied(err: &CrmError, action: Action, id: Option<ClientId>) {
    match err {
        CrmError::PermissionDenied {
            action: a,
            entity,
            id: got,
        } => {
            assert_eq!(*a, action, "{err}");
            assert_eq!(*entity, EntityType::Client, "{err}");
            assert_eq!(*got, id.map(|i| i.0), "{err}");
            assert_eq!(err.code(), 4);
        }
        other => panic!("expected PermissionDenied({action}), got {other:?}"),
    }
}

/// Asserts `Conflict` on a client with the versions given.
#[track_caller]
pub fn assert_conflict(err: &CrmError, id: ClientId, expected: i64, actual: i64) {
    match err {
        CrmError::Conflict {
            entity,
            id: got,
            expected: e,
            actual: a,
        } => {
            assert_eq!((*entity, *got, *e, *a), ("client", id.0, expected, actual));
            assert_eq!(err.code(), 5);
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
}

/// Asserts a `Constraint` error on `entity`.
#[track_caller]
pub fn assert_constraint(err: &CrmError, entity: &str, id: i64) {
    match err {
        CrmError::Constraint {
            entity: e, id: i, ..
        } => {
            assert_eq!((*e, *i), (entity, id), "{err}");
            assert_eq!(err.code(), 6);
        }
        other => panic!("expected Constraint on {entity} {id}, got {other:?}"),
    }
}

pub fn email(address: &str) -> Email {
    Email {
        kind: Default::default(),
        address: address.into(),
    }
}

pub fn phone(number: &str) -> Phone {
    Phone {
        kind: Default::default(),
        number: number.into(),
    }
}

/// Names of clients, in order.
pub fn names(clients: &[Client]) -> Vec<&str> {
    clients.iter().map(|c| c.name.as_str()).collect()
}
