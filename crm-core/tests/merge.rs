//! Merging duplicate clients and undoing a merge: what moves to the survivor (contact people,
//! deals as client and as contact, activities, subsidiaries, the timeline), how fields are
//! chosen (conflicts need an explicit choice, lists are unioned), the archived duplicate, the
//! audit entry, a complete undo that runs once, and the permissions a merge needs.

mod data_common;

use crm_core::access::{AccessLevel, Action, EntityType};
use crm_core::ids::{ActivityId, ClientId, DealId};
use crm_core::model::{
    ActivityKind, Address, Client, ClientQuery, ClientUpdate, Email, EmailKind, MergeChoice,
    MergeRequest, NewActivity, NewClient, NewDeal, NewUser, Patch, Phone, RoleSubject, StageMove,
    TimelineItem, User,
};
use crm_core::money::Currency;
use crm_core::{CrmError, Ctx, TimelineQuery};
use data_common::*;
use serde_json::json;
use std::collections::BTreeMap;

fn email(a: &str) -> Email {
    Email {
        kind: EmailKind::Work,
        address: a.into(),
    }
}

/// The client fields a merge and its undo touch, without bookkeeping.
#[derive(Debug, PartialEq, Clone)]
struct Fields {
    name: String,
    parent_id: Option<ClientId>,
    tax_id: Option<String>,
    registration_number: Option<String>,
    emails: Vec<Email>,
    phones: Vec<Phone>,
    addresses: Vec<Address>,
    tags: Vec<String>,
    custom: BTreeMap<String, serde_json::Value>,
    owner: crm_core::ids::UserId,
    department: crm_core::ids::DepartmentId,
    open: bool,
    archived: bool,
    external_id: Option<String>,
}

fn fields(c: &Client) -> Fields {
    Fields {
        name: c.name.clone(),
        parent_id: c.parent_id,
        tax_id: c.tax_id.clone(),
        registration_number: c.registration_number.clone(),
        emails: c.emails.clone(),
        phones: c.phones.clone(),
        addresses: c.addresses.clone(),
        tags: c.tags.clone(),
        custom: c.custom.clone(),
        owner: c.owner_id,
        department: c.department_id,
        open: c.open,
        archived: c.archived_at.is_some(),
        external_id: c.external_id.clone(),
    }
}

/// Two duplicate organisations with everything that can hang on a client.
struct Scene {
    db: Db,
    s: Client,
    d: Client,
    sub: Client,
    p1: Client,
    p2: Client,
    deals_d: Vec<DealId>,
    deal_s: DealId,
    acts_d: Vec<ActivityId>,
}

fn eur() -> Currency {
    Currency::parse("EUR", "currency").expect("EUR")
}

fn scene() -> Scene {
    let db = Db::new();
    let (crm, sys) = (&db.crm, &db.sys);
    let org = |n: NewClient| crm.create_client(sys, &n).expect("client");
    let s = org(NewClient {
        owner_id: Some(db.org.ann.id),
        tax_id: Some("DE 111".into()),
        emails: vec![email("info@acme.example")],
        tags: vec!["a".into()],
        custom: BTreeMap::from([("note".to_string(), json!("survivor note"))]),
        ..NewClient::organization("Acme GmbH")
    });
    let d = org(NewClient {
        owner_id: Some(db.org.bob.id),
        external_id: Some("ACME-OLD".into()),
        emails: vec![email("sales@acme.example"), email("info@acme.example")],
        phones: vec![Phone {
            kind: Default::default(),
            number: "+49 30 123456".into(),
        }],
        addresses: vec![Address {
            city: Some("Berlin".into()),
            ..Default::default()
        }],
        tags: vec!["b".into(), "a".into()],
        custom: BTreeMap::from([("segment".to_string(), json!("plain"))]),
        ..NewClient::organization("ACME Gmbh.")
    });
    let sub = org(NewClient {
        owner_id: Some(db.org.bob.id),
        parent_id: Some(d.id),
        ..NewClient::organization("Acme Branch")
    });
    let person = |name: &str| {
        crm.create_client(
            sys,
            &NewClient {
                owner_id: Some(db.org.ann.id),
                ..NewClient::person(name)
            },
        )
        .expect("person")
    };
    let p1 = person("Pia One");
    let p2 = person("Pit Two");
    crm.link_contact(sys, s.id, p1.id, Some("CEO"))
        .expect("link");
    crm.link_contact(sys, d.id, p1.id, Some("Chief"))
        .expect("link");
    crm.link_contact(sys, d.id, p2.id, Some("CTO"))
        .expect("link");
    let deal = |title: &str, client: ClientId, contact: Option<ClientId>| {
        crm.create_deal(
            sys,
            &NewDeal {
                client_id: Some(client),
                contact_id: contact,
                owner_id: Some(db.org.bob.id),
                ..NewDeal::new(title, db.org.pipeline.id, eur())
            },
        )
        .expect("deal")
    };
    let d1 = deal("Duplicate's deal", d.id, Some(p2.id));
    let d2 = deal("Another of the duplicate", d.id, None);
    let ds = deal("Survivor's deal", s.id, Some(p1.id));
    crm.move_deal(
        sys,
        d1.id,
        d1.version,
        &StageMove {
            stage_id: db.stage("Qualified"),
            lost_reason: None,
            at: None,
        },
    )
    .expect("move");
    let act = |subject: &str, client: Option<ClientId>, deal: Option<DealId>| {
        crm.create_activity(
            sys,
            &NewActivity {
                client_id: client,
                deal_id: deal,
                assignee_id: Some(db.org.bob.id),
                ..NewActivity::new(ActivityKind::Call, subject)
            },
        )
        .expect("activity")
        .id
    };
    let a1 = act("Call the duplicate", Some(d.id), None);
    let a2 = act("Call about the deal", None, Some(d1.id));
    // A change in the duplicate's own history.
    let d = crm
        .update_client(
            sys,
            d.id,
            d.version,
            &ClientUpdate {
                registration_number: Patch::Set(Some("HRB 42".into())),
                ..Default::default()
            },
        )
        .expect("update duplicate");
    let s = crm.get_client(sys, s.id).expect("s");
    Scene {
        db,
        s,
        d,
        sub,
        p1,
        p2,
        deals_d: vec![d1.id, d2.id],
        deal_s: ds.id,
        acts_d: vec![a1, a2],
    }
}

fn request(s: &Client, d: &Client, choices: &[(&str, MergeChoice)]) -> MergeRequest {
    MergeRequest {
        survivor_id: s.id,
        duplicate_id: d.id,
        choices: choices.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

/// Everything a merge may change, for before/after comparisons.
#[derive(Debug, PartialEq)]
struct State {
    clients: Vec<(ClientId, Fields)>,
    deals: Vec<(DealId, Option<ClientId>, Option<ClientId>)>,
    activities: Vec<(ActivityId, Option<ClientId>)>,
    links: Vec<(ClientId, ClientId, Option<String>)>,
}

fn state(sc: &Scene) -> State {
    let (crm, sys) = (&sc.db.crm, &sc.db.sys);
    let clients = all_clients(crm, sys);
    let mut links = Vec::new();
    for c in &clients {
        if c.kind == crm_core::model::ClientKind::Organization {
            for l in crm.contacts_of(sys, c.id).expect("contacts") {
                links.push((l.organization_id, l.person_id, l.position));
            }
        }
    }
    links.sort();
    State {
        clients: clients.iter().map(|c| (c.id, fields(c))).collect(),
        deals: all_deals(crm, sys)
            .iter()
            .map(|d| (d.id, d.client_id, d.contact_id))
            .collect(),
        activities: sc
            .acts_d
            .iter()
            .map(|&a| (a, crm.get_activity(sys, a).expect("activity").client_id))
            .collect(),
        links,
    }
}

fn timeline(db: &Db, ctx: &Ctx, c: ClientId) -> Vec<TimelineItem> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = db
            .crm
            .client_timeline(
                ctx,
                c,
                &TimelineQuery {
                    limit: Some(500),
                    after: after.clone(),
                },
            )
            .expect("timeline");
        out.extend(page.items.into_iter().map(|e| e.item));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    out
}

/// Audited changes of `who` (by entity id) in a timeline.
fn changes_of(items: &[TimelineItem], who: ClientId) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match i {
            TimelineItem::Change { entry }
                if entry.entity == "client" && entry.entity_id == Some(who.0) =>
            {
                Some(entry.action.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_merge_moves_everything_to_the_survivor_and_archives_the_duplicate() {
    let sc = scene();
    let (crm, sys) = (&sc.db.crm, &sc.db.sys);
    let before_timeline = timeline(&sc.db, sys, sc.s.id);
    assert!(changes_of(&before_timeline, sc.d.id).is_empty());
    let out = crm
        .merge_clients(
            sys,
            &request(&sc.s, &sc.d, &[("name", MergeChoice::Survivor)]),
        )
        .expect("merge");
    assert_eq!(
        (out.deals, out.activities, out.contacts, out.subsidiaries),
        (2, 2, 1, 1),
        "{out:?}"
    );
    let s = crm.get_client(sys, sc.s.id).expect("survivor");
    assert_eq!(out.survivor, s);
    assert_eq!(s.name, "Acme GmbH");
    assert_eq!(s.tax_id.as_deref(), Some("DE 111"));
    assert_eq!(
        s.registration_number.as_deref(),
        Some("HRB 42"),
        "only the duplicate had one"
    );
    assert_eq!(s.external_id.as_deref(), Some("ACME-OLD"), "taken over");
    assert_eq!(
        s.emails,
        vec![email("info@acme.example"), email("sales@acme.example")],
        "lists are unioned"
    );
    assert_eq!(s.tags, vec!["a".to_string(), "b".into()]);
    assert_eq!(s.phones, sc.d.phones);
    assert_eq!(s.addresses, sc.d.addresses);
    assert_eq!(s.custom["note"], json!("survivor note"));
    assert_eq!(s.custom["segment"], json!("plain"));
    assert_eq!(s.owner_id, sc.s.owner_id, "the owner stays unless chosen");

    let d = crm.get_client(sys, sc.d.id).expect("duplicate");
    assert!(d.archived_at.is_some(), "the duplicate is archived");
    assert_eq!(d.external_id, None, "the duplicate gave up its external id");

    for &id in &sc.deals_d {
        assert_eq!(crm.get_deal(sys, id).expect("deal").client_id, Some(s.id));
    }
    for &id in &sc.acts_d {
        assert_eq!(
            crm.get_activity(sys, id).expect("activity").client_id,
            Some(s.id)
        );
    }
    let subs = crm
        .list_clients(
            sys,
            &ClientQuery {
                parent_id: Some(s.id),
                ..Default::default()
            },
        )
        .expect("subsidiaries");
    assert_eq!(
        subs.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![sc.sub.id]
    );
    let links: Vec<(ClientId, Option<String>)> = crm
        .contacts_of(sys, s.id)
        .expect("contacts")
        .into_iter()
        .map(|l| (l.person_id, l.position))
        .collect();
    assert_eq!(
        links,
        vec![
            (sc.p1.id, Some("CEO".into())),
            (sc.p2.id, Some("CTO".into()))
        ],
        "the survivor's own link wins over the duplicate's"
    );
    assert!(crm.contacts_of(sys, sc.d.id).expect("contacts").is_empty());

    // The survivor's timeline shows the duplicate's history: its own changes, its deals'
    // stage changes and its activities.
    let items = timeline(&sc.db, sys, s.id);
    let d_changes = changes_of(&items, sc.d.id);
    assert!(
        d_changes.contains(&"client.create".to_string())
            && d_changes.contains(&"client.update".to_string()),
        "{d_changes:?}"
    );
    let stage_deals: Vec<DealId> = items
        .iter()
        .filter_map(|i| match i {
            TimelineItem::StageChange { event, .. } => Some(event.deal_id),
            _ => None,
        })
        .collect();
    for id in &sc.deals_d {
        assert!(stage_deals.contains(id), "stage history of deal {id}");
    }
    let acts: Vec<ActivityId> = items
        .iter()
        .filter_map(|i| match i {
            TimelineItem::Activity { activity } => Some(activity.id),
            _ => None,
        })
        .collect();
    for id in &sc.acts_d {
        assert!(
            acts.contains(id),
            "activity {id} on the survivor's timeline"
        );
    }

    // Audited, once, with the counts.
    let merges = audit_with(crm, sys, "client.merge");
    assert_eq!(merges.len(), 1);
    assert_eq!(merges[0].entity_id, Some(s.id.0));
    assert_eq!(detail_u64(&merges[0], "duplicate_id"), sc.d.id.0 as u64);
    assert_eq!(detail_u64(&merges[0], "merge_id"), out.merge_id as u64);
    assert_eq!(detail_u64(&merges[0], "deals"), 2);
    assert!(crm.verify_audit(sys).expect("verify").ok);
    let _ = sc.deal_s;
}

#[test]
fn conflicting_fields_need_an_explicit_choice() {
    let sc = scene();
    let (crm, sys) = (&sc.db.crm, &sc.db.sys);
    // Make more fields disagree.
    let d = crm
        .update_client(
            sys,
            sc.d.id,
            sc.d.version,
            &ClientUpdate {
                tax_id: Patch::Set(Some("DE 222".into())),
                custom: BTreeMap::from([("note".to_string(), json!("duplicate note"))]),
                open: Patch::Set(true),
                ..Default::default()
            },
        )
        .expect("update");
    let before = sc.db.snapshot();
    let err = crm
        .merge_clients(sys, &request(&sc.s, &d, &[]))
        .expect_err("conflicts");
    assert_invalid(&err, "choices");
    let text = err.to_string();
    for field in ["name", "tax_id", "open", "custom.note"] {
        assert!(text.contains(field), "{text:?} does not name {field}");
    }
    for field in ["emails", "tags", "registration_number", "custom.segment"] {
        assert!(
            !text.contains(field),
            "{text:?} names {field}, which needs no choice"
        );
    }
    assert!(before.changed_except_audit(&sc.db.snapshot()).is_empty());

    // `both` is for lists only; unknown fields are refused.
    let err = crm
        .merge_clients(sys, &request(&sc.s, &d, &[("tax_id", MergeChoice::Both)]))
        .expect_err("both on a scalar");
    assert_invalid(&err, "choices.tax_id");
    let err = crm
        .merge_clients(
            sys,
            &request(&sc.s, &d, &[("colour", MergeChoice::Survivor)]),
        )
        .expect_err("unknown field");
    assert_invalid(&err, "choices.colour");
    assert!(before.changed_except_audit(&sc.db.snapshot()).is_empty());

    let out = crm
        .merge_clients(
            sys,
            &request(
                &sc.s,
                &d,
                &[
                    ("name", MergeChoice::Duplicate),
                    ("tax_id", MergeChoice::Duplicate),
                    ("open", MergeChoice::Survivor),
                    ("custom.note", MergeChoice::Duplicate),
                    ("emails", MergeChoice::Survivor),
                    ("tags", MergeChoice::Duplicate),
                    ("owner_id", MergeChoice::Duplicate),
                ],
            ),
        )
        .expect("merge with choices");
    let s = out.survivor;
    assert_eq!(s.name, "ACME Gmbh.");
    assert_eq!(s.tax_id.as_deref(), Some("DE 222"));
    assert!(!s.open);
    assert_eq!(s.custom["note"], json!("duplicate note"));
    assert_eq!(s.emails, sc.s.emails, "survivor's list only");
    assert_eq!(
        s.tags,
        vec!["b".to_string(), "a".into()],
        "duplicate's list only"
    );
    assert_eq!(s.owner_id, sc.d.owner_id, "the duplicate's owner");
    assert_eq!(
        s.department_id, sc.d.department_id,
        "the stamp follows the owner"
    );
}

#[test]
fn merging_refuses_itself_and_mixed_kinds() {
    let sc = scene();
    let (crm, sys) = (&sc.db.crm, &sc.db.sys);
    assert_invalid(
        &crm.merge_clients(sys, &request(&sc.s, &sc.s, &[]))
            .expect_err("self"),
        "duplicate_id",
    );
    assert_invalid(
        &crm.merge_clients(sys, &request(&sc.s, &sc.p1, &[]))
            .expect_err("org and person"),
        "duplicate_id",
    );
}

#[test]
fn merging_persons_moves_deals_where_the_duplicate_is_the_contact() {
    let db = Db::new();
    let (crm, sys) = (&db.crm, &db.sys);
    let mk = |n: NewClient| {
        crm.create_client(
            sys,
            &NewClient {
                owner_id: Some(db.org.ann.id),
                ..n
            },
        )
        .expect("client")
    };
    let o = mk(NewClient::organization("Buyer Org"));
    let o2 = mk(NewClient::organization("Other Org"));
    let ps = mk(NewClient {
        emails: vec![email("pat@x.example")],
        ..NewClient::person("Pat Smith")
    });
    let pd = mk(NewClient {
        emails: vec![email("PAT@x.example")],
        ..NewClient::person("Pat Smith")
    });
    crm.link_contact(sys, o.id, pd.id, Some("Buyer"))
        .expect("link");
    crm.link_contact(sys, o2.id, pd.id, Some("Old"))
        .expect("link");
    crm.link_contact(sys, o2.id, ps.id, Some("New"))
        .expect("link");
    let deal = crm
        .create_deal(
            sys,
            &NewDeal {
                client_id: Some(o.id),
                contact_id: Some(pd.id),
                owner_id: Some(db.org.ann.id),
                ..NewDeal::new("Through Pat", db.org.pipeline.id, eur())
            },
        )
        .expect("deal");
    let own = crm
        .create_deal(
            sys,
            &NewDeal {
                client_id: Some(pd.id),
                contact_id: Some(pd.id),
                owner_id: Some(db.org.ann.id),
                ..NewDeal::new("Pat's own", db.org.pipeline.id, eur())
            },
        )
        .expect("deal");
    let out = crm
        .merge_clients(
            sys,
            &MergeRequest {
                survivor_id: ps.id,
                duplicate_id: pd.id,
                choices: BTreeMap::new(),
            },
        )
        .expect("merge");
    // Two deals move; "Pat's own" names the duplicate as client and as contact person and
    // counts once.
    assert_eq!((out.deals, out.contacts), (2, 1), "{out:?}");
    let moved = crm.get_deal(sys, deal.id).expect("deal");
    assert_eq!(
        (moved.client_id, moved.contact_id),
        (Some(o.id), Some(ps.id))
    );
    let own = crm.get_deal(sys, own.id).expect("deal");
    assert_eq!((own.client_id, own.contact_id), (Some(ps.id), Some(ps.id)));
    let orgs: Vec<(ClientId, Option<String>)> = crm
        .organizations_of(sys, ps.id)
        .expect("orgs")
        .into_iter()
        .map(|l| (l.organization_id, l.position))
        .collect();
    assert_eq!(
        orgs,
        vec![(o.id, Some("Buyer".into())), (o2.id, Some("New".into()))]
    );
    assert_eq!(
        out.survivor.emails.len(),
        2,
        "e-mails differing in case are both kept (the union is exact)"
    );
    // Undo puts the links and the deals back.
    crm.undo_merge(sys, out.merge_id).expect("undo");
    let back = crm.get_deal(sys, deal.id).expect("deal");
    assert_eq!(back.contact_id, Some(pd.id));
    let orgs: Vec<ClientId> = crm
        .organizations_of(sys, pd.id)
        .expect("orgs")
        .into_iter()
        .map(|l| l.organization_id)
        .collect();
    assert_eq!(orgs, vec![o.id, o2.id]);
    let orgs: Vec<(ClientId, Option<String>)> = crm
        .organizations_of(sys, ps.id)
        .expect("orgs")
        .into_iter()
        .map(|l| (l.organization_id, l.position))
        .collect();
    assert_eq!(orgs, vec![(o2.id, Some("New".into()))]);
}

#[test]
fn undo_restores_the_state_before_the_merge_and_runs_once() {
    let sc = scene();
    let (crm, sys) = (&sc.db.crm, &sc.db.sys);
    let before = state(&sc);
    let out = crm
        .merge_clients(
            sys,
            &request(
                &sc.s,
                &sc.d,
                &[
                    ("name", MergeChoice::Duplicate),
                    ("owner_id", MergeChoice::Duplicate),
                    ("tags", MergeChoice::Both),
                ],
            ),
        )
        .expect("merge");
    assert_ne!(state(&sc), before);
    let restored = crm.undo_merge(sys, out.merge_id).expect("undo");
    let after = state(&sc);
    assert_eq!(
        after.clients, before.clients,
        "client fields, owners, archive state"
    );
    assert_eq!(after.deals, before.deals, "deal references");
    assert_eq!(after.activities, before.activities, "activity references");
    assert_eq!(after.links, before.links, "contact links");
    assert_eq!(fields(&restored), fields(&sc.s));
    assert!(
        changes_of(&timeline(&sc.db, sys, sc.s.id), sc.d.id).is_empty(),
        "the duplicate's history leaves the survivor's timeline again"
    );
    let unmerges = audit_with(crm, sys, "client.unmerge");
    assert_eq!(unmerges.len(), 1);
    assert_eq!(unmerges[0].entity_id, Some(sc.s.id.0));

    // Not twice.
    let snap = sc.db.snapshot();
    let err = crm.undo_merge(sys, out.merge_id).expect_err("second undo");
    assert!(
        matches!(
            err,
            CrmError::NotFound {
                entity: "merge",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(snap.changed_except_audit(&sc.db.snapshot()).is_empty());
    let err = crm.undo_merge(sys, 999).expect_err("no such merge");
    assert!(matches!(err, CrmError::NotFound { .. }), "{err:?}");
    assert!(crm.verify_audit(sys).expect("verify").ok);
}

#[test]
fn undo_restores_a_parent_link_between_the_two() {
    let db = Db::new();
    let (crm, sys) = (&db.crm, &db.sys);
    let mk = |name: &str, parent: Option<ClientId>| {
        crm.create_client(
            sys,
            &NewClient {
                owner_id: Some(db.org.ann.id),
                parent_id: parent,
                ..NewClient::organization(name)
            },
        )
        .expect("client")
    };
    let d = mk("Parent Duplicate", None);
    let s = mk("Child Survivor", Some(d.id));
    let out = crm
        .merge_clients(
            sys,
            &MergeRequest {
                survivor_id: s.id,
                duplicate_id: d.id,
                choices: BTreeMap::from([("name".to_string(), MergeChoice::Survivor)]),
            },
        )
        .expect("merge");
    assert_eq!(out.survivor.parent_id, None, "not its own parent");
    crm.undo_merge(sys, out.merge_id).expect("undo");
    assert_eq!(crm.get_client(sys, s.id).expect("s").parent_id, Some(d.id));
    assert!(crm.get_client(sys, d.id).expect("d").archived_at.is_none());
}

#[test]
fn an_archived_duplicate_stays_archived_after_an_undo() {
    let sc = scene();
    let (crm, sys) = (&sc.db.crm, &sc.db.sys);
    let d = crm
        .archive_client(sys, sc.d.id, sc.d.version)
        .expect("archive");
    let out = crm
        .merge_clients(sys, &request(&sc.s, &d, &[("name", MergeChoice::Survivor)]))
        .expect("merge an archived duplicate");
    assert_eq!(out.deals, 2);
    crm.undo_merge(sys, out.merge_id).expect("undo");
    let back = crm.get_client(sys, d.id).expect("d");
    assert_eq!(
        back.archived_at, d.archived_at,
        "archived before, archived after"
    );
    assert_eq!(back.external_id, d.external_id);
}

/// A user with the given grants (on top of nothing), in the Support department.
fn user_with(db: &Db, name: &str, grants: Vec<crm_core::access::Grant>) -> (User, Ctx) {
    let u = db
        .crm
        .create_user(
            &db.sys,
            &NewUser {
                name: name.into(),
                email: format!("{}@corp.example", name.to_lowercase()),
                department_id: db.org.support.id,
                admin: false,
            },
        )
        .expect("user");
    let role = db.crm.create_role(&db.sys, name, &grants).expect("role");
    db.crm
        .assign_role(&db.sys, role.id, &RoleSubject::User { user_id: u.id })
        .expect("assign");
    let ctx = db.ctx(&u);
    (u, ctx)
}

fn all_level(entity: EntityType, actions: &[Action]) -> Vec<crm_core::access::Grant> {
    grants(entity, AccessLevel::All, actions)
}

#[test]
fn a_merge_needs_update_on_the_survivor_delete_on_the_duplicate_and_update_on_what_moves() {
    let sc = scene();
    let db = &sc.db;
    let req = request(&sc.s, &sc.d, &[("name", MergeChoice::Survivor)]);
    let denied = |ctx: &Ctx, what: &str, entity: EntityType, action: Action| {
        let before = db.snapshot();
        let err = db.crm.merge_clients(ctx, &req).expect_err(what);
        match &err {
            CrmError::PermissionDenied {
                entity: e,
                action: a,
                ..
            } => assert_eq!((*e, *a), (entity, action), "{what}: {err:?}"),
            other => panic!("{what}: expected PermissionDenied, got {other:?}"),
        }
        assert!(
            before.changed_except_audit(&db.snapshot()).is_empty(),
            "{what}: a refused merge changed data"
        );
    };
    // Dora may read and update clients but not delete them.
    denied(
        &db.ctx(&db.org.dora),
        "no delete",
        EntityType::Client,
        Action::Delete,
    );
    // Update on the survivor: a user who may delete but not update.
    let (_, no_update) = user_with(
        db,
        "Noupdate",
        all_level(EntityType::Client, &[Action::Read, Action::Delete]),
    );
    denied(&no_update, "no update", EntityType::Client, Action::Update);
    // Clients fully, deals only readable: the duplicate's deals cannot move.
    let client_rights = all_level(
        EntityType::Client,
        &[Action::Read, Action::Update, Action::Delete],
    );
    let mut g = client_rights.clone();
    g.extend(all_level(EntityType::Deal, &[Action::Read]));
    g.extend(all_level(EntityType::Activity, &[Action::Read]));
    let (mia, mia_ctx) = user_with(db, "Mia", g.clone());
    denied(&mia_ctx, "deals", EntityType::Deal, Action::Update);
    let role = db
        .crm
        .roles(&db.sys)
        .expect("roles")
        .into_iter()
        .find(|r| r.name == "Mia")
        .expect("role");
    g.extend(all_level(EntityType::Deal, &[Action::Update]));
    db.crm
        .set_role_grants(&db.sys, role.id, &g)
        .expect("grants");
    denied(&mia_ctx, "activities", EntityType::Activity, Action::Update);
    g.extend(all_level(EntityType::Activity, &[Action::Update]));
    db.crm
        .set_role_grants(&db.sys, role.id, &g)
        .expect("grants");
    let out = db
        .crm
        .merge_clients(&mia_ctx, &req)
        .expect("merge with every right");
    let entry = audit_with(&db.crm, &db.sys, "client.merge").remove(0);
    assert_eq!(entry.actor_id, Some(mia.id.0));
    // Undo needs the same rights on the two clients.
    let err = db
        .crm
        .undo_merge(&db.ctx(&db.org.dora), out.merge_id)
        .expect_err("undo without delete");
    assert_permission(&err);
    db.crm.undo_merge(&mia_ctx, out.merge_id).expect("undo");
    // At own level (Bob owns the duplicate, not the survivor) nothing is merged.
    let err = db
        .crm
        .merge_clients(&db.ctx(&db.org.bob), &req)
        .expect_err("own level");
    assert!(
        err.is_permission() || matches!(err, CrmError::NotFound { .. }),
        "{err:?}"
    );
}

/// An undo checks the actor's rights again, on the records as they are now: whoever lost the
/// update right on what moves back (deals, activities) since the merge is refused with
/// `PermissionDenied`, the refusal is audited as a denial, and nothing changes.
#[test]
fn undo_needs_update_on_everything_it_moves_back() {
    let sc = scene();
    let db = &sc.db;
    let before_merge = state(&sc);
    let req = request(&sc.s, &sc.d, &[("name", MergeChoice::Survivor)]);
    let clients = all_level(
        EntityType::Client,
        &[Action::Read, Action::Update, Action::Delete],
    );
    let with = |deal: &[Action], activity: &[Action]| {
        let mut g = clients.clone();
        g.extend(all_level(EntityType::Deal, deal));
        g.extend(all_level(EntityType::Activity, activity));
        g
    };
    let full = with(
        &[Action::Read, Action::Update],
        &[Action::Read, Action::Update],
    );
    let (mia, mia_ctx) = user_with(db, "Mia", full.clone());
    let role = db
        .crm
        .roles(&db.sys)
        .expect("roles")
        .into_iter()
        .find(|r| r.name == "Mia")
        .expect("role");
    let out = db.crm.merge_clients(&mia_ctx, &req).expect("merge");
    let merged = state(&sc);
    let refused = |what: &str, grants: Vec<crm_core::access::Grant>, entity: EntityType| {
        db.crm
            .set_role_grants(&db.sys, role.id, &grants)
            .expect("grants");
        let before = db.snapshot();
        let denials = |e: EntityType| {
            all_audit(&db.crm, &db.sys)
                .into_iter()
                .filter(|a| {
                    a.outcome == "denied"
                        && a.actor_id == Some(mia.id.0)
                        && a.action == format!("{}.update", e.as_str())
                })
                .count()
        };
        let denied_before = denials(entity);
        let err = db.crm.undo_merge(&mia_ctx, out.merge_id).expect_err(what);
        match &err {
            CrmError::PermissionDenied {
                entity: e,
                action: Action::Update,
                ..
            } => assert_eq!(*e, entity, "{what}: {err:?}"),
            other => panic!("{what}: expected PermissionDenied on update, got {other:?}"),
        }
        assert!(
            before.changed_except_audit(&db.snapshot()).is_empty(),
            "{what}: a refused undo changed data"
        );
        assert_eq!(state(&sc), merged, "{what}: the merge is still in place");
        assert_eq!(
            denials(entity),
            denied_before + 1,
            "{what}: the refusal is audited as a denial"
        );
    };
    refused(
        "deals only readable",
        with(&[Action::Read], &[Action::Read, Action::Update]),
        EntityType::Deal,
    );
    refused(
        "activities only readable",
        with(&[Action::Read, Action::Update], &[Action::Read]),
        EntityType::Activity,
    );
    // Update on the clients themselves: delete alone does not do.
    let mut no_client_update = all_level(EntityType::Client, &[Action::Read, Action::Delete]);
    no_client_update.extend(all_level(EntityType::Deal, &[Action::Read, Action::Update]));
    no_client_update.extend(all_level(
        EntityType::Activity,
        &[Action::Read, Action::Update],
    ));
    refused(
        "clients not updatable",
        no_client_update,
        EntityType::Client,
    );
    // With the rights back the undo goes through and restores everything.
    db.crm
        .set_role_grants(&db.sys, role.id, &full)
        .expect("grants");
    db.crm.undo_merge(&mia_ctx, out.merge_id).expect("undo");
    assert_eq!(state(&sc), before_merge);
}

/// FINDING: the survivor's timeline shows the history of the client merged into it,
/// but not of the clients merged into that one before: after C → B and then B → A, C's
/// history is gone from A's timeline (the lookup follows one merge, not the chain).
#[test]
fn the_timeline_follows_a_chain_of_merges() {
    let db = Db::new();
    let (crm, sys) = (&db.crm, &db.sys);
    let mk = |name: &str| {
        crm.create_client(
            sys,
            &NewClient {
                owner_id: Some(db.org.ann.id),
                ..NewClient::organization(name)
            },
        )
        .expect("client")
    };
    let a = mk("Same Corp");
    let b = mk("Same Corp");
    let c = mk("Same Corp");
    let merge = |s: &Client, d: &Client| {
        crm.merge_clients(
            sys,
            &MergeRequest {
                survivor_id: s.id,
                duplicate_id: d.id,
                choices: BTreeMap::new(),
            },
        )
        .expect("merge")
    };
    merge(&b, &c);
    assert!(!changes_of(&timeline(&db, sys, b.id), c.id).is_empty());
    let b = crm.get_client(sys, b.id).expect("b");
    merge(&a, &b);
    let items = timeline(&db, sys, a.id);
    assert!(!changes_of(&items, b.id).is_empty(), "B's history on A");
    assert!(
        !changes_of(&items, c.id).is_empty(),
        "C's history (merged into B before) is missing from A's timeline"
    );
}
