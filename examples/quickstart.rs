//! Quickstart: creates a database file, fills it with a small organisation (departments,
//! managers, roles) and clients, then shows what each manager can see and why.
//!
//! Run with `cargo run --example quickstart`. The database is written to
//! `target/quickstart/crm.db` (replaced on every run); pass another path as the first argument.

use crm_core::access::{AccessLevel, Action, EntityType, Grant};
use crm_core::model::{
    ClientQuery, CustomFieldType, Email, NewClient, NewCustomField, NewDepartment, NewUser, Phone,
    RoleSubject, SearchQuery,
};
use crm_core::{Crm, Result};
use std::path::PathBuf;

fn grants(level: AccessLevel, include_open: bool, actions: &[Action]) -> Vec<Grant> {
    actions
        .iter()
        .map(|&action| Grant {
            entity: EntityType::Client,
            action,
            level,
            include_open,
        })
        .collect()
}

fn main() -> Result<()> {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/quickstart/crm.db"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| crm_core::CrmError::invalid("path", e.to_string()))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let crm = Crm::open(&path)?;
    println!("database: {}\n", path.display());

    // The host opens an audited system context to set the organisation up.
    let sys = crm.system_context("quickstart bootstrap")?;
    let dept = |name: &str, parent| {
        crm.create_department(
            &sys,
            &NewDepartment {
                name: name.into(),
                parent_id: parent,
            },
        )
    };
    let company = dept("Company", None)?;
    let sales = dept("Sales", Some(company.id))?;
    let north = dept("Sales North", Some(sales.id))?;
    let south = dept("Sales South", Some(sales.id))?;

    let user = |name: &str, email: &str, d: &crm_core::model::Department| {
        crm.create_user(
            &sys,
            &NewUser {
                name: name.into(),
                email: email.into(),
                department_id: d.id,
                admin: false,
            },
        )
    };
    let diana = user("Diana Director", "diana@example.com", &sales)?;
    let nick = user("Nick North-Lead", "nick@example.com", &north)?;
    let nora = user("Nora North-Rep", "nora@example.com", &north)?;
    let sam = user("Sam South-Rep", "sam@example.com", &south)?;
    crm.set_department_head(&sys, north.id, Some(nick.id))?;

    use Action::*;
    let rep = crm.create_role(
        &sys,
        "Sales rep",
        &grants(AccessLevel::Own, true, &[Read, Create, Update]),
    )?;
    let lead = crm.create_role(
        &sys,
        "Team lead",
        &grants(
            AccessLevel::Department,
            true,
            &[Read, Create, Update, Assign],
        ),
    )?;
    let director = crm.create_role(
        &sys,
        "Sales director",
        &grants(
            AccessLevel::DepartmentTree,
            true,
            &[Read, Create, Update, Delete, Export, Assign],
        ),
    )?;
    crm.assign_role(
        &sys,
        rep.id,
        &RoleSubject::Department {
            department_id: sales.id,
            include_subdepartments: true,
        },
    )?;
    crm.assign_role(
        &sys,
        lead.id,
        &RoleSubject::HeadOf {
            department_id: north.id,
        },
    )?;
    crm.assign_role(&sys, director.id, &RoleSubject::User { user_id: diana.id })?;

    crm.define_custom_field(
        &sys,
        &NewCustomField {
            entity: EntityType::Client,
            key: "segment".into(),
            label: "Segment".into(),
            field_type: CustomFieldType::Enum,
            options: vec!["smb".into(), "enterprise".into()],
            required: false,
        },
    )?;

    // Each manager enters their own clients.
    let as_nora = crm.user_context(nora.id)?;
    let as_sam = crm.user_context(sam.id)?;
    let as_nick = crm.user_context(nick.id)?;
    let org = |name: &str, email: &str, segment: &str| NewClient {
        emails: vec![Email {
            kind: Default::default(),
            address: email.into(),
        }],
        custom: [("segment".to_string(), serde_json::json!(segment))].into(),
        ..NewClient::organization(name)
    };
    let acme = crm.create_client(
        &as_nora,
        &NewClient {
            tax_id: Some("DE 123 456 789".into()),
            ..org("Acme GmbH", "info@acme.example", "enterprise")
        },
    )?;
    crm.create_client(&as_nora, &org("Birch & Sons", "hello@birch.example", "smb"))?;
    let anna = crm.create_client(
        &as_nora,
        &NewClient {
            phones: vec![Phone {
                kind: Default::default(),
                number: "+49 30 1234 567".into(),
            }],
            ..NewClient::person("Anna Schmidt")
        },
    )?;
    crm.link_contact(&as_nora, acme.id, anna.id, Some("CFO"))?;
    crm.create_client(&as_sam, &org("Cedar Logistics", "ops@cedar.example", "smb"))?;
    crm.create_client(
        &as_sam,
        &NewClient {
            open: true,
            ..org("Delta Open Data", "open@delta.example", "smb")
        },
    )?;
    crm.create_client(
        &as_nick,
        &org("Elm Industries", "sales@elm.example", "enterprise"),
    )?;
    // A second "Acme" typed differently, as happens in every real CRM.
    crm.create_client(
        &as_sam,
        &NewClient {
            tax_id: Some("de123456789".into()),
            ..org("ACME, GmbH", "buyer@acme.example", "enterprise")
        },
    )?;

    println!("What each manager can see:");
    for u in [&diana, &nick, &nora, &sam] {
        let ctx = crm.user_context(u.id)?;
        let page = crm.list_clients(&ctx, &ClientQuery::default())?;
        let names: Vec<&str> = page.items.iter().map(|c| c.name.as_str()).collect();
        println!(
            "  {:<16} {} clients: {}",
            u.name,
            names.len(),
            names.join(", ")
        );
    }

    let explanation = crm.explain(&sys, sam.id, Read, acme.id)?;
    println!(
        "\nWhy can Sam not read {}? {}",
        acme.name,
        serde_json::to_string(&explanation).unwrap_or_default()
    );
    let explanation = crm.explain(&sys, nick.id, Read, acme.id)?;
    println!(
        "Why can Nick read it? {}",
        serde_json::to_string(&explanation).unwrap_or_default()
    );

    let hits = crm.search_clients(
        &as_nick,
        &SearchQuery {
            text: "acme".into(),
            ..Default::default()
        },
    )?;
    println!(
        "\nNick searches \"acme\": {:?}",
        hits.items.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
    let enterprise = crm.list_clients(
        &as_nick,
        &ClientQuery {
            custom: vec![crm_core::model::CustomFilter {
                key: "segment".into(),
                op: Default::default(),
                value: serde_json::json!("enterprise"),
            }],
            ..Default::default()
        },
    )?;
    println!(
        "Nick's enterprise clients: {:?}",
        enterprise.items.iter().map(|c| &c.name).collect::<Vec<_>>()
    );

    let as_diana = crm.user_context(diana.id)?;
    for d in crm.duplicates_of(&as_diana, acme.id)? {
        println!(
            "Diana sees a possible duplicate of {}: {} ({:?})",
            acme.name, d.client.name, d.reasons
        );
    }

    // Nora moves to the south team: her clients follow her department at once.
    let moved = crm.move_user(&sys, nora.id, south.id)?;
    let nick_now = crm.count_clients(&as_nick, &ClientQuery::default(), 1000)?;
    println!(
        "\nNora moved to Sales South ({moved} records re-stamped); Nick now sees {} clients.",
        nick_now.count
    );

    let report = crm.verify_audit(&sys)?;
    println!(
        "Audit log: {} entries, chain intact: {}",
        report.entries, report.ok
    );
    Ok(())
}
