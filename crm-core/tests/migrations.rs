//! Schema migrations: a database left at any earlier schema version opens, upgrades to the
//! latest version and works; a database from a newer engine is refused and left untouched.

mod common;

use common::*;
use crm_core::access::{AccessLevel, Action};
use crm_core::model::{ClientQuery, NewClient, NewDepartment, NewUser, RoleSubject, SearchQuery};
use crm_core::testing::create_at_schema_version;
use crm_core::{Crm, CrmError, SCHEMA_VERSION};
use rusqlite::Connection;
use std::collections::BTreeMap;
use std::path::Path;

fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

/// Creates a department, a user with a role, a client, and reads them back.
fn exercise(crm: &Crm, tag: &str) {
    let sys = crm.system_context("migration test").unwrap();
    let d = crm
        .create_department(
            &sys,
            &NewDepartment {
                name: format!("Dept {tag}"),
                parent_id: None,
            },
        )
        .unwrap();
    let u = crm
        .create_user(
            &sys,
            &NewUser {
                name: format!("User {tag}"),
                email: format!("user-{tag}@corp.example"),
                department_id: d.id,
                admin: false,
            },
        )
        .unwrap();
    let role = crm
        .create_role(
            &sys,
            &format!("Role {tag}"),
            &grants(AccessLevel::Own, &[Action::Read, Action::Create]),
        )
        .unwrap();
    crm.assign_role(&sys, role.id, &RoleSubject::User { user_id: u.id })
        .unwrap();
    let ctx = crm.user_context(u.id).unwrap();
    let c = crm
        .create_client(
            &ctx,
            &NewClient {
                emails: vec![email(&format!("info-{tag}@client.example"))],
                ..NewClient::organization(format!("Client {tag}"))
            },
        )
        .unwrap();
    assert!(crm.departments(&sys).unwrap().iter().any(|x| x.id == d.id));
    assert!(crm.users(&sys).unwrap().iter().any(|x| x.id == u.id));
    let page = crm.list_clients(&ctx, &ClientQuery::default()).unwrap();
    assert_eq!(page.items, vec![c.clone()]);
    let hits = crm
        .search_clients(
            &ctx,
            &SearchQuery {
                text: format!("client {tag}"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(names(&hits.items), [c.name.as_str()]);
    let report = crm.verify_audit(&sys).unwrap();
    assert!(report.ok, "{report:?}");
}

#[test]
fn every_earlier_schema_version_upgrades_to_the_latest() {
    for v in 0..SCHEMA_VERSION {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("v{v}.db"));
        create_at_schema_version(&path, v).unwrap();
        assert_eq!(user_version(&path), v, "created at v{v}");

        let crm = Crm::open(&path).unwrap_or_else(|e| panic!("open v{v}: {e}"));
        assert_eq!(user_version(&path), SCHEMA_VERSION, "upgraded from v{v}");
        exercise(&crm, &format!("v{v}"));
        drop(crm);

        // Reopening changes nothing and keeps the data.
        let crm = Crm::open(&path).unwrap();
        assert_eq!(user_version(&path), SCHEMA_VERSION);
        let sys = crm.system_context("reopen").unwrap();
        let all = crm.list_clients(&sys, &ClientQuery::default()).unwrap();
        assert_eq!(names(&all.items), [format!("Client v{v}").as_str()]);
        exercise(&crm, &format!("v{v}-again"));
    }
}

#[test]
fn upgrading_step_by_step_reaches_the_same_schema_as_a_fresh_database() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.db");
    drop(Crm::open(&fresh).unwrap());
    let schema = |path: &Path| -> BTreeMap<String, String> {
        let c = Connection::open(path).unwrap();
        let mut st = c
            .prepare("SELECT name, coalesce(sql, '') FROM sqlite_master ORDER BY name")
            .unwrap();
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        rows
    };
    let expected = schema(&fresh);
    for v in 0..SCHEMA_VERSION {
        let path = dir.path().join(format!("steps-{v}.db"));
        for step in 0..=v {
            create_at_schema_version(&path, step).unwrap();
            assert_eq!(user_version(&path), step);
        }
        drop(Crm::open(&path).unwrap());
        assert_eq!(schema(&path), expected, "schema after upgrading from v{v}");
    }
}

/// Clients stored by an engine at schema version 1, before search and duplicate keys existed,
/// must be found by search, tag filters and duplicate detection after the upgrade.
#[test]
fn clients_written_at_schema_version_1_are_searchable_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    create_at_schema_version(&path, 1).unwrap();
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            r#"
            INSERT INTO departments (id, name, parent_id) VALUES (1, 'Legacy', NULL);
            INSERT INTO department_closure (ancestor, descendant, depth) VALUES (1, 1, 0);
            INSERT INTO users (id, name, email, email_key, dept_id, active, admin, created_at)
                VALUES (1, 'Old Admin', 'old@corp.example', 'old@corp.example', 1, 1, 1, 0);
            INSERT INTO clients (id, kind, name, sort_name, tax_id, emails, phones, tags, custom,
                    owner_id, dept_id, created_at, updated_at)
                VALUES (1, 1, 'Legacy Works GmbH', 'legacy works gmbh', 'DE 999 111',
                    '[{"kind":"work","address":"info@legacy.example"}]',
                    '[{"kind":"work","number":"+49 30 555 0101"}]', '["vip"]', '{}', 1, 1, 0, 0);
            "#,
        )
        .unwrap();
    let crm = Crm::open(&path).unwrap();
    let sys = crm.system_context("after upgrade").unwrap();
    let legacy = crm.get_client(&sys, crm_core::ids::ClientId(1)).unwrap();
    assert_eq!(legacy.name, "Legacy Works GmbH");
    assert_eq!(
        names(
            &crm.list_clients(&sys, &ClientQuery::default())
                .unwrap()
                .items
        ),
        ["Legacy Works GmbH"]
    );

    let mut problems = Vec::new();
    for text in ["legacy", "info@legacy.example", "4930555", "DE999111"] {
        let hits = crm
            .search_clients(
                &sys,
                &SearchQuery {
                    text: text.into(),
                    ..Default::default()
                },
            )
            .unwrap();
        if hits.items.is_empty() {
            problems.push(format!("search {text:?} finds nothing"));
        }
    }
    let tagged = crm
        .list_clients(
            &sys,
            &ClientQuery {
                tag: Some("vip".into()),
                ..Default::default()
            },
        )
        .unwrap();
    if tagged.items.is_empty() {
        problems.push("tag filter \"vip\" finds nothing".into());
    }
    let dups = crm
        .find_duplicates(
            &sys,
            &NewClient {
                tax_id: Some("de999111".into()),
                ..NewClient::organization("Someone Else")
            },
        )
        .unwrap();
    if dups.is_empty() {
        problems.push("duplicate by tax id not found".into());
    }
    assert!(
        problems.is_empty(),
        "rows written at schema v1 are not indexed after the upgrade: {problems:?}"
    );
}

fn dir_listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[track_caller]
fn assert_too_new(path: &Path) {
    let before = std::fs::read(path).unwrap();
    let listing = dir_listing(path.parent().unwrap());
    let err = match Crm::open(path) {
        Ok(_) => panic!("a database from a newer engine was opened"),
        Err(e) => e,
    };
    assert_eq!(err.code(), 8, "{err:?}");
    assert!(
        matches!(err, CrmError::SchemaTooNew { found, supported }
            if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    assert_eq!(
        dir_listing(path.parent().unwrap()),
        listing,
        "files appeared or vanished"
    );
    let after = std::fs::read(path).unwrap();
    assert_eq!(before.len(), after.len(), "the file changed size");
    if let Some(i) = before.iter().zip(&after).position(|(a, b)| a != b) {
        panic!("the file was modified: first differing byte at offset {i}");
    }
    assert_eq!(user_version(path), SCHEMA_VERSION + 1);
    // Also through the test helper.
    assert!(matches!(
        create_at_schema_version(path, 0),
        Err(CrmError::SchemaTooNew { .. })
    ));
}

#[test]
fn a_database_from_a_newer_engine_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    {
        let w = Crm::open(&path).unwrap();
        exercise(&w, "old");
    }
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    assert_too_new(&path);
}

#[test]
fn a_newer_database_in_rollback_journal_mode_is_left_untouched() {
    // A file a newer engine (or a tool) left in the default rollback-journal mode.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer-rollback.db");
    let c = Connection::open(&path).unwrap();
    c.execute_batch("CREATE TABLE future (x INTEGER); INSERT INTO future VALUES (1);")
        .unwrap();
    c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(c);
    assert_too_new(&path);
}
