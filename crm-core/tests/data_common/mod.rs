//! Shared fixtures of the data-in-and-out tests (`roundtrip`, `import_rules`, `bad_csv`,
//! `merge`, `backup`, `crash`): one organisation set up the same way in any number of database
//! files (so an export of one can be imported into another), import and export helpers, a raw
//! snapshot of every table, and readers of the audit log.
//!
//! Everything goes through the public API; the raw snapshot uses a separate read-only `rusqlite`
//! connection (`rusqlite` is a normal dependency of `crm-core`).
#![allow(dead_code)]

use crm_core::access::{AccessLevel, Action, EntityType, Grant};
use crm_core::model::{
    ArchiveFilter, Client, ClientQuery, CustomFieldType, Deal, DealQuery, Department, ExportSpec,
    FileFormat, ImportProgress, ImportReport, ImportSpec, NewCustomField, NewDepartment, NewUser,
    Pipeline, RecordKind, Role, RoleSubject, StageKind, StageSpec, User,
};
use crm_core::{AuditEntry, AuditQuery, Crm, CrmError, Ctx};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// Options of the client enum field `segment`: every one of them is something a spreadsheet
/// would run, or something a CSV writer must quote.
pub const SEGMENTS: [&str; 8] = [
    "=SUM(A1:A9)",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1)",
    "'quoted",
    "small, medium",
    "Grüße \"Ω\"",
    "plain",
];

/// Options of the deal enum field `product`.
pub const PRODUCTS: [&str; 4] = ["GTX Pro", "=HYPERLINK(\"x\")", "MG, Special", "Ünïcødé"];

/// Stage names of the pipeline `Sales`, in order.
pub const STAGES: [&str; 5] = ["Lead", "Qualified", "Proposal", "Won", "Lost"];

/// The organisation every test database gets, created identically by [`setup`]:
///
/// ```text
/// Company           admin (administrator)
/// ├── Sales         ann (role "Importer": every action on every entity, level All)
/// │   └── North     bob (role "Own importer": every action on every entity, level Own)
/// └── Support       carl (role "Clerk": every action but import, level All)
///                   dora (role "Merger lite": read/update on clients, level All)
/// ```
pub struct Org {
    pub company: Department,
    pub sales: Department,
    pub north: Department,
    pub support: Department,
    pub admin: User,
    pub ann: User,
    pub bob: User,
    pub carl: User,
    pub dora: User,
    pub importer: Role,
    pub own_importer: Role,
    pub clerk: Role,
    pub limited: Role,
    pub pipeline: Pipeline,
}

fn all_grants(level: AccessLevel, skip: &[Action]) -> Vec<Grant> {
    let mut out = Vec::new();
    for entity in EntityType::ALL {
        for action in Action::ALL {
            if !skip.contains(&action) {
                out.push(Grant {
                    entity,
                    action,
                    level,
                    include_open: false,
                });
            }
        }
    }
    out
}

/// Grants of `level` on `entity` for `actions`.
pub fn grants(entity: EntityType, level: AccessLevel, actions: &[Action]) -> Vec<Grant> {
    actions
        .iter()
        .map(|&action| Grant {
            entity,
            action,
            level,
            include_open: false,
        })
        .collect()
}

/// Creates the organisation, the pipeline `Sales` and the custom fields in a fresh database.
pub fn setup(crm: &Crm, sys: &Ctx) -> Org {
    let dept = |name: &str, parent: Option<&Department>| {
        crm.create_department(
            sys,
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
    let support = dept("Support", Some(&company));
    let user = |name: &str, d: &Department, admin: bool| {
        crm.create_user(
            sys,
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
    let ann = user("Ann", &sales, false);
    let bob = user("Bob", &north, false);
    let carl = user("Carl", &support, false);
    let dora = user("Dora", &support, false);
    let role = |name: &str, grants: Vec<Grant>, u: &User| {
        let r = crm.create_role(sys, name, &grants).expect("role");
        crm.assign_role(sys, r.id, &RoleSubject::User { user_id: u.id })
            .expect("assign role");
        r
    };
    let importer = role("Importer", all_grants(AccessLevel::All, &[]), &ann);
    let own_importer = role("Own importer", all_grants(AccessLevel::Own, &[]), &bob);
    let clerk = role(
        "Clerk",
        all_grants(AccessLevel::All, &[Action::Import]),
        &carl,
    );
    let limited = role(
        "Merger lite",
        grants(
            EntityType::Client,
            AccessLevel::All,
            &[Action::Read, Action::Update],
        ),
        &dora,
    );
    let field = |entity, key: &str, field_type, options: &[&str]| {
        crm.define_custom_field(
            sys,
            &NewCustomField {
                entity,
                key: key.into(),
                label: key.into(),
                field_type,
                options: options.iter().map(|s| s.to_string()).collect(),
                required: false,
            },
        )
        .expect("custom field")
    };
    use CustomFieldType::*;
    for (entity, keys) in [
        (
            EntityType::Client,
            [
                ("note", Text),
                ("score", Number),
                ("budget", Money),
                ("since", Date),
                ("vip", Bool),
                ("segment", Enum),
            ],
        ),
        (
            EntityType::Deal,
            [
                ("memo", Text),
                ("margin", Number),
                ("fee", Money),
                ("signed", Date),
                ("priority", Bool),
                ("product", Enum),
            ],
        ),
    ] {
        for (key, t) in keys {
            let options: &[&str] = match (t, entity) {
                (Enum, EntityType::Client) => &SEGMENTS,
                (Enum, _) => &PRODUCTS,
                _ => &[],
            };
            field(entity, key, t, options);
        }
    }
    let pipeline = crm
        .create_pipeline(
            sys,
            "Sales",
            &[
                StageSpec::new(STAGES[0], 10, StageKind::Open),
                StageSpec::new(STAGES[1], 30, StageKind::Open),
                StageSpec::new(STAGES[2], 60, StageKind::Open),
                StageSpec::new(STAGES[3], 100, StageKind::Won),
                StageSpec::new(STAGES[4], 0, StageKind::Lost),
            ],
        )
        .expect("pipeline");
    Org {
        company,
        sales,
        north,
        support,
        admin,
        ann,
        bob,
        carl,
        dora,
        importer,
        own_importer,
        clerk,
        limited,
        pipeline,
    }
}

/// A database file in its own temporary directory, set up by [`setup`].
pub struct Db {
    pub dir: TempDir,
    pub path: PathBuf,
    pub crm: Crm,
    pub sys: Ctx,
    pub org: Org,
}

impl Db {
    pub fn new() -> Db {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("crm.db");
        let crm = Crm::open(&path).expect("open");
        let sys = crm
            .system_context("data test setup")
            .expect("system context");
        let org = setup(&crm, &sys);
        Db {
            dir,
            path,
            crm,
            sys,
            org,
        }
    }

    pub fn ctx(&self, u: &User) -> Ctx {
        self.crm.user_context(u.id).expect("user context")
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot::take(&self.path)
    }

    /// Every audit entry, oldest first.
    pub fn audit(&self) -> Vec<AuditEntry> {
        all_audit(&self.crm, &self.sys)
    }

    /// Stage id by name.
    pub fn stage(&self, name: &str) -> crm_core::ids::StageId {
        self.org
            .pipeline
            .stages
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no stage {name}"))
            .id
    }
}

/// Runs an import of `bytes`, never cancelling.
pub fn import(
    crm: &Crm,
    ctx: &Ctx,
    spec: &ImportSpec,
    bytes: &[u8],
) -> crm_core::Result<ImportReport> {
    crm.import(ctx, spec, bytes, Some(bytes.len() as u64), &mut |_| true)
}

/// Runs an import, recording every progress call; `cancel_at` makes the n-th call (1-based)
/// return `false`.
pub fn import_watched(
    crm: &Crm,
    ctx: &Ctx,
    spec: &ImportSpec,
    bytes: &[u8],
    cancel_at: Option<usize>,
) -> (crm_core::Result<ImportReport>, Vec<ImportProgress>) {
    let mut calls = Vec::new();
    let r = crm.import(ctx, spec, bytes, Some(bytes.len() as u64), &mut |p| {
        calls.push(p);
        Some(calls.len()) != cancel_at
    });
    (r, calls)
}

/// An import job with the given format and mode.
pub fn spec(records: RecordKind, format: FileFormat) -> ImportSpec {
    ImportSpec {
        format,
        ..ImportSpec::new(records)
    }
}

/// Exports every record of `records` in `format` (formulas neutralised in CSV).
pub fn export(crm: &Crm, ctx: &Ctx, records: RecordKind, format: FileFormat) -> Vec<u8> {
    let spec = ExportSpec {
        format,
        ..ExportSpec::new(records)
    };
    let mut out = Vec::new();
    crm.export(ctx, &spec, &mut out, &mut |_| true)
        .expect("export");
    out
}

/// Parses CSV bytes into the header and the records.
pub fn csv_records(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let headers = r
        .headers()
        .expect("csv header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = r
        .records()
        .map(|rec| {
            rec.expect("csv record")
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect();
    (headers, rows)
}

/// Parses JSON lines into objects.
pub fn json_lines(bytes: &[u8]) -> Vec<serde_json::Map<String, serde_json::Value>> {
    std::str::from_utf8(bytes)
        .expect("utf-8 export")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str(l).expect("json line") {
            serde_json::Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        })
        .collect()
}

/// Every client (active and archived) the actor can read, by id.
pub fn all_clients(crm: &Crm, ctx: &Ctx) -> Vec<Client> {
    let mut out = Vec::new();
    for archive in [ArchiveFilter::Active, ArchiveFilter::Archived] {
        let mut after = None;
        loop {
            let page = crm
                .list_clients(
                    ctx,
                    &ClientQuery {
                        archive,
                        limit: Some(500),
                        after: after.clone(),
                        ..Default::default()
                    },
                )
                .expect("list clients");
            out.extend(page.items);
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
    }
    out.sort_by_key(|c| c.id);
    out
}

/// Every deal the actor can read, by id.
pub fn all_deals(crm: &Crm, ctx: &Ctx) -> Vec<Deal> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = crm
            .list_deals(
                ctx,
                &DealQuery {
                    limit: Some(500),
                    after: after.clone(),
                    ..Default::default()
                },
            )
            .expect("list deals");
        out.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    out.sort_by_key(|d| d.id);
    out
}

/// Number of clients (active and archived) visible to the system context.
pub fn client_count(crm: &Crm, sys: &Ctx) -> u64 {
    [ArchiveFilter::Active, ArchiveFilter::Archived]
        .into_iter()
        .map(|archive| {
            crm.count_clients(
                sys,
                &ClientQuery {
                    archive,
                    ..Default::default()
                },
                u64::MAX,
            )
            .expect("count clients")
            .count
        })
        .sum()
}

/// Every audit entry, oldest first.
pub fn all_audit(crm: &Crm, ctx: &Ctx) -> Vec<AuditEntry> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = crm
            .audit_entries(
                ctx,
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

/// Audit entries with `action`, oldest first.
pub fn audit_with(crm: &Crm, ctx: &Ctx, action: &str) -> Vec<AuditEntry> {
    all_audit(crm, ctx)
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

/// A number from an audit entry's JSON detail.
pub fn detail_u64(e: &AuditEntry, key: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&e.detail).expect("audit detail is JSON");
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {}", e.detail))
}

/// Every row of every table of a database file, read through a separate read-only connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub tables: BTreeMap<String, Vec<Vec<String>>>,
}

fn show(v: Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(n) => format!("i:{n}"),
        Value::Real(x) => format!("r:{x:?}"),
        Value::Text(s) => format!("t:{s}"),
        Value::Blob(b) => format!("b:{b:02x?}"),
    }
}

impl Snapshot {
    pub fn take(path: &Path) -> Snapshot {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open snapshot connection");
        let names: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .and_then(|mut st| {
                st.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()
            })
            .expect("table names");
        let mut tables = BTreeMap::new();
        for name in names {
            let mut st = conn
                .prepare(&format!("SELECT * FROM \"{name}\""))
                .expect("select");
            let n = st.column_count();
            let mut rows: Vec<Vec<String>> = st
                .query_map([], |r| {
                    (0..n)
                        .map(|i| r.get::<_, Value>(i).map(show))
                        .collect::<rusqlite::Result<Vec<String>>>()
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
                .expect("rows");
            rows.sort();
            tables.insert(name, rows);
        }
        Snapshot { tables }
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

    /// Tables that changed, other than the audit log and its head.
    pub fn changed_except_audit(&self, other: &Snapshot) -> Vec<String> {
        self.changed_tables(other)
            .into_iter()
            .filter(|t| t != "audit_log" && t != "audit_head")
            .collect()
    }
}

/// Asserts a `Validation` error on `field`.
#[track_caller]
pub fn assert_invalid(err: &CrmError, field: &str) {
    match err {
        CrmError::Validation { field: f, .. } => assert_eq!(f, field, "wrong field in {err}"),
        other => panic!("expected a validation error on {field}, got {other:?}"),
    }
}

/// Asserts a permission error (`PermissionDenied` or `AdminRequired`).
#[track_caller]
pub fn assert_permission(err: &CrmError) {
    assert!(
        err.is_permission(),
        "expected a permission error, got {err:?}"
    );
}

/// A small deterministic pseudo-random generator (xorshift), for tests that need repeatable
/// "random" timings or data without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn seeded() -> Rng {
        let seed = std::env::var("CRM_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("random seed {seed} (set CRM_TEST_SEED to repeat)");
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// `PRAGMA integrity_check` through a raw connection: "ok" when sound.
pub fn integrity(path: &Path) -> String {
    let c = Connection::open(path).expect("open for integrity check");
    let lines: Vec<String> = c
        .prepare("PRAGMA integrity_check")
        .and_then(|mut st| {
            st.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .expect("integrity_check");
    lines.join("; ")
}

/// The CSV export of a record kind, formulas neutralised.
pub fn csv_export(crm: &Crm, ctx: &Ctx, records: RecordKind) -> Vec<u8> {
    export(crm, ctx, records, FileFormat::Csv)
}
