//! Whole client flows through the public API: hierarchy, contact people, archive, delete,
//! custom fields, search, duplicates, concurrency control, reassignment, user moves and counts.

mod common;

use common::*;
use crm_core::access::{Action, EntityType};
use crm_core::ids::ClientId;
use crm_core::model::{
    ArchiveFilter, Client, ClientKind, ClientQuery, ClientUpdate, CompareOp, ContactLink,
    CustomFieldType, CustomFilter, MatchReason, NewClient, NewCustomField, Patch, SearchQuery,
};
use crm_core::{Count, CrmError, Ctx};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn create(w: &World, ctx: &Ctx, new: NewClient) -> Client {
    w.crm.create_client(ctx, &new).expect("create client")
}

fn with_parent(name: &str, parent: &Client) -> NewClient {
    NewClient {
        parent_id: Some(parent.id),
        ..NewClient::organization(name)
    }
}

fn list(w: &World, ctx: &Ctx, q: ClientQuery) -> Vec<String> {
    let page = w.crm.list_clients(ctx, &q).expect("list");
    assert!(page.next.is_none(), "more than one page");
    page.items.into_iter().map(|c| c.name).collect()
}

fn search(w: &World, ctx: &Ctx, text: &str) -> Vec<String> {
    w.crm
        .search_clients(
            ctx,
            &SearchQuery {
                text: text.into(),
                ..Default::default()
            },
        )
        .expect("search")
        .items
        .into_iter()
        .map(|c| c.name)
        .collect()
}

fn rename(name: &str) -> ClientUpdate {
    ClientUpdate {
        name: Patch::Set(name.into()),
        ..Default::default()
    }
}

#[test]
fn organisation_hierarchy_and_the_subsidiaries_filter() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let diana = w.ctx(&w.diana);
    let holding = create(&w, &nora, NewClient::organization("Holding AG"));
    let beta = create(&w, &nora, with_parent("Beta Sub", &holding));
    let alpha = create(&w, &nora, with_parent("Alpha Sub", &holding));
    let branch = create(&w, &nora, with_parent("Alpha Branch", &alpha));
    create(&w, &nora, NewClient::organization("Unrelated"));
    assert_eq!(alpha.parent_id, Some(holding.id));

    let subs = |ctx: &Ctx, p: ClientId| {
        list(
            &w,
            ctx,
            ClientQuery {
                parent_id: Some(p),
                ..Default::default()
            },
        )
    };
    assert_eq!(subs(&nora, holding.id), ["Alpha Sub", "Beta Sub"]);
    assert_eq!(subs(&nora, alpha.id), ["Alpha Branch"]);
    assert!(subs(&nora, branch.id).is_empty());
    let q = ClientQuery {
        parent_id: Some(holding.id),
        ..Default::default()
    };
    assert_eq!(
        w.crm.count_clients(&nora, &q, 100).unwrap(),
        Count {
            count: 2,
            exact: true
        }
    );

    // Re-parent the branch, then detach it.
    let branch = w
        .crm
        .update_client(
            &nora,
            branch.id,
            branch.version,
            &ClientUpdate {
                parent_id: Patch::Set(Some(beta.id)),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(branch.parent_id, Some(beta.id));
    assert!(subs(&nora, alpha.id).is_empty());
    assert_eq!(subs(&nora, beta.id), ["Alpha Branch"]);
    let branch = w
        .crm
        .update_client(
            &nora,
            branch.id,
            branch.version,
            &ClientUpdate {
                parent_id: Patch::Set(None),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(branch.parent_id, None);
    assert!(subs(&nora, beta.id).is_empty());

    // The filter is permission-filtered: Sam's subsidiary of Nora's holding is hidden from Nora.
    w.crm
        .create_client(
            &w.sys,
            &NewClient {
                owner_id: Some(w.sam.id),
                ..with_parent("South Sub", &holding)
            },
        )
        .unwrap();
    assert_eq!(subs(&nora, holding.id), ["Alpha Sub", "Beta Sub"]);
    assert_eq!(
        subs(&diana, holding.id),
        ["Alpha Sub", "Beta Sub", "South Sub"]
    );
}

#[test]
fn contact_people_of_several_organisations() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let sam = w.ctx(&w.sam);
    let diana = w.ctx(&w.diana);
    let acme = w.org_of(&w.nora, "Acme");
    let birch = w.org_of(&w.sam, "Birch");
    let anna = w.person_of(&w.nora, "Anna Schmidt");
    let bob = w.person_of(&w.sam, "Bob Brown");
    let link = |o: &Client, p: &Client, pos: &str| ContactLink {
        organization_id: o.id,
        person_id: p.id,
        position: Some(pos.into()),
    };

    w.crm
        .link_contact(&nora, acme.id, anna.id, Some("CFO"))
        .unwrap();
    // Sam may update Birch but cannot read Anna, so cannot link her.
    let e = w
        .crm
        .link_contact(&sam, birch.id, anna.id, Some("Advisor"))
        .unwrap_err();
    assert_invalid(&e, "person_id");
    w.crm
        .link_contact(&diana, birch.id, anna.id, Some("Advisor"))
        .unwrap();
    w.crm
        .link_contact(&diana, acme.id, bob.id, Some("Buyer"))
        .unwrap();

    // Diana reads everything in Sales.
    assert_eq!(
        w.crm.organizations_of(&diana, anna.id).unwrap(),
        [link(&acme, &anna, "CFO"), link(&birch, &anna, "Advisor")]
    );
    assert_eq!(
        w.crm.contacts_of(&diana, acme.id).unwrap(),
        [link(&acme, &anna, "CFO"), link(&acme, &bob, "Buyer")]
    );
    // Nora and Sam see only the links to records they can read.
    assert_eq!(
        w.crm.organizations_of(&nora, anna.id).unwrap(),
        [link(&acme, &anna, "CFO")]
    );
    assert_eq!(
        w.crm.contacts_of(&nora, acme.id).unwrap(),
        [link(&acme, &anna, "CFO")]
    );
    assert!(w.crm.contacts_of(&sam, birch.id).unwrap().is_empty());
    assert_eq!(
        w.crm.organizations_of(&sam, bob.id).unwrap(),
        Vec::<ContactLink>::new()
    );
    let e = w.crm.organizations_of(&sam, anna.id).unwrap_err();
    assert_client_not_found(&e, anna.id);

    // Linking again changes the position.
    w.crm
        .link_contact(&nora, acme.id, anna.id, Some("CEO"))
        .unwrap();
    assert_eq!(
        w.crm.organizations_of(&nora, anna.id).unwrap(),
        [link(&acme, &anna, "CEO")]
    );
    // Only organisations have contacts, and only persons are contacts.
    let e = w
        .crm
        .link_contact(&diana, anna.id, bob.id, None)
        .unwrap_err();
    assert_invalid(&e, "organization_id");
    let e = w
        .crm
        .link_contact(&diana, acme.id, birch.id, None)
        .unwrap_err();
    assert_invalid(&e, "person_id");

    // Unlink; a second unlink is an error.
    w.crm.unlink_contact(&nora, acme.id, anna.id).unwrap();
    assert!(w.crm.organizations_of(&nora, anna.id).unwrap().is_empty());
    let e = w.crm.unlink_contact(&nora, acme.id, anna.id).unwrap_err();
    assert_invalid(&e, "person_id");

    // Deleting a person removes the links.
    let bob = w.crm.get_client(&diana, bob.id).unwrap();
    w.crm.delete_client(&diana, bob.id, bob.version).unwrap();
    assert!(w.crm.contacts_of(&diana, acme.id).unwrap().is_empty());
    assert_eq!(
        w.crm.organizations_of(&diana, anna.id).unwrap(),
        [link(&birch, &anna, "Advisor")]
    );
}

#[test]
fn archive_and_restore() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let a = create(
        &w,
        &nora,
        NewClient {
            emails: vec![email("old@archived.example")],
            ..NewClient::organization("Archived Co")
        },
    );
    create(&w, &nora, NewClient::organization("Active Co"));
    let archived_q = ClientQuery {
        archive: ArchiveFilter::Archived,
        ..Default::default()
    };

    let a2 = w.crm.archive_client(&nora, a.id, a.version).unwrap();
    assert!(a2.archived_at.is_some());
    assert_eq!(a2.version, a.version + 1);
    assert_eq!(list(&w, &nora, ClientQuery::default()), ["Active Co"]);
    assert_eq!(list(&w, &nora, archived_q.clone()), ["Archived Co"]);
    assert_eq!(
        w.crm
            .count_clients(&nora, &ClientQuery::default(), 10)
            .unwrap()
            .count,
        1
    );
    assert_eq!(
        w.crm.count_clients(&nora, &archived_q, 10).unwrap().count,
        1
    );
    assert!(search(&w, &nora, "archived").is_empty());
    let hits = w
        .crm
        .search_clients(
            &nora,
            &SearchQuery {
                text: "archived".into(),
                archive: ArchiveFilter::Archived,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(names(&hits.items), ["Archived Co"]);
    // Still readable by id, with its history.
    assert_eq!(w.crm.get_client(&nora, a.id).unwrap(), a2);
    let e = w.crm.archive_client(&nora, a.id, a2.version).unwrap_err();
    assert_constraint(&e, "client", a.id.0);

    let a3 = w.crm.restore_client(&nora, a.id, a2.version).unwrap();
    assert_eq!(a3.archived_at, None);
    assert_eq!(
        list(&w, &nora, ClientQuery::default()),
        ["Active Co", "Archived Co"]
    );
    assert!(list(&w, &nora, archived_q).is_empty());
    assert_eq!(search(&w, &nora, "archived"), ["Archived Co"]);
}

#[test]
fn hard_delete_needs_the_permission_and_no_subsidiaries() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let diana = w.ctx(&w.diana);
    let holding = create(
        &w,
        &nora,
        NewClient {
            tax_id: Some("DE 42".into()),
            ..NewClient::organization("Holding")
        },
    );
    let sub = create(&w, &nora, with_parent("Subsidiary", &holding));

    let e = w
        .crm
        .delete_client(&nora, holding.id, holding.version)
        .unwrap_err();
    assert_denied(&e, Action::Delete, Some(holding.id));
    let e = w
        .crm
        .delete_client(&diana, holding.id, holding.version)
        .unwrap_err();
    assert_constraint(&e, "client", holding.id.0);

    w.crm.delete_client(&diana, sub.id, sub.version).unwrap();
    assert_client_not_found(&w.crm.get_client(&w.sys, sub.id).unwrap_err(), sub.id);
    w.crm
        .delete_client(&diana, holding.id, holding.version)
        .unwrap();
    assert_client_not_found(
        &w.crm.get_client(&w.sys, holding.id).unwrap_err(),
        holding.id,
    );
    assert!(list(&w, &diana, ClientQuery::default()).is_empty());
    assert!(search(&w, &diana, "holding").is_empty());
    let dups = w
        .crm
        .find_duplicates(
            &diana,
            &NewClient {
                tax_id: Some("de42".into()),
                ..NewClient::organization("Holding")
            },
        )
        .unwrap();
    assert!(dups.is_empty(), "{dups:?}");
    // Deleting it again: it is gone.
    let e = w
        .crm
        .delete_client(&diana, holding.id, holding.version)
        .unwrap_err();
    assert_client_not_found(&e, holding.id);
}

/// Custom-field conditions and the names of the clients expected to match them.
type FilterCase = (Vec<(&'static str, CompareOp, Value)>, Vec<&'static str>);

fn money(amount_minor: i64, currency: &str) -> Value {
    json!({"amount_minor": amount_minor, "currency": currency})
}

#[test]
fn custom_fields_of_every_type_with_filters_and_tags() {
    let w = World::new();
    for (key, field_type, options) in [
        ("note", CustomFieldType::Text, vec![]),
        ("employees", CustomFieldType::Number, vec![]),
        ("revenue", CustomFieldType::Money, vec![]),
        ("since", CustomFieldType::Date, vec![]),
        ("active", CustomFieldType::Bool, vec![]),
        (
            "segment",
            CustomFieldType::Enum,
            vec!["smb".to_string(), "enterprise".to_string()],
        ),
    ] {
        let f = w
            .crm
            .define_custom_field(
                &w.sys,
                &NewCustomField {
                    entity: EntityType::Client,
                    key: key.into(),
                    label: key.to_uppercase(),
                    field_type,
                    options,
                    required: false,
                },
            )
            .unwrap();
        assert_eq!(f.field_type, field_type);
    }
    assert_eq!(
        w.crm
            .custom_fields(&w.ctx(&w.sam), EntityType::Client)
            .unwrap()
            .len(),
        6
    );
    let nora = w.ctx(&w.nora);
    let values =
        |pairs: Value| -> BTreeMap<String, Value> { serde_json::from_value(pairs).unwrap() };
    let a_custom = values(json!({
        "note": "first", "employees": 10, "revenue": money(100_000, "EUR"),
        "since": "2019-05-01", "active": true, "segment": "smb"
    }));
    let a = create(
        &w,
        &nora,
        NewClient {
            custom: a_custom.clone(),
            tags: vec!["VIP".into()],
            ..NewClient::organization("A")
        },
    );
    assert_eq!(a.custom, a_custom);
    create(
        &w,
        &nora,
        NewClient {
            custom: values(json!({
                "note": "second", "employees": 250, "revenue": money(5_000_000, "EUR"),
                "since": "2021-01-15", "active": false, "segment": "enterprise"
            })),
            tags: vec!["vip".into(), "b2b".into()],
            ..NewClient::organization("B")
        },
    );
    create(
        &w,
        &nora,
        NewClient {
            custom: values(json!({
                "employees": 3.5, "revenue": money(300_000, "USD"),
                "since": "2023-12-31", "active": true, "segment": "enterprise"
            })),
            ..NewClient::organization("C")
        },
    );
    create(
        &w,
        &nora,
        NewClient {
            tags: vec!["B2B".into(), "b2b ".into()],
            ..NewClient::organization("D")
        },
    );

    let by = |filters: Vec<(&str, CompareOp, Value)>| {
        let q = ClientQuery {
            custom: filters
                .into_iter()
                .map(|(key, op, value)| CustomFilter {
                    key: key.into(),
                    op,
                    value,
                })
                .collect(),
            ..Default::default()
        };
        let names = list(&w, &nora, q.clone());
        let count = w.crm.count_clients(&nora, &q, 100).unwrap();
        assert_eq!(count.count as usize, names.len(), "count vs list");
        names
    };
    use CompareOp::*;
    let cases: Vec<FilterCase> = vec![
        (vec![("employees", Eq, json!(250))], vec!["B"]),
        (vec![("employees", Lt, json!(100))], vec!["A", "C"]),
        (vec![("employees", Gt, json!(5))], vec!["A", "B"]),
        (vec![("employees", Ge, json!(10))], vec!["A", "B"]),
        (vec![("employees", Le, json!(10))], vec!["A", "C"]),
        (vec![("employees", Gt, json!(3.4))], vec!["A", "B", "C"]),
        (vec![("since", Lt, json!("2021-01-01"))], vec!["A"]),
        (vec![("since", Gt, json!("2021-01-15"))], vec!["C"]),
        (vec![("since", Eq, json!("2021-01-15"))], vec!["B"]),
        (vec![("since", Ge, json!("2021-01-15"))], vec!["B", "C"]),
        (vec![("revenue", Gt, money(200_000, "EUR"))], vec!["B"]),
        (vec![("revenue", Lt, money(200_000, "EUR"))], vec!["A"]),
        (vec![("revenue", Eq, money(300_000, "USD"))], vec!["C"]),
        (vec![("revenue", Gt, money(0, "USD"))], vec!["C"]),
        (vec![("revenue", Gt, money(0, "GBP"))], vec![]),
        (vec![("active", Eq, json!(true))], vec!["A", "C"]),
        (vec![("active", Eq, json!(false))], vec!["B"]),
        (vec![("segment", Eq, json!("enterprise"))], vec!["B", "C"]),
        (vec![("note", Eq, json!("first"))], vec!["A"]),
        (
            vec![
                ("segment", Eq, json!("enterprise")),
                ("employees", Gt, json!(100)),
            ],
            vec!["B"],
        ),
    ];
    for (filters, expected) in cases {
        let what = format!("{filters:?}");
        assert_eq!(by(filters), expected, "{what}");
    }
    let tagged = |t: &str| {
        list(
            &w,
            &nora,
            ClientQuery {
                tag: Some(t.into()),
                ..Default::default()
            },
        )
    };
    assert_eq!(tagged("vip"), ["A", "B"]);
    assert_eq!(tagged("VIP"), ["A", "B"]);
    assert_eq!(tagged("b2b"), ["B", "D"]);
    assert!(tagged("none").is_empty());
    // Tags equal up to case and blanks are kept once.
    let d = w
        .crm
        .list_clients(
            &nora,
            &ClientQuery {
                tag: Some("b2b".into()),
                ..Default::default()
            },
        )
        .unwrap()
        .items
        .pop()
        .unwrap();
    assert_eq!(d.tags, ["B2B"]);

    // Updates merge custom values; null removes one.
    let a = w
        .crm
        .update_client(
            &nora,
            a.id,
            a.version,
            &ClientUpdate {
                custom: values(json!({"employees": 11, "note": null})),
                ..Default::default()
            },
        )
        .unwrap();
    let mut expected = a_custom.clone();
    expected.insert("employees".into(), json!(11));
    expected.remove("note");
    assert_eq!(a.custom, expected);
    assert_eq!(by(vec![("employees", Eq, json!(11))]), ["A"]);

    // Deleting a field removes its values everywhere.
    let note = w
        .crm
        .custom_fields(&w.sys, EntityType::Client)
        .unwrap()
        .into_iter()
        .find(|f| f.key == "note")
        .unwrap();
    w.crm
        .delete_custom_field(&w.sys, EntityType::Client, note.id)
        .unwrap();
    let all = w
        .crm
        .list_clients(&nora, &ClientQuery::default())
        .unwrap()
        .items;
    assert!(
        all.iter().all(|c| !c.custom.contains_key("note")),
        "{all:?}"
    );
    assert_eq!(all.len(), 4);
}

#[test]
fn full_text_search_by_name_email_phone_and_tax_id() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let sam = w.ctx(&w.sam);
    create(
        &w,
        &nora,
        NewClient {
            emails: vec![email("info@acme-tools.example")],
            phones: vec![phone("+49 (30) 1234-567")],
            tax_id: Some("DE 123.456.789".into()),
            ..NewClient::organization("Acme Tools GmbH")
        },
    );
    let birch = create(
        &w,
        &nora,
        NewClient {
            emails: vec![email("sales@birch.example")],
            phones: vec![phone("0044 20 7946 0018")],
            registration_number: Some("HRB 12345".into()),
            ..NewClient::organization("Birch & Sons Ltd")
        },
    );
    let anna = create(
        &w,
        &nora,
        NewClient {
            emails: vec![email("anna.schmidt@mail.example")],
            ..NewClient::person("Anna Schmidt")
        },
    );
    let cases: &[(&str, &[&str])] = &[
        ("acm", &["Acme Tools GmbH"]),
        ("ACME tools", &["Acme Tools GmbH"]),
        ("tools acme", &["Acme Tools GmbH"]),
        ("bir", &["Birch & Sons Ltd"]),
        ("sons", &["Birch & Sons Ltd"]),
        ("schm", &["Anna Schmidt"]),
        ("info@acme-tools.example", &["Acme Tools GmbH"]),
        ("sales@birch", &["Birch & Sons Ltd"]),
        ("anna.schmidt@mail.example", &["Anna Schmidt"]),
        ("4930", &["Acme Tools GmbH"]),
        ("49301234567", &["Acme Tools GmbH"]),
        ("1234-567", &["Acme Tools GmbH"]),
        ("00442079460018", &["Birch & Sons Ltd"]),
        ("DE123456789", &["Acme Tools GmbH"]),
        ("de 123.456.789", &["Acme Tools GmbH"]),
        ("HRB12345", &["Birch & Sons Ltd"]),
        ("hrb 12345", &["Birch & Sons Ltd"]),
        ("nothing", &[]),
        ("acme birch", &[]),
    ];
    for (text, expected) in cases {
        assert_eq!(search(&w, &nora, text), *expected, "search {text:?}");
    }
    // Newest first.
    assert_eq!(
        search(&w, &nora, "example"),
        ["Anna Schmidt", "Birch & Sons Ltd", "Acme Tools GmbH"]
    );
    let persons = w
        .crm
        .search_clients(
            &nora,
            &SearchQuery {
                text: "example".into(),
                kind: Some(ClientKind::Person),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(names(&persons.items), ["Anna Schmidt"]);
    // Permission-filtered.
    assert!(search(&w, &sam, "acme").is_empty());
    // The index follows updates.
    let anna = w
        .crm
        .update_client(&nora, anna.id, anna.version, &rename("Anna Meyer"))
        .unwrap();
    assert_eq!(search(&w, &nora, "meyer"), ["Anna Meyer"]);
    let birch = w
        .crm
        .update_client(
            &nora,
            birch.id,
            birch.version,
            &ClientUpdate {
                phones: Patch::Set(vec![]),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(search(&w, &nora, "00442079460018").is_empty());
    assert_eq!(birch.version, 2);
    assert_eq!(anna.version, 2);

    // Pages, newest first.
    for i in 1..=5 {
        create(&w, &nora, NewClient::organization(format!("Gamma {i}")));
    }
    let mut after = None;
    let mut pages = Vec::new();
    loop {
        let page = w
            .crm
            .search_clients(
                &nora,
                &SearchQuery {
                    text: "gamma".into(),
                    limit: Some(2),
                    after: after.clone(),
                    ..Default::default()
                },
            )
            .unwrap();
        pages.push(names(&page.items).join(","));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, ["Gamma 5,Gamma 4", "Gamma 3,Gamma 2", "Gamma 1"]);
}

#[test]
fn duplicates_by_tax_id_email_phone_and_name() {
    let w = World::new();
    let diana = w.ctx(&w.diana);
    let sam = w.ctx(&w.sam);
    let mk = |new: NewClient| {
        w.crm
            .create_client(
                &w.sys,
                &NewClient {
                    owner_id: Some(w.nora.id),
                    ..new
                },
            )
            .unwrap()
    };
    let base_new = NewClient {
        tax_id: Some("DE 123 456 789".into()),
        emails: vec![email("Info@Acme.example")],
        phones: vec![phone("+49 30 1234567")],
        ..NewClient::organization("Acme Inc")
    };
    let base = mk(base_new.clone());
    let tax = mk(NewClient {
        tax_id: Some("de-123.456.789".into()),
        ..NewClient::organization("Zeta Holding")
    });
    let mail = mk(NewClient {
        emails: vec![email("info@ACME.example")],
        ..NewClient::person("Omega Person")
    });
    let tel = mk(NewClient {
        phones: vec![phone("(49) 30-123 45 67")],
        ..NewClient::organization("Kappa")
    });
    let name = mk(NewClient::organization("ACME, Inc."));
    mk(NewClient::organization("Acme Tools"));
    mk(NewClient {
        tax_id: Some("DE 123 456 780".into()),
        phones: vec![phone("+49 30 1234568")],
        emails: vec![email("info@acme.example.org")],
        ..NewClient::organization("Near Miss")
    });

    let found: BTreeMap<ClientId, Vec<MatchReason>> = w
        .crm
        .duplicates_of(&diana, base.id)
        .unwrap()
        .into_iter()
        .map(|d| (d.client.id, d.reasons))
        .collect();
    let expected: BTreeMap<ClientId, Vec<MatchReason>> = [
        (tax.id, vec![MatchReason::TaxId]),
        (mail.id, vec![MatchReason::Email]),
        (tel.id, vec![MatchReason::Phone]),
        (name.id, vec![MatchReason::Name]),
    ]
    .into();
    assert_eq!(found, expected);

    // Before creating: the same new client matches the stored one on every key.
    let pre = w.crm.find_duplicates(&diana, &base_new).unwrap();
    let on_base = pre.iter().find(|d| d.client.id == base.id).unwrap();
    assert_eq!(
        on_base.reasons,
        [
            MatchReason::TaxId,
            MatchReason::Email,
            MatchReason::Phone,
            MatchReason::Name
        ]
    );
    assert_eq!(pre.len(), 5);
    let back = w.crm.duplicates_of(&diana, name.id).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].client.id, base.id);
    assert_eq!(back[0].reasons, [MatchReason::Name]);

    // Only readable clients are offered.
    assert!(w.crm.find_duplicates(&sam, &base_new).unwrap().is_empty());
    assert_client_not_found(&w.crm.duplicates_of(&sam, base.id).unwrap_err(), base.id);
}

#[test]
fn optimistic_concurrency_second_update_from_the_same_version_conflicts() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let nick = w.ctx(&w.nick);
    let c = w.org_of(&w.nora, "Acme");
    let first = w
        .crm
        .update_client(&nora, c.id, c.version, &rename("Acme A"))
        .unwrap();
    assert_eq!(first.version, c.version + 1);
    let tags = ClientUpdate {
        tags: Patch::Set(vec!["x".into()]),
        ..Default::default()
    };
    let e = w
        .crm
        .update_client(&nick, c.id, c.version, &tags)
        .unwrap_err();
    assert_conflict(&e, c.id, c.version, first.version);
    assert_eq!(w.crm.get_client(&nick, c.id).unwrap(), first);
    // Re-read and retry.
    let second = w
        .crm
        .update_client(&nick, c.id, first.version, &tags)
        .unwrap();
    assert_eq!(second.name, "Acme A");
    assert_eq!(second.tags, ["x"]);
    assert_eq!(second.version, first.version + 1);
}

#[test]
fn reassigning_needs_assign_and_the_stamp_follows_the_owner() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let nick = w.ctx(&w.nick);
    let diana = w.ctx(&w.diana);
    let sam = w.ctx(&w.sam);
    let c = create(&w, &nora, NewClient::organization("Acme"));
    assert_eq!((c.owner_id, c.department_id), (w.nora.id, w.north.id));

    let e = w
        .crm
        .assign_client(&nora, c.id, c.version, w.nick.id)
        .unwrap_err();
    assert_denied(&e, Action::Assign, Some(c.id));

    let c = w
        .crm
        .assign_client(&nick, c.id, c.version, w.nick.id)
        .unwrap();
    assert_eq!((c.owner_id, c.department_id), (w.nick.id, w.north.id));

    let e = w
        .crm
        .assign_client(&nick, c.id, c.version, w.sam.id)
        .unwrap_err();
    assert_denied(&e, Action::Assign, Some(c.id));
    assert_eq!(w.crm.get_client(&nick, c.id).unwrap(), c);

    let c = w
        .crm
        .assign_client(&diana, c.id, c.version, w.sam.id)
        .unwrap();
    assert_eq!(
        (c.owner_id, c.department_id),
        (w.sam.id, w.south.id),
        "the department stamp must follow the new owner"
    );
    assert_eq!(w.crm.get_client(&sam, c.id).unwrap(), c);
    assert_client_not_found(&w.crm.get_client(&nora, c.id).unwrap_err(), c.id);
    assert_client_not_found(&w.crm.get_client(&nick, c.id).unwrap_err(), c.id);
    let south = ClientQuery {
        department_id: Some(w.south.id),
        ..Default::default()
    };
    assert_eq!(list(&w, &diana, south), ["Acme"]);

    // Outside Sales only the system context (or a wider role) may put it.
    let e = w
        .crm
        .assign_client(&diana, c.id, c.version, w.olga.id)
        .unwrap_err();
    assert_denied(&e, Action::Assign, Some(c.id));
    let c = w
        .crm
        .assign_client(&w.sys, c.id, c.version, w.olga.id)
        .unwrap();
    assert_eq!((c.owner_id, c.department_id), (w.olga.id, w.support.id));
    assert_client_not_found(&w.crm.get_client(&diana, c.id).unwrap_err(), c.id);
}

#[test]
fn moving_a_user_restamps_their_records() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let nick = w.ctx(&w.nick);
    let diana = w.ctx(&w.diana);
    let mine: Vec<Client> = ["N1", "N2", "N3"]
        .iter()
        .map(|n| create(&w, &nora, NewClient::organization(*n)))
        .collect();
    create(&w, &nick, NewClient::organization("K1"));
    assert_eq!(
        list(&w, &nick, ClientQuery::default()),
        ["K1", "N1", "N2", "N3"]
    );

    assert_eq!(w.crm.move_user(&w.sys, w.nora.id, w.south.id).unwrap(), 3);
    for c in &mine {
        let now = w.crm.get_client(&nora, c.id).unwrap();
        assert_eq!(now.department_id, w.south.id);
        assert_eq!(now.owner_id, w.nora.id);
    }
    assert_eq!(list(&w, &nick, ClientQuery::default()), ["K1"]);
    assert_eq!(list(&w, &nora, ClientQuery::default()), ["N1", "N2", "N3"]);
    let in_dept = |d| {
        list(
            &w,
            &diana,
            ClientQuery {
                department_id: Some(d),
                ..Default::default()
            },
        )
    };
    assert_eq!(in_dept(w.south.id), ["N1", "N2", "N3"]);
    assert_eq!(in_dept(w.north.id), ["K1"]);
    assert_eq!(in_dept(w.sales.id).len(), 4);
    // New records get the new department at once.
    let n4 = create(&w, &nora, NewClient::organization("N4"));
    assert_eq!(n4.department_id, w.south.id);
    assert_eq!(w.crm.move_user(&w.sys, w.nora.id, w.north.id).unwrap(), 4);
    assert_eq!(in_dept(w.north.id).len(), 5);
}

#[test]
fn count_with_a_cap() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let batch: Vec<NewClient> = (0..12)
        .map(|i| NewClient::organization(format!("Client {i:02}")))
        .collect();
    let ids = w.crm.create_clients(&nora, &batch).unwrap();
    assert_eq!(ids.len(), 12);
    let all = ClientQuery::default();
    let count = |ctx: &Ctx, q: &ClientQuery, cap| w.crm.count_clients(ctx, q, cap).unwrap();
    let c = |count, exact| Count { count, exact };
    assert_eq!(count(&nora, &all, 100), c(12, true));
    assert_eq!(count(&nora, &all, 13), c(12, true));
    assert_eq!(count(&nora, &all, 12), c(12, true));
    assert_eq!(count(&nora, &all, 11), c(11, false));
    assert_eq!(count(&nora, &all, 5), c(5, false));
    assert_eq!(count(&nora, &all, 1), c(1, false));
    assert_eq!(count(&nora, &all, 0), c(0, false));
    assert_eq!(count(&nora, &all, u64::MAX), c(12, true));
    let persons = ClientQuery {
        kind: Some(ClientKind::Person),
        ..Default::default()
    };
    assert_eq!(count(&nora, &persons, 5), c(0, true));
    assert_eq!(count(&w.ctx(&w.nick), &all, 100), c(12, true));
    assert_eq!(count(&w.ctx(&w.sam), &all, 100), c(0, true));
    assert_eq!(count(&w.ctx(&w.olga), &all, 100), c(0, true));
}

#[test]
fn list_pages_are_complete_and_in_name_order() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let names_in = [
        "beta",
        "Alpha",
        "alpha",
        "Gamma",
        "Beta",
        "delta: the company",
        "Delta",
        "ALPHA",
        "epsilon",
        "Zed: 1",
        "zed",
        "Éclair",
        "eta",
        "theta",
        "iota",
        "kappa",
        "Lambda",
        "mu",
        "nu",
        "xi",
        "omicron",
        "pi",
        "rho",
    ];
    let mut created: Vec<Client> = names_in
        .iter()
        .map(|n| create(&w, &nora, NewClient::organization(*n)))
        .collect();
    created.sort_by_key(|c| (c.name.to_lowercase(), c.id));
    let expected: Vec<ClientId> = created.iter().map(|c| c.id).collect();
    for limit in [1, 2, 5, 22, 23, 50] {
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = w
                .crm
                .list_clients(
                    &nora,
                    &ClientQuery {
                        limit: Some(limit),
                        after: after.clone(),
                        ..Default::default()
                    },
                )
                .unwrap();
            assert!(page.items.len() <= limit as usize);
            got.extend(page.items.iter().map(|c| c.id));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
            assert!(got.len() <= expected.len(), "pagination does not end");
        }
        assert_eq!(got, expected, "limit {limit}");
    }
}

#[test]
fn the_system_context_creates_for_any_owner_and_users_see_only_their_scope() {
    let w = World::new();
    for (owner, name) in [
        (&w.nora, "N"),
        (&w.sam, "S"),
        (&w.nick, "K"),
        (&w.olga, "O"),
    ] {
        w.org_of(owner, name);
    }
    let open = w
        .crm
        .create_client(
            &w.sys,
            &NewClient {
                owner_id: Some(w.olga.id),
                open: true,
                ..NewClient::organization("Open")
            },
        )
        .unwrap();
    assert!(open.open);
    let sees = |u| list(&w, &w.ctx(u), ClientQuery::default());
    assert_eq!(sees(&w.nora), ["N"]);
    assert_eq!(sees(&w.sam), ["S"]);
    assert_eq!(sees(&w.nick), ["K", "N"]);
    assert_eq!(sees(&w.diana), ["K", "N", "S"]);
    assert!(sees(&w.olga).is_empty(), "Olga holds no role");
    assert_eq!(
        list(&w, &w.sys, ClientQuery::default()),
        ["K", "N", "O", "Open", "S"]
    );
    // None of the roles include open records, so the open flag alone grants nothing.
    let e = w.crm.get_client(&w.ctx(&w.nora), open.id).unwrap_err();
    assert!(matches!(e, CrmError::NotFound { .. }));
}
