//! The audit log: every change and every denied write is recorded with its actor, entity, id
//! and a field-level diff; the hash chain detects edited, removed and truncated entries even
//! when an attacker with access to the file drops the append-only triggers first.

mod common;

use common::*;
use crm_core::access::{Action, EntityType};
use crm_core::ids::{AuditId, ClientId};
use crm_core::model::{
    ClientUpdate, CustomFieldType, Forbid, ForbidSubject, ForbidTarget, NewClient, NewCustomField,
    NewDepartment, Patch,
};
use crm_core::{AuditEntry, AuditProblem, AuditQuery, Crm, CrmError};
use rusqlite::Connection;
use serde_json::{json, Value};
use std::path::Path;

fn detail(e: &AuditEntry) -> Value {
    serde_json::from_str(&e.detail).unwrap_or_else(|err| panic!("detail of {e:?}: {err}"))
}

/// The audit entries about one client, oldest first.
fn client_history(w: &World, id: ClientId) -> Vec<AuditEntry> {
    let mut v = w
        .crm
        .audit_entries(
            &w.sys,
            &AuditQuery {
                entity: Some("client".into()),
                entity_id: Some(id.0),
                limit: Some(500),
                ..Default::default()
            },
        )
        .unwrap();
    v.reverse();
    v
}

#[track_caller]
fn assert_entry(e: &AuditEntry, action: &str, actor: Option<i64>, entity: &str, id: Option<i64>) {
    assert_eq!(e.action, action, "{e:?}");
    assert_eq!(e.entity, entity, "{e:?}");
    assert_eq!(e.entity_id, id, "{e:?}");
    match actor {
        Some(u) => {
            assert_eq!(e.actor_kind, "user", "{e:?}");
            assert_eq!(e.actor_id, Some(u), "{e:?}");
            assert_eq!(e.actor_note, None, "{e:?}");
        }
        None => {
            assert_eq!(e.actor_kind, "system", "{e:?}");
            assert_eq!(e.actor_id, None, "{e:?}");
            assert_eq!(e.actor_note.as_deref(), Some("test bootstrap"), "{e:?}");
        }
    }
}

#[test]
fn every_client_change_is_audited_with_a_field_level_diff() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let nick = w.ctx(&w.nick);
    let diana = w.ctx(&w.diana);
    let (n, k, d, s) = (w.nora.id.0, w.nick.id.0, w.diana.id.0, w.sam.id.0);

    // create
    let c = w
        .crm
        .create_client(&nora, &NewClient::organization("Acme"))
        .unwrap();
    let h = client_history(&w, c.id);
    assert_eq!(h.len(), 1);
    assert_entry(&h[0], "client.create", Some(n), "client", Some(c.id.0));
    assert_eq!(h[0].outcome, "ok");
    let create = detail(&h[0]);
    assert_eq!(create["name"], json!([null, "Acme"]));
    assert_eq!(create["id"], json!([null, c.id.0]));
    assert_eq!(create["owner_id"], json!([null, n]));
    assert_eq!(create["kind"], json!([null, "organization"]));
    for skipped in ["version", "created_at", "updated_at"] {
        assert!(create.get(skipped).is_none(), "{skipped} in {create}");
    }

    // update of one field: only that field, as [old, new]
    let c = w
        .crm
        .update_client(
            &nora,
            c.id,
            c.version,
            &ClientUpdate {
                name: Patch::Set("Acme Two".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let last = client_history(&w, c.id).pop().unwrap();
    assert_entry(&last, "client.update", Some(n), "client", Some(c.id.0));
    assert_eq!(detail(&last), json!({"name": ["Acme", "Acme Two"]}));

    // updates of other single fields
    let steps: Vec<(ClientUpdate, Value)> = vec![
        (
            ClientUpdate {
                tags: Patch::Set(vec!["vip".into()]),
                ..Default::default()
            },
            json!({"tags": [[], ["vip"]]}),
        ),
        (
            ClientUpdate {
                emails: Patch::Set(vec![email("info@acme.example")]),
                ..Default::default()
            },
            json!({"emails": [[], [{"kind": "work", "address": "info@acme.example"}]]}),
        ),
        (
            ClientUpdate {
                tax_id: Patch::Set(Some("DE 123".into())),
                ..Default::default()
            },
            json!({"tax_id": [null, "DE 123"]}),
        ),
        (
            ClientUpdate {
                tax_id: Patch::Set(None),
                ..Default::default()
            },
            json!({"tax_id": ["DE 123", null]}),
        ),
        (
            ClientUpdate {
                open: Patch::Set(true),
                ..Default::default()
            },
            json!({"open": [false, true]}),
        ),
    ];
    let mut c = c;
    for (u, expected) in steps {
        c = w.crm.update_client(&nora, c.id, c.version, &u).unwrap();
        let last = client_history(&w, c.id).pop().unwrap();
        assert_entry(&last, "client.update", Some(n), "client", Some(c.id.0));
        assert_eq!(detail(&last), expected);
    }

    // archive / restore
    let c = w.crm.archive_client(&nora, c.id, c.version).unwrap();
    let last = client_history(&w, c.id).pop().unwrap();
    assert_entry(&last, "client.archive", Some(n), "client", Some(c.id.0));
    let at = c.archived_at.unwrap().timestamp_millis();
    let dd = detail(&last);
    assert_eq!(dd.as_object().unwrap().len(), 1, "{dd}");
    assert_eq!(dd["archived_at"][0], Value::Null);
    assert!(dd["archived_at"][1].is_string(), "{dd}");
    let c = w.crm.restore_client(&nora, c.id, c.version).unwrap();
    let last = client_history(&w, c.id).pop().unwrap();
    assert_entry(&last, "client.restore", Some(n), "client", Some(c.id.0));
    let dd = detail(&last);
    assert_eq!(dd.as_object().unwrap().len(), 1, "{dd}");
    assert_eq!(dd["archived_at"][1], Value::Null);
    assert!(at > 0);

    // assign within the department: only the owner changes
    let c = w
        .crm
        .assign_client(&nick, c.id, c.version, w.nick.id)
        .unwrap();
    let last = client_history(&w, c.id).pop().unwrap();
    assert_entry(&last, "client.assign", Some(k), "client", Some(c.id.0));
    assert_eq!(detail(&last), json!({"owner_id": [n, k]}));
    // assign across departments: the department stamp follows
    let c = w
        .crm
        .assign_client(&diana, c.id, c.version, w.sam.id)
        .unwrap();
    let last = client_history(&w, c.id).pop().unwrap();
    assert_entry(&last, "client.assign", Some(d), "client", Some(c.id.0));
    assert_eq!(
        detail(&last),
        json!({"owner_id": [k, s], "department_id": [w.north.id.0, w.south.id.0]})
    );

    // contact links
    let p = w.person_of(&w.sam, "Anna");
    w.crm.link_contact(&diana, c.id, p.id, Some("CFO")).unwrap();
    let last = client_history(&w, c.id).pop().unwrap();
    assert_entry(
        &last,
        "client.link_contact",
        Some(d),
        "client",
        Some(c.id.0),
    );
    assert_eq!(
        detail(&last),
        json!({"contacts": [null, {"person_id": p.id.0, "position": "CFO"}]})
    );
    w.crm.unlink_contact(&diana, c.id, p.id).unwrap();
    let last = client_history(&w, c.id).pop().unwrap();
    assert_entry(
        &last,
        "client.unlink_contact",
        Some(d),
        "client",
        Some(c.id.0),
    );

    // delete: every field goes to null
    w.crm.delete_client(&diana, c.id, c.version).unwrap();
    let h = client_history(&w, c.id);
    let last = h.last().unwrap();
    assert_entry(last, "client.delete", Some(d), "client", Some(c.id.0));
    let dd = detail(last);
    assert_eq!(dd["name"], json!(["Acme Two", null]));
    assert_eq!(dd["owner_id"], json!([s, null]));
    assert_eq!(dd["tags"], json!([["vip"], null]));
    assert!(dd.get("version").is_none());

    // The whole history of the record, in order, all successful.
    let actions: Vec<&str> = h.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "client.create",
            "client.update",
            "client.update",
            "client.update",
            "client.update",
            "client.update",
            "client.update",
            "client.archive",
            "client.restore",
            "client.assign",
            "client.assign",
            "client.link_contact",
            "client.unlink_contact",
            "client.delete",
        ]
    );
    assert!(h.iter().all(|e| e.outcome == "ok"));
    assert!(h
        .windows(2)
        .all(|p| p[0].id < p[1].id && p[0].at_ms <= p[1].at_ms));
}

#[test]
fn custom_value_changes_are_diffed() {
    let w = World::new();
    w.crm
        .define_custom_field(
            &w.sys,
            &NewCustomField {
                entity: EntityType::Client,
                key: "employees".into(),
                label: "Employees".into(),
                field_type: CustomFieldType::Number,
                options: vec![],
                required: false,
            },
        )
        .unwrap();
    let c = w.org_of(&w.nora, "Acme");
    let c = w
        .crm
        .update_client(
            &w.sys,
            c.id,
            c.version,
            &ClientUpdate {
                custom: [("employees".to_string(), json!(12))].into(),
                ..Default::default()
            },
        )
        .unwrap();
    let last = client_history(&w, c.id).pop().unwrap();
    assert_entry(&last, "client.update", None, "client", Some(c.id.0));
    assert_eq!(detail(&last), json!({"custom": [{}, {"employees": 12}]}));
    let c = w
        .crm
        .update_client(
            &w.sys,
            c.id,
            c.version,
            &ClientUpdate {
                custom: [("employees".to_string(), Value::Null)].into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(c.custom.is_empty());
    let last = client_history(&w, c.id).pop().unwrap();
    assert_eq!(detail(&last), json!({"custom": [{"employees": 12}, {}]}));
}

#[test]
fn every_denied_write_is_audited() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let nick = w.ctx(&w.nick);
    let n = w.nora.id.0;
    let theirs = w.org_of(&w.sam, "Sam's");
    let mine = w.org_of(&w.nora, "Nora's");
    let before = w.all_audit().len();

    let e = w
        .crm
        .update_client(&nora, theirs.id, theirs.version, &ClientUpdate::default())
        .unwrap_err();
    assert_client_not_found(&e, theirs.id);
    let e = w
        .crm
        .create_client(
            &nora,
            &NewClient {
                owner_id: Some(w.sam.id),
                ..NewClient::organization("X")
            },
        )
        .unwrap_err();
    assert_denied(&e, Action::Create, None);
    let e = w
        .crm
        .delete_client(&nora, mine.id, mine.version)
        .unwrap_err();
    assert_denied(&e, Action::Delete, Some(mine.id));
    let e = w
        .crm
        .assign_client(&nick, mine.id, mine.version, w.sam.id)
        .unwrap_err();
    assert_denied(&e, Action::Assign, Some(mine.id));
    let e = w
        .crm
        .rename_department(&nora, w.north.id, "Mine")
        .unwrap_err();
    assert!(matches!(e, CrmError::AdminRequired { .. }));

    let all = w.all_audit();
    let new = &all[before..];
    assert_eq!(new.len(), 5, "{new:#?}");
    assert!(new.iter().all(|e| e.outcome == "denied"), "{new:#?}");
    assert_entry(
        &new[0],
        "client.update",
        Some(n),
        "client",
        Some(theirs.id.0),
    );
    assert_entry(&new[1], "client.create", Some(n), "client", None);
    assert_entry(&new[2], "client.delete", Some(n), "client", Some(mine.id.0));
    assert_entry(
        &new[3],
        "client.assign",
        Some(w.nick.id.0),
        "client",
        Some(mine.id.0),
    );
    assert_entry(&new[4], "rename_department", Some(n), "organization", None);
    for e in new {
        let r = detail(e);
        assert!(r["reason"].as_str().is_some_and(|s| !s.is_empty()), "{e:?}");
    }
    // Denials are part of the chain like everything else.
    assert!(w.crm.verify_audit(&w.sys).unwrap().ok);
}

#[test]
fn organisation_changes_are_audited() {
    let w = World::new();
    let all = w.all_audit();
    // The fixture's bootstrap, all by the system context.
    assert_entry(&all[0], "system_context.open", None, "system", None);
    let find = |action: &str, id: i64| {
        all.iter()
            .find(|e| e.action == action && e.entity_id == Some(id))
            .unwrap_or_else(|| panic!("no {action} for {id} in {all:#?}"))
    };
    for d in [&w.company, &w.sales, &w.north, &w.south, &w.support] {
        let e = find("department.create", d.id.0);
        assert_entry(e, "department.create", None, "department", Some(d.id.0));
        assert_eq!(detail(e)["name"], json!([null, d.name]));
    }
    for u in [&w.admin, &w.diana, &w.nick, &w.nora, &w.sam, &w.olga] {
        let e = find("user.create", u.id.0);
        assert_entry(e, "user.create", None, "user", Some(u.id.0));
        assert_eq!(detail(e)["user"][1]["email"], json!(u.email));
    }
    for r in [&w.rep, &w.lead, &w.director] {
        assert_entry(
            find("role.create", r.id.0),
            "role.create",
            None,
            "role",
            Some(r.id.0),
        );
        assert_entry(
            find("role.assign", r.id.0),
            "role.assign",
            None,
            "role",
            Some(r.id.0),
        );
    }
    let e = find("department.set_head", w.north.id.0);
    assert_eq!(detail(e), json!({"head_user_id": [null, w.nick.id.0]}));

    // Later changes by an administrator user.
    let admin = w.ctx(&w.admin);
    let a = Some(w.admin.id.0);
    let tmp = w
        .crm
        .create_department(
            &admin,
            &NewDepartment {
                name: "Temp".into(),
                parent_id: Some(w.company.id),
            },
        )
        .unwrap();
    w.org_of(&w.nora, "One");
    w.org_of(&w.nora, "Two");
    let moved = w.crm.move_user(&admin, w.nora.id, w.south.id).unwrap();
    assert_eq!(moved, 2);
    let forbid = w
        .crm
        .add_forbid(
            &admin,
            &Forbid {
                id: crm_core::ids::ForbidId::unset(),
                subject: ForbidSubject::User { user_id: w.sam.id },
                entity: EntityType::Client,
                action: Action::Delete,
                target: ForbidTarget::AllRecords,
            },
        )
        .unwrap();
    w.crm
        .move_department(&admin, tmp.id, Some(w.sales.id))
        .unwrap();
    w.crm.delete_department(&admin, tmp.id).unwrap();
    w.crm.set_user_active(&admin, w.olga.id, false).unwrap();
    let last = w.last_audit(6);
    assert_entry(&last[0], "user.set_active", a, "user", Some(w.olga.id.0));
    assert_eq!(detail(&last[0]), json!({"active": [true, false]}));
    assert_entry(
        &last[1],
        "department.delete",
        a,
        "department",
        Some(tmp.id.0),
    );
    assert_eq!(detail(&last[1]), json!({"name": ["Temp", null]}));
    assert_entry(&last[2], "department.move", a, "department", Some(tmp.id.0));
    assert_eq!(
        detail(&last[2]),
        json!({"parent_id": [w.company.id.0, w.sales.id.0]})
    );
    assert_entry(&last[3], "forbid.create", a, "forbid", Some(forbid.0));
    assert_entry(&last[4], "user.move", a, "user", Some(w.nora.id.0));
    assert_eq!(
        detail(&last[4]),
        json!({"department_id": [w.north.id.0, w.south.id.0], "restamped_records": 2})
    );
    assert_entry(&last[5], "client.create", None, "client", last[5].entity_id);
}

#[test]
fn audit_ids_are_consecutive_and_verify_is_ok_on_an_untouched_log() {
    let w = populated();
    let all = w.all_audit();
    assert!(all.len() >= 30);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.id, AuditId(i as i64 + 1));
    }
    let report = w.crm.verify_audit(&w.sys).unwrap();
    assert!(report.ok, "{report:?}");
    assert!(report.problems.is_empty());
    assert_eq!(report.entries, all.len() as u64);
    // An administrator user may verify too.
    let report = w.crm.verify_audit(&w.ctx(&w.admin)).unwrap();
    assert!(report.ok);
}

/// A world with some clients, updates and a denial in its log.
fn populated() -> World {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    for i in 0..5 {
        let c = w
            .crm
            .create_client(&nora, &NewClient::organization(format!("Client {i}")))
            .unwrap();
        w.crm
            .update_client(
                &nora,
                c.id,
                c.version,
                &ClientUpdate {
                    tags: Patch::Set(vec![format!("t{i}")]),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    let _ = w.crm.create_client(
        &nora,
        &NewClient {
            owner_id: Some(w.sam.id),
            ..NewClient::organization("Denied")
        },
    );
    w
}

/// Closes the engine, runs `sql` on the file as an attacker would, and reopens it. Returns the
/// reopened engine and the number of entries before the tampering.
fn tamper(w: World, sql: &str) -> (Crm, crm_core::Ctx, i64, tempfile::TempDir) {
    let n = w.all_audit().len() as i64;
    assert!(w.crm.verify_audit(&w.sys).unwrap().ok);
    let World {
        dir,
        path,
        crm,
        admin,
        ..
    } = w;
    drop(crm);
    raw(&path).execute_batch(sql).expect("tamper");
    let crm = Crm::open(&path).unwrap();
    // A user context is minted without writing anything, so the log stays as the attacker left it.
    let ctx = crm.user_context(admin.id).unwrap();
    (crm, ctx, n, dir)
}

fn raw(path: &Path) -> Connection {
    Connection::open(path).expect("raw connection")
}

const DROP_TRIGGERS: &str = "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;";

#[test]
fn the_triggers_refuse_update_and_delete() {
    let w = populated();
    let before = w.snapshot();
    let conn = raw(&w.path);
    for sql in [
        "UPDATE audit_log SET detail = '{}' WHERE id = 3",
        "UPDATE audit_log SET outcome = 'ok'",
        "DELETE FROM audit_log WHERE id = 3",
        "DELETE FROM audit_log WHERE id > 10",
        "DELETE FROM audit_log",
    ] {
        let err = conn.execute(sql, []).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    drop(conn);
    before.assert_same(&w.snapshot(), "refused tampering");
    assert!(w.crm.verify_audit(&w.sys).unwrap().ok);
}

#[test]
fn an_edited_entry_is_detected() {
    for (id, set) in [
        (5, "detail = '{\"name\":[null,\"Forged\"]}'"),
        (12, "actor_id = 999"),
        (3, "at = at + 1"),
        (20, "action = 'client.read'"),
    ] {
        let w = populated();
        let (crm, ctx, n, _dir) = tamper(
            w,
            &format!("{DROP_TRIGGERS} UPDATE audit_log SET {set} WHERE id = {id};"),
        );
        let report = crm.verify_audit(&ctx).unwrap();
        assert!(!report.ok, "{set}");
        assert_eq!(report.entries, n as u64);
        assert_eq!(
            report.problems,
            vec![AuditProblem::Edited { id: AuditId(id) }],
            "{set}"
        );
    }
    // The newest entry too (it is covered by the head record).
    let w = populated();
    let n = w.all_audit().len() as i64;
    let (crm, ctx, _, _dir) = tamper(
        w,
        &format!("{DROP_TRIGGERS} UPDATE audit_log SET outcome = 'ok' WHERE id = {n};"),
    );
    let report = crm.verify_audit(&ctx).unwrap();
    assert_eq!(
        report.problems,
        vec![AuditProblem::Edited { id: AuditId(n) }]
    );
}

#[test]
fn a_removed_middle_entry_is_detected() {
    let w = populated();
    let (crm, ctx, n, _dir) = tamper(
        w,
        &format!("{DROP_TRIGGERS} DELETE FROM audit_log WHERE id = 7;"),
    );
    let report = crm.verify_audit(&ctx).unwrap();
    assert!(!report.ok);
    assert_eq!(report.entries, n as u64 - 1);
    assert_eq!(
        report.problems,
        vec![AuditProblem::Removed { id: AuditId(8) }]
    );

    // Several entries in a row.
    let w = populated();
    let (crm, ctx, _, _dir) = tamper(
        w,
        &format!("{DROP_TRIGGERS} DELETE FROM audit_log WHERE id BETWEEN 10 AND 14;"),
    );
    let report = crm.verify_audit(&ctx).unwrap();
    assert_eq!(
        report.problems,
        vec![AuditProblem::Removed { id: AuditId(15) }]
    );

    // The very first entry.
    let w = populated();
    let (crm, ctx, _, _dir) = tamper(
        w,
        &format!("{DROP_TRIGGERS} DELETE FROM audit_log WHERE id = 1;"),
    );
    let report = crm.verify_audit(&ctx).unwrap();
    assert_eq!(
        report.problems,
        vec![AuditProblem::Removed { id: AuditId(2) }]
    );
}

#[test]
fn removed_newest_entries_are_detected() {
    let w = populated();
    let n = w.all_audit().len() as i64;
    let (crm, ctx, _, _dir) = tamper(
        w,
        &format!(
            "{DROP_TRIGGERS} DELETE FROM audit_log WHERE id > {};",
            n - 3
        ),
    );
    let report = crm.verify_audit(&ctx).unwrap();
    assert!(!report.ok);
    assert_eq!(report.entries, n as u64 - 3);
    assert_eq!(
        report.problems,
        vec![AuditProblem::TailRemoved {
            last_present: n - 3,
            expected_last: n,
        }]
    );

    // Only the newest one.
    let w = populated();
    let (crm, ctx, _, _dir) = tamper(
        w,
        &format!("{DROP_TRIGGERS} DELETE FROM audit_log WHERE id = {n};"),
    );
    let report = crm.verify_audit(&ctx).unwrap();
    assert_eq!(
        report.problems,
        vec![AuditProblem::TailRemoved {
            last_present: n - 1,
            expected_last: n,
        }]
    );

    // Everything.
    let w = populated();
    let (crm, ctx, _, _dir) = tamper(w, &format!("{DROP_TRIGGERS} DELETE FROM audit_log;"));
    let report = crm.verify_audit(&ctx).unwrap();
    assert_eq!(report.entries, 0);
    assert_eq!(
        report.problems,
        vec![AuditProblem::TailRemoved {
            last_present: 0,
            expected_last: n,
        }]
    );
}

#[test]
fn tampering_is_still_reported_after_new_entries_are_appended() {
    // New writes after an undetected edit must not "heal" the chain.
    let w = populated();
    let (crm, ctx, _, _dir) = tamper(
        w,
        &format!("{DROP_TRIGGERS} UPDATE audit_log SET detail = '{{}}' WHERE id = 9;"),
    );
    let sys = crm.system_context("after tampering").unwrap();
    let report = crm.verify_audit(&sys).unwrap();
    assert_eq!(
        report.problems,
        vec![AuditProblem::Edited { id: AuditId(9) }]
    );
    drop(ctx);
}
