//! Outbox event ids grow in commit order and are never handed out twice, also after pruning
//! everything and across the upgrade that dropped AUTOINCREMENT (schema 11): a consumer's
//! cursor must never skip a new event.

mod common;

use common::*;
use crm_core::model::{NewClient, NewDepartment, NewUser};
use crm_core::testing::create_at_schema_version;
use crm_core::Crm;
use rusqlite::Connection;

#[test]
fn pruning_everything_keeps_the_newest_event_so_ids_keep_growing() {
    let w = World::new();
    for i in 0..3 {
        w.org_of(&w.nick, &format!("Client {i}"));
    }
    let head = w.crm.outbox_head(&w.sys).unwrap();
    assert!(head > 0);
    w.crm.outbox_ack(&w.sys, "connector", head).unwrap();

    let deleted = w.crm.outbox_prune(&w.sys).unwrap();
    assert!(deleted > 0);
    assert_eq!(
        w.crm.outbox_head(&w.sys).unwrap(),
        head,
        "the newest event stays"
    );
    // Pruning again finds nothing more to delete.
    assert_eq!(w.crm.outbox_prune(&w.sys).unwrap(), 0);

    let c = w.org_of(&w.nick, "After the prune");
    let events = w.crm.outbox_events(&w.sys, head, &[], 100).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].id > head);
    assert_eq!(events[0].entity_id, c.id.0);
}

#[test]
fn an_outbox_pruned_empty_before_schema_11_continues_above_its_last_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    create_at_schema_version(&path, 10).unwrap();
    // An engine at schema 10 handed out ids 1..=41 and pruned them all.
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "INSERT INTO outbox (id, at, event_type, entity, entity_id, owner_id, dept_id, is_open, payload)
                 VALUES (41, 0, 'client.create', 'client', 1, 1, 1, 0, '{}');
             DELETE FROM outbox;",
        )
        .unwrap();
        let seq: i64 = c
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(seq, 41);
    }

    let crm = Crm::open(&path).unwrap();
    let sys = crm.system_context("outbox test").unwrap();
    let d = crm
        .create_department(
            &sys,
            &NewDepartment {
                name: "Sales".into(),
                parent_id: None,
            },
        )
        .unwrap();
    let u = crm
        .create_user(
            &sys,
            &NewUser {
                name: "Owner".into(),
                email: "owner@corp.example".into(),
                department_id: d.id,
                admin: false,
            },
        )
        .unwrap();
    let c = crm
        .create_client(
            &sys,
            &NewClient {
                owner_id: Some(u.id),
                ..NewClient::organization("New Ltd")
            },
        )
        .unwrap();
    // The marker keeping id 41 is never delivered; the new event comes after it.
    let events = crm.outbox_events(&sys, 0, &[], 100).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].id, 42);
    assert_eq!(events[0].entity_id, c.id.0);
}
