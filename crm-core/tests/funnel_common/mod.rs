//! Shared fixtures of the sales-funnel tests (`funnel_properties`, `deals_flow`,
//! `activities_timeline`, `automation`): a fresh database file in a temporary directory, small
//! builders for the organisation, pipelines and deals, page walkers, error assertions and a raw
//! read-only fingerprint of every table (to prove that a refused call wrote nothing).
//!
//! Everything goes through the public API of `crm-core`, except [`fingerprint`], which reads the
//! file through a separate read-only SQLite connection.
#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use crm_core::access::{AccessLevel, Action, EntityType, Grant};
use crm_core::ids::{ClientId, DealId, PipelineId, StageId, UserId};
use crm_core::model::{
    ActivityKind, Deal, DealQuery, Department, NewActivity, NewDeal, NewDepartment, NewUser,
    Pipeline, Role, RoleSubject, StageKind, StageMove, StageSpec, TimelineEntry, User,
};
use crm_core::money::Currency;
use crm_core::service::timeline::TimelineQuery;
use crm_core::{AuditEntry, AuditQuery, Crm, CrmError, Ctx};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::PathBuf;
use tempfile::TempDir;

/// A fresh database in a temporary directory, with an audited system context.
pub struct Env {
    pub dir: TempDir,
    pub path: PathBuf,
    pub crm: Crm,
    pub sys: Ctx,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("crm.db");
        let crm = Crm::open(&path).expect("open database");
        let sys = crm.system_context("funnel tests").expect("system context");
        Env {
            dir,
            path,
            crm,
            sys,
        }
    }

    pub fn dept(&self, name: &str, parent: Option<&Department>) -> Department {
        self.crm
            .create_department(
                &self.sys,
                &NewDepartment {
                    name: name.into(),
                    parent_id: parent.map(|d| d.id),
                },
            )
            .expect("create department")
    }

    pub fn user(&self, name: &str, dept: &Department) -> User {
        self.user_with(name, dept, false)
    }

    pub fn user_with(&self, name: &str, dept: &Department, admin: bool) -> User {
        self.crm
            .create_user(
                &self.sys,
                &NewUser {
                    name: name.into(),
                    email: format!("{}@funnel.example", name.to_lowercase().replace(' ', ".")),
                    department_id: dept.id,
                    admin,
                },
            )
            .expect("create user")
    }

    /// Creates a role with `grants` and gives it to `user` directly.
    pub fn give_role(&self, user: &User, name: &str, grants: &[Grant]) -> Role {
        let role = self
            .crm
            .create_role(&self.sys, name, grants)
            .expect("create role");
        self.crm
            .assign_role(&self.sys, role.id, &RoleSubject::User { user_id: user.id })
            .expect("assign role");
        role
    }

    pub fn ctx(&self, user: &User) -> Ctx {
        self.crm.user_context(user.id).expect("user context")
    }

    /// A pipeline with the given open stages (probability 10, 20, …) and one won and one lost
    /// stage named `Won` and `Lost`.
    pub fn pipeline(&self, name: &str, open: &[&str]) -> Pipeline {
        let mut specs: Vec<StageSpec> = open
            .iter()
            .enumerate()
            .map(|(i, n)| StageSpec::new(*n, (10 * (i + 1)).min(90) as u8, StageKind::Open))
            .collect();
        specs.push(StageSpec::new("Won", 100, StageKind::Won));
        specs.push(StageSpec::new("Lost", 0, StageKind::Lost));
        self.crm
            .create_pipeline(&self.sys, name, &specs)
            .expect("create pipeline")
    }

    /// Every audit entry about one record, oldest first.
    pub fn audit_of(&self, entity: &str, id: i64) -> Vec<AuditEntry> {
        let mut out = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .crm
                .audit_entries(
                    &self.sys,
                    &AuditQuery {
                        entity: Some(entity.into()),
                        entity_id: Some(id),
                        before,
                        limit: Some(500),
                    },
                )
                .expect("audit entries");
            let done = page.len() < 500;
            before = page.last().map(|e| e.id.0);
            out.extend(page);
            if done {
                break;
            }
        }
        out.reverse();
        out
    }

    /// Every audit entry, oldest first.
    pub fn audit_all(&self) -> Vec<AuditEntry> {
        let mut out = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .crm
                .audit_entries(
                    &self.sys,
                    &AuditQuery {
                        entity: None,
                        entity_id: None,
                        before,
                        limit: Some(500),
                    },
                )
                .expect("audit entries");
            let done = page.len() < 500;
            before = page.last().map(|e| e.id.0);
            out.extend(page);
            if done {
                break;
            }
        }
        out.reverse();
        out
    }
}

/// Grants of one level and open switch for every (entity, action) pair listed.
pub fn grants(
    entities: &[EntityType],
    actions: &[Action],
    level: AccessLevel,
    include_open: bool,
) -> Vec<Grant> {
    entities
        .iter()
        .flat_map(|&entity| {
            actions.iter().map(move |&action| Grant {
                entity,
                action,
                level,
                include_open,
            })
        })
        .collect()
}

/// One grant.
pub fn grant(entity: EntityType, action: Action, level: AccessLevel, include_open: bool) -> Grant {
    Grant {
        entity,
        action,
        level,
        include_open,
    }
}

pub fn cur(code: &str) -> Currency {
    Currency::parse(code, "currency").expect("currency code")
}

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("instant")
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).expect("instant")
}

pub fn stage(p: &Pipeline, name: &str) -> StageId {
    p.stages
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stage {name:?} in {:?}", p.name))
        .id
}

/// A plain new deal: first open stage, no client, owner = actor unless set. Built from its
/// JSON form, so fields added later with a default keep their default here.
pub fn new_deal(title: &str, pipeline: PipelineId, currency: &str, amount: i64) -> NewDeal {
    serde_json::from_value(serde_json::json!({
        "title": title,
        "pipeline_id": pipeline,
        "currency": currency,
        "amount_minor": amount,
    }))
    .expect("new deal")
}

/// A new activity of `kind` with a subject and nothing else (fill in with struct update syntax).
pub fn new_activity(kind: ActivityKind, subject: &str) -> NewActivity {
    serde_json::from_value(serde_json::json!({"kind": kind, "subject": subject}))
        .expect("new activity")
}

pub fn owned(mut d: NewDeal, owner: UserId) -> NewDeal {
    d.owner_id = Some(owner);
    d
}

pub fn with_client(mut d: NewDeal, client: ClientId) -> NewDeal {
    d.client_id = Some(client);
    d
}

pub fn to(stage_id: StageId) -> StageMove {
    StageMove {
        stage_id,
        lost_reason: None,
        at: None,
    }
}

pub fn to_at(stage_id: StageId, when: DateTime<Utc>) -> StageMove {
    StageMove {
        stage_id,
        lost_reason: None,
        at: Some(when),
    }
}

pub fn lost(stage_id: StageId, reason: &str) -> StageMove {
    StageMove {
        stage_id,
        lost_reason: Some(reason.into()),
        at: None,
    }
}

/// Every deal `ctx` may list with `q`, walking the keyset pages of `page` deals each; checks
/// that pages are newest first and never repeat a deal.
pub fn all_deals(crm: &Crm, ctx: &Ctx, q: &DealQuery, page: u32) -> Vec<Deal> {
    let mut out: Vec<Deal> = Vec::new();
    let mut after = None;
    for _ in 0..100_000 {
        let p = crm
            .list_deals(
                ctx,
                &DealQuery {
                    limit: Some(page),
                    after: after.clone(),
                    ..q.clone()
                },
            )
            .expect("list deals");
        assert!(p.items.len() <= page as usize, "page larger than its limit");
        out.extend(p.items);
        match p.next {
            Some(n) => after = Some(n),
            None => {
                let ids: Vec<DealId> = out.iter().map(|d| d.id).collect();
                assert!(
                    ids.windows(2).all(|w| w[0] > w[1]),
                    "deal pages are not strictly newest first: {ids:?}"
                );
                return out;
            }
        }
    }
    panic!("deal pages never ended");
}

/// Every timeline entry of a client as `ctx` sees it, in pages of `page`.
pub fn all_timeline(crm: &Crm, ctx: &Ctx, client: ClientId, page: u32) -> Vec<TimelineEntry> {
    let mut out = Vec::new();
    let mut after = None;
    for _ in 0..100_000 {
        let p = crm
            .client_timeline(
                ctx,
                client,
                &TimelineQuery {
                    limit: Some(page),
                    after: after.clone(),
                },
            )
            .expect("client timeline");
        assert!(p.items.len() <= page as usize, "page larger than its limit");
        out.extend(p.items);
        match p.next {
            Some(n) => after = Some(n),
            None => return out,
        }
    }
    panic!("timeline pages never ended");
}

/// Asserts a `Validation` error on `field`.
#[track_caller]
pub fn expect_invalid<T: Debug>(r: crm_core::Result<T>, field: &str) {
    match r {
        Err(CrmError::Validation { field: f, .. }) if f == field => {}
        other => panic!("expected a validation error on {field:?}, got {other:?}"),
    }
}

/// Asserts an error with the stable code `code`.
#[track_caller]
pub fn expect_code<T: Debug>(r: crm_core::Result<T>, code: i32) -> CrmError {
    match r {
        Err(e) if e.code() == code => e,
        other => panic!("expected an error with code {code}, got {other:?}"),
    }
}

#[track_caller]
pub fn expect_denied<T: Debug>(r: crm_core::Result<T>) {
    match r {
        Err(CrmError::PermissionDenied { .. }) => {}
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
}

#[track_caller]
pub fn expect_not_found<T: Debug>(r: crm_core::Result<T>) {
    match r {
        Err(CrmError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[track_caller]
pub fn expect_conflict<T: Debug>(r: crm_core::Result<T>) {
    match r {
        Err(CrmError::Conflict { .. }) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
}

/// Every row of every table, read through a separate read-only connection.
pub type Fingerprint = BTreeMap<String, Vec<Vec<Value>>>;

pub fn fingerprint(env: &Env) -> Fingerprint {
    let c = Connection::open_with_flags(
        &env.path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("read-only connection");
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("tables")
        .query_map([], |r| r.get(0))
        .expect("tables")
        .collect::<rusqlite::Result<_>>()
        .expect("tables");
    let mut out = BTreeMap::new();
    for t in tables {
        let mut st = match c.prepare(&format!("SELECT * FROM \"{t}\"")) {
            Ok(st) => st,
            // Virtual tables whose module is not loaded here.
            Err(_) => continue,
        };
        let n = st.column_count();
        let mut rows: Vec<Vec<Value>> = st
            .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
            .expect("rows")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        out.insert(t, rows);
    }
    out
}

/// Asserts that two fingerprints are equal, naming the first table that differs.
#[track_caller]
pub fn assert_same_db(before: &Fingerprint, after: &Fingerprint, what: &str) {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for t in names {
        assert_eq!(
            before.get(t),
            after.get(t),
            "{what}: table {t:?} changed although the call failed"
        );
    }
}

/// A small sales team:
///
/// ```text
/// Company        admin (administrator, no roles)
/// └── Sales      diana ("Director": department tree, every action on every entity)
///     ├── North  nick (head; "Lead": department level on every entity, all but delete),
///     │          nora ("Rep")
///     └── South  sam ("Rep")
/// ```
///
/// "Rep" is own records: read, create, update and change stage on clients, deals and
/// activities (no assign, no delete).
pub struct Team {
    pub env: Env,
    pub company: Department,
    pub sales: Department,
    pub north: Department,
    pub south: Department,
    pub admin: User,
    pub diana: User,
    pub nick: User,
    pub nora: User,
    pub sam: User,
    pub pipeline: Pipeline,
}

impl Team {
    pub fn new() -> Team {
        let env = Env::new();
        let company = env.dept("Company", None);
        let sales = env.dept("Sales", Some(&company));
        let north = env.dept("North", Some(&sales));
        let south = env.dept("South", Some(&sales));
        let admin = env.user_with("Admin", &company, true);
        let diana = env.user("Diana", &sales);
        let nick = env.user("Nick", &north);
        let nora = env.user("Nora", &north);
        let sam = env.user("Sam", &south);
        env.crm
            .set_department_head(&env.sys, north.id, Some(nick.id))
            .expect("head");
        use Action::*;
        let all = EntityType::ALL;
        let rep = env
            .crm
            .create_role(
                &env.sys,
                "Rep",
                &grants(
                    &all,
                    &[Read, Create, Update, ChangeStage],
                    AccessLevel::Own,
                    false,
                ),
            )
            .expect("role");
        for u in [&nora, &sam] {
            env.crm
                .assign_role(&env.sys, rep.id, &RoleSubject::User { user_id: u.id })
                .expect("assign");
        }
        env.give_role(
            &nick,
            "Lead",
            &grants(
                &all,
                &[Read, Create, Update, Assign, ChangeStage],
                AccessLevel::Department,
                false,
            ),
        );
        env.give_role(
            &diana,
            "Director",
            &grants(&all, &Action::ALL, AccessLevel::DepartmentTree, false),
        );
        let pipeline = env.pipeline("Sales", &["Lead", "Qualified", "Proposal"]);
        Team {
            env,
            company,
            sales,
            north,
            south,
            admin,
            diana,
            nick,
            nora,
            sam,
            pipeline,
        }
    }

    pub fn crm(&self) -> &Crm {
        &self.env.crm
    }

    pub fn sys(&self) -> &Ctx {
        &self.env.sys
    }

    pub fn ctx(&self, u: &User) -> Ctx {
        self.env.ctx(u)
    }

    pub fn stage(&self, name: &str) -> StageId {
        stage(&self.pipeline, name)
    }

    /// A deal of `owner` (created by the system context) in the first stage.
    pub fn deal(&self, title: &str, owner: &User, currency: &str, amount: i64) -> Deal {
        self.crm()
            .create_deal(
                self.sys(),
                &owned(
                    new_deal(title, self.pipeline.id, currency, amount),
                    owner.id,
                ),
            )
            .expect("create deal")
    }
}
