//! Every kind of bad input returns its typed error, names the field, and leaves the database
//! exactly as it was (apart from the one `denied` audit entry a refused write leaves).

mod common;

use common::*;
use crm_core::access::{AccessLevel, Action, EntityType, Grant};
use crm_core::ids::{
    ClientId, CustomFieldId, DepartmentId, ForbidId, RoleAssignmentId, RoleId, UserId,
};
use crm_core::model::{
    Address, ArchiveFilter, ClientQuery, ClientUpdate, CompareOp, CustomFieldType, CustomFilter,
    Forbid, ForbidSubject, ForbidTarget, NewClient, NewCustomField, NewDepartment, NewUser, Patch,
    RoleSubject, SearchQuery,
};
use crm_core::{AuditQuery, CrmError, OpenOptions};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A named call that returns nothing on success.
type Call<'a> = (&'static str, Box<dyn Fn() -> crm_core::Result<()> + 'a>);

fn custom(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn field(key: &str, field_type: CustomFieldType) -> NewCustomField {
    NewCustomField {
        entity: EntityType::Client,
        key: key.into(),
        label: key.to_uppercase(),
        field_type,
        options: if field_type == CustomFieldType::Enum {
            vec!["smb".into(), "enterprise".into()]
        } else {
            vec![]
        },
        required: false,
    }
}

/// Defines one custom field of every type: note, employees, revenue, since, active, segment.
fn define_all_types(w: &World) {
    for (key, t) in [
        ("note", CustomFieldType::Text),
        ("employees", CustomFieldType::Number),
        ("revenue", CustomFieldType::Money),
        ("since", CustomFieldType::Date),
        ("active", CustomFieldType::Bool),
        ("segment", CustomFieldType::Enum),
    ] {
        w.crm.define_custom_field(&w.sys, &field(key, t)).unwrap();
    }
}

#[test]
fn names_empty_blank_too_long_or_with_control_characters() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let existing = w.org_of(&w.nora, "Existing Ltd");
    let long = "x".repeat(301);
    for name in [
        "",
        "   ",
        "\t \n",
        long.as_str(),
        "Acme\u{0}Ltd",
        "Acme\u{7}",
    ] {
        let e = w.fails_unchanged(&format!("create {name:?}"), || {
            w.crm.create_client(&nora, &NewClient::organization(name))
        });
        assert_invalid(&e, "name");
        let e = w.fails_unchanged(&format!("update to {name:?}"), || {
            w.crm.update_client(
                &nora,
                existing.id,
                existing.version,
                &ClientUpdate {
                    name: Patch::Set(name.into()),
                    ..Default::default()
                },
            )
        });
        assert_invalid(&e, "name");
    }
    // The organisation's names are bounded too.
    let long = "d".repeat(201);
    for name in ["", "  ", long.as_str()] {
        let e = w.fails_unchanged("create_department", || {
            w.crm.create_department(
                &w.sys,
                &NewDepartment {
                    name: name.into(),
                    parent_id: None,
                },
            )
        });
        assert_invalid(&e, "name");
        let e = w.fails_unchanged("rename_department", || {
            w.crm.rename_department(&w.sys, w.sales.id, name)
        });
        assert_invalid(&e, "name");
        let e = w.fails_unchanged("create_user", || {
            w.crm.create_user(
                &w.sys,
                &NewUser {
                    name: name.into(),
                    email: "new@corp.example".into(),
                    department_id: w.sales.id,
                    admin: false,
                },
            )
        });
        assert_invalid(&e, "name");
        let e = w.fails_unchanged("create_role", || w.crm.create_role(&w.sys, name, &[]));
        assert_invalid(&e, "name");
    }
    let e = w.fails_unchanged("system_context", || w.crm.system_context("  "));
    assert_invalid(&e, "reason");
    let e = w.fails_unchanged("duplicate role name", || {
        w.crm.create_role(&w.sys, "Rep", &[])
    });
    assert_invalid(&e, "name");
}

#[test]
fn bad_emails_name_their_index() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let long = format!("{}@example.com", "a".repeat(250));
    for bad in [
        "",
        "   ",
        "no-at-sign",
        "a@b",
        "a@@b.com",
        "a@b@c.com",
        "a b@c.com",
        "@example.com",
        "anna@.example.com",
        "anna@example.com.",
        long.as_str(),
    ] {
        let new = NewClient {
            emails: vec![email("good@example.com"), email(bad)],
            ..NewClient::organization("Acme")
        };
        let e = w.fails_unchanged(&format!("email {bad:?}"), || {
            w.crm.create_client(&nora, &new)
        });
        assert_invalid(&e, "emails[1].address");

        let e = w.fails_unchanged(&format!("user email {bad:?}"), || {
            w.crm.create_user(
                &w.sys,
                &NewUser {
                    name: "New".into(),
                    email: bad.into(),
                    department_id: w.sales.id,
                    admin: false,
                },
            )
        });
        assert_invalid(&e, "email");
    }
    // A user's login e-mail is unique regardless of case.
    let e = w.fails_unchanged("duplicate user email", || {
        w.crm.create_user(
            &w.sys,
            &NewUser {
                name: "Nora Two".into(),
                email: "NORA@Corp.Example".into(),
                department_id: w.sales.id,
                admin: false,
            },
        )
    });
    assert_invalid(&e, "email");
}

#[test]
fn bad_phones() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let long = "1".repeat(41);
    for bad in [
        "",
        "  ",
        "12-3",
        "+1 (2) 3",
        "abc12345",
        "phone: 12345",
        "+49 30 1234 567 ext 9",
        "030/1234567",
        long.as_str(),
    ] {
        let new = NewClient {
            phones: vec![phone(bad)],
            ..NewClient::person("Anna")
        };
        let e = w.fails_unchanged(&format!("phone {bad:?}"), || {
            w.crm.create_client(&nora, &new)
        });
        assert_invalid(&e, "phones[0].number");
    }
}

#[test]
fn bad_tax_ids_and_registration_numbers() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let long = "D".repeat(41);
    for bad in ["DE#123", "---", " . / ", "DE_123", "12;34", long.as_str()] {
        let new = NewClient {
            tax_id: Some(bad.into()),
            ..NewClient::organization("Acme")
        };
        let e = w.fails_unchanged(&format!("tax id {bad:?}"), || {
            w.crm.create_client(&nora, &new)
        });
        assert_invalid(&e, "tax_id");
        let new = NewClient {
            registration_number: Some(bad.into()),
            ..NewClient::organization("Acme")
        };
        let e = w.fails_unchanged(&format!("registration {bad:?}"), || {
            w.crm.create_client(&nora, &new)
        });
        assert_invalid(&e, "registration_number");
    }
}

#[test]
fn bad_addresses_and_country_codes() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let good = Address {
        city: Some("Berlin".into()),
        country: Some("DE".into()),
        ..Default::default()
    };
    for bad in ["de", "D1", "DEU", "ÜX", "D", "1"] {
        let new = NewClient {
            addresses: vec![
                good.clone(),
                Address {
                    city: Some("Somewhere".into()),
                    country: Some(bad.into()),
                    ..Default::default()
                },
            ],
            ..NewClient::organization("Acme")
        };
        let e = w.fails_unchanged(&format!("country {bad:?}"), || {
            w.crm.create_client(&nora, &new)
        });
        assert_invalid(&e, "addresses[1].country");
    }
    let empty = NewClient {
        addresses: vec![Address {
            street: Some("   ".into()),
            ..Default::default()
        }],
        ..NewClient::organization("Acme")
    };
    let e = w.fails_unchanged("empty address", || w.crm.create_client(&nora, &empty));
    assert_invalid(&e, "addresses[0]");
    let long_zip = NewClient {
        addresses: vec![Address {
            postal_code: Some("1".repeat(21)),
            ..Default::default()
        }],
        ..NewClient::organization("Acme")
    };
    let e = w.fails_unchanged("long postal code", || w.crm.create_client(&nora, &long_zip));
    assert_invalid(&e, "addresses[0].postal_code");
}

#[test]
fn bad_tags_and_too_many_entries() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    for (tags, field) in [
        (vec!["ok".to_string(), "".to_string()], "tags[1]"),
        (vec!["x".repeat(65)], "tags[0]"),
        (vec!["a\u{1b}b".to_string()], "tags[0]"),
    ] {
        let new = NewClient {
            tags,
            ..NewClient::organization("Acme")
        };
        let e = w.fails_unchanged(field, || w.crm.create_client(&nora, &new));
        assert_invalid(&e, field);
    }
    let new = NewClient {
        emails: (0..51)
            .map(|i| email(&format!("a{i}@example.com")))
            .collect(),
        ..NewClient::organization("Acme")
    };
    let e = w.fails_unchanged("51 emails", || w.crm.create_client(&nora, &new));
    assert_invalid(&e, "emails");
    let new = NewClient {
        tags: (0..51).map(|i| format!("t{i}")).collect(),
        ..NewClient::organization("Acme")
    };
    let e = w.fails_unchanged("51 tags", || w.crm.create_client(&nora, &new));
    assert_invalid(&e, "tags");
}

#[test]
fn bad_parents() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let holding = w.org_of(&w.nora, "Holding");
    let sub = w
        .crm
        .create_client(
            &nora,
            &NewClient {
                parent_id: Some(holding.id),
                ..NewClient::organization("Subsidiary")
            },
        )
        .unwrap();
    let person = w.person_of(&w.nora, "Anna");
    let foreign = w.org_of(&w.sam, "Sam's Holding");

    let cases = [
        (
            "a person with a parent",
            NewClient {
                parent_id: Some(holding.id),
                ..NewClient::person("Bob")
            },
        ),
        (
            "a parent that does not exist",
            NewClient {
                parent_id: Some(ClientId(987_654)),
                ..NewClient::organization("Orphan")
            },
        ),
        (
            "a parent that is a person",
            NewClient {
                parent_id: Some(person.id),
                ..NewClient::organization("Child")
            },
        ),
        (
            "a parent the user cannot read",
            NewClient {
                parent_id: Some(foreign.id),
                ..NewClient::organization("Child")
            },
        ),
    ];
    for (what, new) in cases {
        let e = w.fails_unchanged(what, || w.crm.create_client(&nora, &new));
        assert_invalid(&e, "parent_id");
    }

    let holding = w.crm.get_client(&nora, holding.id).unwrap();
    let reparent = |id: ClientId, version: i64, parent: Option<ClientId>| {
        w.crm.update_client(
            &nora,
            id,
            version,
            &ClientUpdate {
                parent_id: Patch::Set(parent),
                ..Default::default()
            },
        )
    };
    let e = w.fails_unchanged("a cycle of two", || {
        reparent(holding.id, holding.version, Some(sub.id))
    });
    assert_invalid(&e, "parent_id");
    let e = w.fails_unchanged("its own parent", || {
        reparent(holding.id, holding.version, Some(holding.id))
    });
    assert_invalid(&e, "parent_id");
    let e = w.fails_unchanged("a person gets a parent", || {
        reparent(person.id, person.version, Some(holding.id))
    });
    assert_invalid(&e, "parent_id");
    // A longer cycle: holding <- sub <- branch, then holding under branch.
    let branch = w
        .crm
        .create_client(
            &nora,
            &NewClient {
                parent_id: Some(sub.id),
                ..NewClient::organization("Branch")
            },
        )
        .unwrap();
    let e = w.fails_unchanged("a cycle of three", || {
        reparent(holding.id, holding.version, Some(branch.id))
    });
    assert_invalid(&e, "parent_id");
}

#[test]
fn bad_custom_values_of_every_type() {
    let w = World::new();
    define_all_types(&w);
    let nora = w.ctx(&w.nora);
    let existing = w.org_of(&w.nora, "Existing");
    let long = "t".repeat(2001);
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!("x"), "nope", "custom.nope"),
        (json!(42), "note", "custom.note"),
        (json!(long), "note", "custom.note"),
        (json!(["a"]), "note", "custom.note"),
        (json!("12"), "employees", "custom.employees"),
        (json!(true), "employees", "custom.employees"),
        (json!({"n": 1}), "employees", "custom.employees"),
        (
            json!({"amount_minor": 12.5, "currency": "EUR"}),
            "revenue",
            "custom.revenue.amount_minor",
        ),
        (
            json!({"amount_minor": "100", "currency": "EUR"}),
            "revenue",
            "custom.revenue.amount_minor",
        ),
        (
            json!({"currency": "EUR"}),
            "revenue",
            "custom.revenue.amount_minor",
        ),
        (
            json!({"amount_minor": 100, "currency": "eur"}),
            "revenue",
            "custom.revenue.currency",
        ),
        (
            json!({"amount_minor": 100, "currency": "EURO"}),
            "revenue",
            "custom.revenue.currency",
        ),
        (
            json!({"amount_minor": 100, "currency": "E1R"}),
            "revenue",
            "custom.revenue.currency",
        ),
        (
            json!({"amount_minor": 100}),
            "revenue",
            "custom.revenue.currency",
        ),
        (
            json!({"amount_minor": 100, "currency": "EUR", "note": 1}),
            "revenue",
            "custom.revenue",
        ),
        (json!(100), "revenue", "custom.revenue"),
        (json!(12.5), "revenue", "custom.revenue"),
        (json!("2023-02-30"), "since", "custom.since"),
        (json!("2023-13-01"), "since", "custom.since"),
        (json!("2023-2-3"), "since", "custom.since"),
        (json!("30.01.2023"), "since", "custom.since"),
        (json!("2023-01-01T00:00:00Z"), "since", "custom.since"),
        (json!(20230101), "since", "custom.since"),
        (json!("true"), "active", "custom.active"),
        (json!(1), "active", "custom.active"),
        (json!("SMB"), "segment", "custom.segment"),
        (json!("other"), "segment", "custom.segment"),
        (json!(1), "segment", "custom.segment"),
    ];
    for (value, key, path) in cases {
        let what = format!("{key} = {value}");
        let new = NewClient {
            custom: custom(&[(key, value.clone())]),
            ..NewClient::organization("Acme")
        };
        let e = w.fails_unchanged(&what, || w.crm.create_client(&nora, &new));
        assert_invalid(&e, path);
        let e = w.fails_unchanged(&what, || {
            w.crm.update_client(
                &nora,
                existing.id,
                existing.version,
                &ClientUpdate {
                    custom: custom(&[(key, value.clone())]),
                    ..Default::default()
                },
            )
        });
        assert_invalid(&e, path);
    }

    // List filters are validated against the definitions too.
    let filter_cases: Vec<(CustomFilter, &str)> = vec![
        (
            CustomFilter {
                key: "nope".into(),
                op: CompareOp::Eq,
                value: json!(1),
            },
            "custom[0].key",
        ),
        (
            CustomFilter {
                key: "segment".into(),
                op: CompareOp::Lt,
                value: json!("smb"),
            },
            "custom[0].op",
        ),
        (
            CustomFilter {
                key: "active".into(),
                op: CompareOp::Gt,
                value: json!(true),
            },
            "custom[0].op",
        ),
        (
            CustomFilter {
                key: "employees".into(),
                op: CompareOp::Gt,
                value: json!("ten"),
            },
            "custom[0].value",
        ),
        (
            CustomFilter {
                key: "since".into(),
                op: CompareOp::Lt,
                value: json!("2023-02-30"),
            },
            "custom[0].value",
        ),
        (
            CustomFilter {
                key: "revenue".into(),
                op: CompareOp::Gt,
                value: json!({"amount_minor": 1.5, "currency": "EUR"}),
            },
            "custom[0].value.amount_minor",
        ),
    ];
    for (f, path) in filter_cases {
        let q = ClientQuery {
            custom: vec![f],
            ..Default::default()
        };
        let e = w.fails_unchanged(path, || w.crm.list_clients(&nora, &q));
        assert_invalid(&e, path);
        let e = w.fails_unchanged(path, || w.crm.count_clients(&nora, &q, 100));
        assert_invalid(&e, path);
    }
}

#[test]
fn missing_required_custom_field() {
    let w = World::new();
    w.crm
        .define_custom_field(
            &w.sys,
            &NewCustomField {
                required: true,
                ..field("region", CustomFieldType::Text)
            },
        )
        .unwrap();
    let nora = w.ctx(&w.nora);
    let e = w.fails_unchanged("no value", || {
        w.crm.create_client(&nora, &NewClient::organization("Acme"))
    });
    assert_invalid(&e, "custom.region");
    let batch = vec![
        NewClient {
            custom: custom(&[("region", json!("north"))]),
            ..NewClient::organization("A")
        },
        NewClient::organization("B"),
    ];
    let e = w.fails_unchanged("batch", || w.crm.create_clients(&nora, &batch));
    assert_invalid(&e, "[1].custom.region");

    let ok = w
        .crm
        .create_client(
            &nora,
            &NewClient {
                custom: custom(&[("region", json!("north"))]),
                ..NewClient::organization("Acme")
            },
        )
        .unwrap();
    let e = w.fails_unchanged("removing the value", || {
        w.crm.update_client(
            &nora,
            ok.id,
            ok.version,
            &ClientUpdate {
                custom: custom(&[("region", Value::Null)]),
                ..Default::default()
            },
        )
    });
    assert_invalid(&e, "custom.region");

    // Now that a record exists, no further required field can be added.
    let e = w.fails_unchanged("required after records", || {
        w.crm.define_custom_field(
            &w.sys,
            &NewCustomField {
                required: true,
                ..field("tier", CustomFieldType::Text)
            },
        )
    });
    assert_invalid(&e, "required");
}

#[test]
fn bad_custom_field_definitions() {
    let w = World::new();
    w.crm
        .define_custom_field(&w.sys, &field("segment", CustomFieldType::Enum))
        .unwrap();
    let long_key = "k".repeat(65);
    let mut cases: Vec<(NewCustomField, &str)> = Vec::new();
    for key in [
        "",
        "Segment",
        "1st",
        "with-dash",
        "with space",
        "ünï",
        "_x",
        long_key.as_str(),
    ] {
        cases.push((field(key, CustomFieldType::Text), "key"));
    }
    cases.push((field("segment", CustomFieldType::Text), "key"));
    cases.push((
        NewCustomField {
            label: "  ".into(),
            ..field("label_blank", CustomFieldType::Text)
        },
        "label",
    ));
    cases.push((
        NewCustomField {
            label: "l".repeat(201),
            ..field("label_long", CustomFieldType::Text)
        },
        "label",
    ));
    cases.push((
        NewCustomField {
            options: vec![],
            ..field("kind", CustomFieldType::Enum)
        },
        "options",
    ));
    cases.push((
        NewCustomField {
            options: vec!["a".into()],
            ..field("size", CustomFieldType::Number)
        },
        "options",
    ));
    cases.push((
        NewCustomField {
            options: vec!["a".into(), "b".into(), "a".into()],
            ..field("tier", CustomFieldType::Enum)
        },
        "options[2]",
    ));
    cases.push((
        NewCustomField {
            options: vec!["a".into(), " ".into()],
            ..field("tier", CustomFieldType::Enum)
        },
        "options[1]",
    ));
    for (def, path) in cases {
        let e = w.fails_unchanged(&format!("{def:?}"), || {
            w.crm.define_custom_field(&w.sys, &def)
        });
        assert_invalid(&e, path);
    }
    let e = w.fails_unchanged("delete unknown field", || {
        w.crm
            .delete_custom_field(&w.sys, EntityType::Client, CustomFieldId(999))
    });
    assert!(
        matches!(
            e,
            CrmError::NotFound {
                entity: "custom_field",
                id: 999
            }
        ),
        "{e:?}"
    );
}

#[test]
fn duplicate_grants_in_a_role() {
    let w = World::new();
    let mut g = grants(AccessLevel::Own, &[Action::Read, Action::Update]);
    g.push(Grant {
        entity: EntityType::Client,
        action: Action::Read,
        level: AccessLevel::All,
        include_open: true,
    });
    let e = w.fails_unchanged("create_role", || w.crm.create_role(&w.sys, "Dup", &g));
    assert_invalid(&e, "grants[2]");
    let e = w.fails_unchanged("set_role_grants", || {
        w.crm.set_role_grants(&w.sys, w.rep.id, &g)
    });
    assert_invalid(&e, "grants[2]");
}

#[test]
fn unknown_users_departments_and_roles() {
    let w = World::new();
    let sys = &w.sys;
    let no_user = UserId(9_999);
    let no_dept = DepartmentId(9_999);
    let no_role = RoleId(9_999);
    let crm = &w.crm;

    let e = w.fails_unchanged("assign unknown role", || {
        crm.assign_role(sys, no_role, &RoleSubject::User { user_id: w.nora.id })
    });
    assert_invalid(&e, "role_id");
    let e = w.fails_unchanged("assign to unknown user", || {
        crm.assign_role(sys, w.rep.id, &RoleSubject::User { user_id: no_user })
    });
    assert_invalid(&e, "subject.user_id");
    let e = w.fails_unchanged("assign to unknown department", || {
        crm.assign_role(
            sys,
            w.rep.id,
            &RoleSubject::Department {
                department_id: no_dept,
                include_subdepartments: true,
            },
        )
    });
    assert_invalid(&e, "subject.department_id");
    let e = w.fails_unchanged("assign to head of unknown department", || {
        crm.assign_role(
            sys,
            w.rep.id,
            &RoleSubject::HeadOf {
                department_id: no_dept,
            },
        )
    });
    assert_invalid(&e, "subject.department_id");

    let forbid = |subject, target| Forbid {
        id: ForbidId::unset(),
        subject,
        entity: EntityType::Client,
        action: Action::Read,
        target,
    };
    let cases = [
        (
            forbid(
                ForbidSubject::User { user_id: no_user },
                ForbidTarget::AllRecords,
            ),
            "subject.user_id",
        ),
        (
            forbid(
                ForbidSubject::Department {
                    department_id: no_dept,
                    include_subdepartments: false,
                },
                ForbidTarget::AllRecords,
            ),
            "subject.department_id",
        ),
        (
            forbid(
                ForbidSubject::Role { role_id: no_role },
                ForbidTarget::OpenRecords,
            ),
            "subject.role_id",
        ),
        (
            forbid(
                ForbidSubject::User { user_id: w.nora.id },
                ForbidTarget::Department {
                    department_id: no_dept,
                },
            ),
            "target.department_id",
        ),
        (
            forbid(
                ForbidSubject::User { user_id: w.nora.id },
                ForbidTarget::DepartmentTree {
                    department_id: no_dept,
                },
            ),
            "target.department_id",
        ),
    ];
    for (rule, path) in cases {
        let e = w.fails_unchanged(path, || crm.add_forbid(sys, &rule));
        assert_invalid(&e, path);
    }

    let e = w.fails_unchanged("department under unknown parent", || {
        crm.create_department(
            sys,
            &NewDepartment {
                name: "X".into(),
                parent_id: Some(no_dept),
            },
        )
    });
    assert_invalid(&e, "parent_id");
    let e = w.fails_unchanged("user in unknown department", || {
        crm.create_user(
            sys,
            &NewUser {
                name: "X".into(),
                email: "x@corp.example".into(),
                department_id: no_dept,
                admin: false,
            },
        )
    });
    assert_invalid(&e, "department_id");
    let e = w.fails_unchanged("move user to unknown department", || {
        crm.move_user(sys, w.nora.id, no_dept)
    });
    assert_invalid(&e, "department_id");
    let e = w.fails_unchanged("move unknown user", || {
        crm.move_user(sys, no_user, w.south.id)
    });
    assert_invalid(&e, "id");
    let e = w.fails_unchanged("unknown head", || {
        crm.set_department_head(sys, w.south.id, Some(no_user))
    });
    assert_invalid(&e, "head_user_id");
    let e = w.fails_unchanged("move unknown department", || {
        crm.move_department(sys, no_dept, None)
    });
    assert_invalid(&e, "id");
    let e = w.fails_unchanged("move under unknown department", || {
        crm.move_department(sys, w.south.id, Some(no_dept))
    });
    assert_invalid(&e, "parent_id");
    let e = w.fails_unchanged("grants of unknown role", || {
        crm.set_role_grants(sys, no_role, &[])
    });
    assert_invalid(&e, "id");
    let e = w.fails_unchanged("delete unknown role", || crm.delete_role(sys, no_role));
    assert_invalid(&e, "id");
    let e = w.fails_unchanged("deactivate unknown user", || {
        crm.set_user_active(sys, no_user, false)
    });
    assert_invalid(&e, "id");
    let e = w.fails_unchanged("unassign unknown", || {
        crm.unassign_role(sys, RoleAssignmentId(9_999))
    });
    assert!(
        matches!(
            e,
            CrmError::NotFound {
                entity: "role_assignment",
                ..
            }
        ),
        "{e:?}"
    );
    let e = w.fails_unchanged("remove unknown forbid", || {
        crm.remove_forbid(sys, ForbidId(9_999))
    });
    assert!(
        matches!(
            e,
            CrmError::NotFound {
                entity: "forbid",
                ..
            }
        ),
        "{e:?}"
    );

    // Owners of clients must be known, active users; the system context must name one.
    let e = w.fails_unchanged("unknown owner", || {
        crm.create_client(
            sys,
            &NewClient {
                owner_id: Some(no_user),
                ..NewClient::organization("Acme")
            },
        )
    });
    assert_invalid(&e, "owner_id");
    let e = w.fails_unchanged("no owner in the system context", || {
        crm.create_client(sys, &NewClient::organization("Acme"))
    });
    assert_invalid(&e, "owner_id");
    crm.set_user_active(sys, w.sam.id, false).unwrap();
    let e = w.fails_unchanged("deactivated owner", || {
        crm.create_client(
            sys,
            &NewClient {
                owner_id: Some(w.sam.id),
                ..NewClient::organization("Acme")
            },
        )
    });
    assert_invalid(&e, "owner_id");
    let c = w.org_of(&w.nora, "Acme");
    let e = w.fails_unchanged("assign to deactivated owner", || {
        crm.assign_client(sys, c.id, c.version, w.sam.id)
    });
    assert_invalid(&e, "owner_id");
    let e = w.fails_unchanged("assign to unknown owner", || {
        crm.assign_client(sys, c.id, c.version, no_user)
    });
    assert_invalid(&e, "owner_id");
}

#[test]
fn department_cycles_and_departments_in_use() {
    let w = World::new();
    let sys = &w.sys;
    for (what, id, parent) in [
        ("under itself", w.sales.id, w.sales.id),
        ("under its child", w.sales.id, w.north.id),
        ("root under a grandchild", w.company.id, w.south.id),
    ] {
        let e = w.fails_unchanged(what, || w.crm.move_department(sys, id, Some(parent)));
        assert_constraint(&e, "department", id.0);
    }
    // Sales has sub-departments and a member; North has members; Support has a member.
    for d in [&w.sales, &w.north, &w.support, &w.company] {
        let e = w.fails_unchanged(&d.name, || w.crm.delete_department(sys, d.id));
        assert_constraint(&e, "department", d.id.0);
    }
}

#[test]
fn stale_versions_conflict_and_change_nothing() {
    let w = World::new();
    let diana = w.ctx(&w.diana);
    let c = w.org_of(&w.nora, "Acme");
    let fresh = w
        .crm
        .update_client(
            &diana,
            c.id,
            c.version,
            &ClientUpdate {
                name: Patch::Set("Acme Two".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(fresh.version, c.version + 1);
    let stale = c.version;
    let actual = fresh.version;
    let e = w.fails_unchanged("update", || {
        w.crm.update_client(
            &diana,
            c.id,
            stale,
            &ClientUpdate {
                name: Patch::Set("Lost update".into()),
                ..Default::default()
            },
        )
    });
    assert_conflict(&e, c.id, stale, actual);
    let e = w.fails_unchanged("archive", || w.crm.archive_client(&diana, c.id, stale));
    assert_conflict(&e, c.id, stale, actual);
    let e = w.fails_unchanged("restore", || w.crm.restore_client(&diana, c.id, stale));
    assert_conflict(&e, c.id, stale, actual);
    let e = w.fails_unchanged("assign", || {
        w.crm.assign_client(&diana, c.id, stale, w.sam.id)
    });
    assert_conflict(&e, c.id, stale, actual);
    let e = w.fails_unchanged("delete", || w.crm.delete_client(&diana, c.id, stale));
    assert_conflict(&e, c.id, stale, actual);
    let e = w.fails_unchanged("future version", || {
        w.crm.delete_client(&diana, c.id, actual + 5)
    });
    assert_conflict(&e, c.id, actual + 5, actual);
    assert_eq!(w.crm.get_client(&diana, c.id).unwrap(), fresh);

    // Restoring a client that is not archived is a constraint, not a silent no-op.
    let e = w.fails_unchanged("restore active", || {
        w.crm.restore_client(&diana, c.id, actual)
    });
    assert_constraint(&e, "client", c.id.0);
}

#[test]
fn malformed_cursors_limits_and_search_text() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    for c in [
        "",
        "garbage",
        "acme:12",
        ":acme",
        "1.5:acme",
        "99999999999999999999:x",
    ] {
        let q = ClientQuery {
            after: Some(c.into()),
            ..Default::default()
        };
        let e = w.fails_unchanged(c, || w.crm.list_clients(&nora, &q));
        assert_invalid(&e, "after");
    }
    for c in ["", "abc", "12:acme", "1.5", "-"] {
        let q = SearchQuery {
            text: "acme".into(),
            after: Some(c.into()),
            ..Default::default()
        };
        let e = w.fails_unchanged(c, || w.crm.search_clients(&nora, &q));
        assert_invalid(&e, "after");
    }
    for limit in [0, 501, u32::MAX] {
        let q = ClientQuery {
            limit: Some(limit),
            ..Default::default()
        };
        let e = w.fails_unchanged("list limit", || w.crm.list_clients(&nora, &q));
        assert_invalid(&e, "limit");
        let q = SearchQuery {
            text: "acme".into(),
            limit: Some(limit),
            ..Default::default()
        };
        let e = w.fails_unchanged("search limit", || w.crm.search_clients(&nora, &q));
        assert_invalid(&e, "limit");
        let q = AuditQuery {
            limit: Some(limit),
            ..Default::default()
        };
        let e = w.fails_unchanged("audit limit", || w.crm.audit_entries(&w.sys, &q));
        assert_invalid(&e, "limit");
    }
    for text in ["", "   ", "!!!", "@-.", "\"*"] {
        let q = SearchQuery {
            text: text.into(),
            ..Default::default()
        };
        let e = w.fails_unchanged(text, || w.crm.search_clients(&nora, &q));
        assert_invalid(&e, "text");
    }
    // The boundaries themselves are fine.
    for limit in [1, 500] {
        let q = ClientQuery {
            limit: Some(limit),
            ..Default::default()
        };
        w.crm.list_clients(&nora, &q).unwrap();
    }
}

#[test]
fn user_context_for_an_unknown_user() {
    let w = World::new();
    let before = w.snapshot();
    let e = w.crm.user_context(UserId(4242)).unwrap_err();
    assert!(
        matches!(
            e,
            CrmError::NotFound {
                entity: "user",
                id: 4242
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.code(), 3);
    before.assert_same(&w.snapshot(), "user_context");
}

#[test]
fn a_deactivated_user_is_refused_on_every_call() {
    let w = World::new();
    let mine = w.org_of(&w.nora, "Nora's Client");
    let person = w.person_of(&w.nora, "Anna");
    let nora_before = w.ctx(&w.nora);
    w.crm.set_user_active(&w.sys, w.nora.id, false).unwrap();
    // A context minted before the deactivation and one minted after are both refused.
    let nora_after = w.ctx(&w.nora);
    let uid = w.nora.id;
    let id = mine.id;
    let v = mine.version;
    for nora in [&nora_before, &nora_after] {
        let crm = &w.crm;
        let calls: Vec<Call<'_>> = vec![
            (
                "get_client",
                Box::new(|| crm.get_client(nora, id).map(drop)),
            ),
            (
                "list_clients",
                Box::new(|| crm.list_clients(nora, &ClientQuery::default()).map(drop)),
            ),
            (
                "count_clients",
                Box::new(|| {
                    crm.count_clients(nora, &ClientQuery::default(), 10)
                        .map(drop)
                }),
            ),
            (
                "search_clients",
                Box::new(|| {
                    crm.search_clients(
                        nora,
                        &SearchQuery {
                            text: "nora".into(),
                            ..Default::default()
                        },
                    )
                    .map(drop)
                }),
            ),
            (
                "duplicates_of",
                Box::new(|| crm.duplicates_of(nora, id).map(drop)),
            ),
            (
                "find_duplicates",
                Box::new(|| {
                    crm.find_duplicates(nora, &NewClient::organization("X"))
                        .map(drop)
                }),
            ),
            (
                "contacts_of",
                Box::new(|| crm.contacts_of(nora, id).map(drop)),
            ),
            (
                "organizations_of",
                Box::new(|| crm.organizations_of(nora, person.id).map(drop)),
            ),
            (
                "create_client",
                Box::new(|| {
                    crm.create_client(nora, &NewClient::organization("X"))
                        .map(drop)
                }),
            ),
            (
                "create_clients",
                Box::new(|| {
                    crm.create_clients(nora, &[NewClient::organization("X")])
                        .map(drop)
                }),
            ),
            (
                "update_client",
                Box::new(|| {
                    crm.update_client(
                        nora,
                        id,
                        v,
                        &ClientUpdate {
                            name: Patch::Set("Y".into()),
                            ..Default::default()
                        },
                    )
                    .map(drop)
                }),
            ),
            (
                "archive_client",
                Box::new(|| crm.archive_client(nora, id, v).map(drop)),
            ),
            (
                "restore_client",
                Box::new(|| crm.restore_client(nora, id, v).map(drop)),
            ),
            ("delete_client", Box::new(|| crm.delete_client(nora, id, v))),
            (
                "assign_client",
                Box::new(|| crm.assign_client(nora, id, v, uid).map(drop)),
            ),
            (
                "link_contact",
                Box::new(|| crm.link_contact(nora, id, person.id, Some("CFO"))),
            ),
            (
                "unlink_contact",
                Box::new(|| crm.unlink_contact(nora, id, person.id)),
            ),
            (
                "can",
                Box::new(|| crm.can(nora, Action::Read, id).map(drop)),
            ),
            (
                "explain",
                Box::new(|| crm.explain(nora, uid, Action::Read, id).map(drop)),
            ),
            ("departments", Box::new(|| crm.departments(nora).map(drop))),
            ("users", Box::new(|| crm.users(nora).map(drop))),
            ("user", Box::new(|| crm.user(nora, uid).map(drop))),
            ("roles", Box::new(|| crm.roles(nora).map(drop))),
            (
                "role_assignments",
                Box::new(|| crm.role_assignments(nora).map(drop)),
            ),
            ("forbids", Box::new(|| crm.forbids(nora).map(drop))),
            (
                "custom_fields",
                Box::new(|| crm.custom_fields(nora, EntityType::Client).map(drop)),
            ),
            (
                "verify_audit",
                Box::new(|| crm.verify_audit(nora).map(drop)),
            ),
            (
                "audit_entries",
                Box::new(|| crm.audit_entries(nora, &AuditQuery::default()).map(drop)),
            ),
            (
                "create_department",
                Box::new(|| {
                    crm.create_department(
                        nora,
                        &NewDepartment {
                            name: "X".into(),
                            parent_id: None,
                        },
                    )
                    .map(drop)
                }),
            ),
            (
                "define_custom_field",
                Box::new(|| {
                    crm.define_custom_field(nora, &field("x", CustomFieldType::Text))
                        .map(drop)
                }),
            ),
        ];
        for (name, call) in calls {
            let e = w.fails_unchanged(name, call);
            assert!(
                matches!(e, CrmError::InactiveUser(u) if u == uid.0),
                "{name}: {e:?}"
            );
            assert_eq!(e.code(), 7, "{name}");
        }
    }
    // Reactivation restores access at once, for old contexts too.
    w.crm.set_user_active(&w.sys, w.nora.id, true).unwrap();
    assert_eq!(w.crm.get_client(&nora_before, id).unwrap().id, id);
}

#[test]
fn non_admins_cannot_administer() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let crm = &w.crm;
    let field_id = crm
        .define_custom_field(&w.sys, &field("note", CustomFieldType::Text))
        .unwrap()
        .id;
    let assignment = crm.role_assignments(&w.sys).unwrap()[0].id;
    let forbid = crm
        .add_forbid(
            &w.sys,
            &Forbid {
                id: ForbidId::unset(),
                subject: ForbidSubject::User { user_id: w.olga.id },
                entity: EntityType::Client,
                action: Action::Delete,
                target: ForbidTarget::AllRecords,
            },
        )
        .unwrap();
    let (north, south, nick) = (w.north.id, w.south.id, w.nick.id);
    let calls: Vec<Call<'_>> = vec![
        (
            "create_department",
            Box::new(|| {
                crm.create_department(
                    &nora,
                    &NewDepartment {
                        name: "X".into(),
                        parent_id: None,
                    },
                )
                .map(drop)
            }),
        ),
        (
            "rename_department",
            Box::new(|| crm.rename_department(&nora, north, "X")),
        ),
        (
            "move_department",
            Box::new(|| crm.move_department(&nora, north, Some(south))),
        ),
        (
            "set_department_head",
            Box::new(|| crm.set_department_head(&nora, north, Some(w.nora.id))),
        ),
        (
            "delete_department",
            Box::new(|| crm.delete_department(&nora, north)),
        ),
        (
            "create_user",
            Box::new(|| {
                crm.create_user(
                    &nora,
                    &NewUser {
                        name: "X".into(),
                        email: "x@corp.example".into(),
                        department_id: north,
                        admin: true,
                    },
                )
                .map(drop)
            }),
        ),
        (
            "set_user_active",
            Box::new(|| crm.set_user_active(&nora, nick, false)),
        ),
        (
            "set_user_admin",
            Box::new(|| crm.set_user_admin(&nora, w.nora.id, true)),
        ),
        (
            "move_user",
            Box::new(|| crm.move_user(&nora, nick, south).map(drop)),
        ),
        (
            "create_role",
            Box::new(|| crm.create_role(&nora, "X", &[]).map(drop)),
        ),
        (
            "set_role_grants",
            Box::new(|| {
                crm.set_role_grants(&nora, w.rep.id, &grants(AccessLevel::All, &Action::ALL))
            }),
        ),
        ("delete_role", Box::new(|| crm.delete_role(&nora, w.rep.id))),
        (
            "assign_role",
            Box::new(|| {
                crm.assign_role(
                    &nora,
                    w.director.id,
                    &RoleSubject::User { user_id: w.nora.id },
                )
                .map(drop)
            }),
        ),
        (
            "unassign_role",
            Box::new(|| crm.unassign_role(&nora, assignment)),
        ),
        (
            "add_forbid",
            Box::new(|| {
                crm.add_forbid(
                    &nora,
                    &Forbid {
                        id: ForbidId::unset(),
                        subject: ForbidSubject::User { user_id: nick },
                        entity: EntityType::Client,
                        action: Action::Read,
                        target: ForbidTarget::AllRecords,
                    },
                )
                .map(drop)
            }),
        ),
        (
            "remove_forbid",
            Box::new(|| crm.remove_forbid(&nora, forbid)),
        ),
        (
            "define_custom_field",
            Box::new(|| {
                crm.define_custom_field(&nora, &field("x", CustomFieldType::Text))
                    .map(drop)
            }),
        ),
        (
            "delete_custom_field",
            Box::new(|| crm.delete_custom_field(&nora, EntityType::Client, field_id)),
        ),
    ];
    for (op, call) in calls {
        let (e, entry) = w.fails_with_denial(op, call);
        assert!(
            matches!(e, CrmError::AdminRequired { operation } if operation == op),
            "{op}: {e:?}"
        );
        assert_eq!(e.code(), 4);
        assert!(e.is_permission());
        assert_eq!(entry.action, op);
        assert_eq!(entry.actor_kind, "user");
        assert_eq!(entry.actor_id, Some(w.nora.id.0));
    }
    // Reading the audit log is administrative too; reads leave no trace.
    let reads: Vec<Call<'_>> = vec![
        (
            "verify_audit",
            Box::new(|| crm.verify_audit(&nora).map(drop)),
        ),
        (
            "audit_entries",
            Box::new(|| crm.audit_entries(&nora, &AuditQuery::default()).map(drop)),
        ),
        (
            "explain",
            Box::new(|| {
                let c = ClientId(1);
                crm.explain(&nora, nick, Action::Read, c).map(drop)
            }),
        ),
    ];
    for (op, call) in reads {
        let e = w.fails_unchanged(op, call);
        assert!(
            matches!(e, CrmError::AdminRequired { operation } if operation == op),
            "{op}: {e:?}"
        );
    }
}

#[test]
fn a_bad_item_in_a_batch_writes_nothing() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    w.crm
        .define_custom_field(&w.sys, &field("segment", CustomFieldType::Enum))
        .unwrap();
    let good = |i: usize| NewClient::organization(format!("Batch {i}"));
    let bad_items: Vec<(NewClient, &str)> = vec![
        (
            NewClient {
                emails: vec![email("not an address")],
                ..good(3)
            },
            "[3].emails[0].address",
        ),
        (
            NewClient {
                phones: vec![phone("+49 30 1"), phone("12")],
                ..good(3)
            },
            "[3].phones[1].number",
        ),
        (NewClient::organization(" "), "[3].name"),
        (
            NewClient {
                custom: custom(&[("segment", json!("huge"))]),
                ..good(3)
            },
            "[3].custom.segment",
        ),
        (
            NewClient {
                owner_id: Some(UserId(777)),
                ..good(3)
            },
            "[3].owner_id",
        ),
        (
            NewClient {
                parent_id: Some(ClientId(777)),
                ..good(3)
            },
            "[3].parent_id",
        ),
    ];
    for (bad, path) in bad_items {
        let mut batch: Vec<NewClient> = (0..6).map(good).collect();
        batch[3] = bad;
        let e = w.fails_unchanged(path, || w.crm.create_clients(&nora, &batch));
        assert_invalid(&e, path);
    }
    // An item outside the create level refuses the whole batch too, leaving only the denial.
    let mut batch: Vec<NewClient> = (0..6).map(good).collect();
    batch[3].owner_id = Some(w.sam.id);
    let (e, entry) = w.fails_with_denial("batch outside level", || {
        w.crm.create_clients(&nora, &batch)
    });
    assert_denied(&e, Action::Create, None);
    assert_eq!(entry.action, "client.create");
    assert_eq!(
        w.crm
            .count_clients(&w.sys, &ClientQuery::default(), 100)
            .unwrap()
            .count,
        0
    );
}

#[test]
fn creating_outside_the_create_level_is_denied_and_audited() {
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let olga = w.ctx(&w.olga);
    // Nora (own level) may not put a client into Sam's name, even one open to everyone.
    for open in [false, true] {
        let new = NewClient {
            owner_id: Some(w.sam.id),
            open,
            ..NewClient::organization("Sam's new client")
        };
        let (e, entry) = w.fails_with_denial("other owner", || w.crm.create_client(&nora, &new));
        assert_denied(&e, Action::Create, None);
        assert_eq!(entry.action, "client.create");
        assert_eq!(entry.entity, "client");
        assert_eq!(entry.entity_id, None);
        assert_eq!(entry.actor_kind, "user");
        assert_eq!(entry.actor_id, Some(w.nora.id.0));
        let detail: Value = serde_json::from_str(&entry.detail).unwrap();
        assert!(detail["reason"].is_string(), "{detail}");
    }
    // Olga holds no role at all.
    let (e, _) = w.fails_with_denial("no role", || {
        w.crm
            .create_client(&olga, &NewClient::organization("Olga's"))
    });
    assert_denied(&e, Action::Create, None);

    // Nora can read her own client but not delete or reassign it: PermissionDenied with the id.
    let mine = w.org_of(&w.nora, "Mine");
    let (e, entry) = w.fails_with_denial("delete own", || {
        w.crm.delete_client(&nora, mine.id, mine.version)
    });
    assert_denied(&e, Action::Delete, Some(mine.id));
    assert_eq!(
        (entry.action.as_str(), entry.entity_id),
        ("client.delete", Some(mine.id.0))
    );
    let (e, _) = w.fails_with_denial("assign own", || {
        w.crm.assign_client(&nora, mine.id, mine.version, w.nick.id)
    });
    assert_denied(&e, Action::Assign, Some(mine.id));
}

fn unreadable_record_cases(w: &World, hidden: bool) {
    let nora = w.ctx(&w.nora);
    let theirs = w.org_of(&w.sam, "Sam's Client");
    let their_person = w.person_of(&w.sam, "Sam's Contact");
    let my_person = w.person_of(&w.nora, "Nora's Contact");
    let (id, v) = (theirs.id, theirs.version);
    // Every mismatch is collected, so one run reports all the calls that behave wrongly.
    let problems = std::cell::RefCell::new(Vec::<String>::new());
    let check = |what: &str, e: &CrmError, action: Action, target: ClientId| {
        let ok = if hidden {
            matches!(e, CrmError::NotFound { entity: "client", id } if *id == target.0)
        } else {
            matches!(e, CrmError::PermissionDenied { action: a, entity: EntityType::Client, id: Some(i) }
                if *a == action && *i == target.0)
        };
        if !ok {
            problems.borrow_mut().push(format!("{what}: {e:?}"));
        }
    };
    // Writes leave exactly one denial in the audit log.
    let (e, entry) = w.fails_with_denial("update", || {
        w.crm.update_client(
            &nora,
            id,
            v,
            &ClientUpdate {
                name: Patch::Set("Mine now".into()),
                ..Default::default()
            },
        )
    });
    check("update_client", &e, Action::Update, id);
    assert_eq!(
        (entry.action.as_str(), entry.entity_id),
        ("client.update", Some(id.0))
    );
    let (e, _) = w.fails_with_denial("archive", || w.crm.archive_client(&nora, id, v));
    check("archive_client", &e, Action::Update, id);
    let (e, _) = w.fails_with_denial("restore", || w.crm.restore_client(&nora, id, v));
    check("restore_client", &e, Action::Update, id);
    let (e, _) = w.fails_with_denial("delete", || w.crm.delete_client(&nora, id, v));
    check("delete_client", &e, Action::Delete, id);
    let (e, _) = w.fails_with_denial("assign", || w.crm.assign_client(&nora, id, v, w.nora.id));
    check("assign_client", &e, Action::Assign, id);
    let (e, _) = w.fails_with_denial("link", || {
        w.crm.link_contact(&nora, id, my_person.id, Some("CFO"))
    });
    check("link_contact", &e, Action::Update, id);
    let (e, _) = w.fails_with_denial("unlink", || w.crm.unlink_contact(&nora, id, my_person.id));
    check("unlink_contact", &e, Action::Update, id);
    // A stale version does not reveal the record either.
    let (e, _) = w.fails_with_denial("update stale", || {
        w.crm
            .update_client(&nora, id, v + 3, &ClientUpdate::default())
    });
    check("update_client (stale version)", &e, Action::Update, id);
    assert_eq!(w.crm.get_client(&w.sys, id).unwrap(), theirs);
    // Reads leave nothing behind.
    let e = w.fails_unchanged("get", || w.crm.get_client(&nora, id));
    check("get_client", &e, Action::Read, id);
    let e = w.fails_unchanged("can", || w.crm.can(&nora, Action::Update, id));
    check("can", &e, Action::Read, id);
    let e = w.fails_unchanged("contacts_of", || w.crm.contacts_of(&nora, id));
    check("contacts_of", &e, Action::Read, id);
    let e = w.fails_unchanged("organizations_of", || {
        w.crm.organizations_of(&nora, their_person.id)
    });
    check("organizations_of", &e, Action::Read, their_person.id);
    let e = w.fails_unchanged("duplicates_of", || w.crm.duplicates_of(&nora, id));
    check("duplicates_of", &e, Action::Read, id);
    let problems = problems.into_inner();
    assert!(
        problems.is_empty(),
        "expected {} for a record the user cannot read, but:\n{}",
        if hidden {
            "NotFound"
        } else {
            "PermissionDenied"
        },
        problems.join("\n")
    );
}

#[test]
fn a_record_the_user_cannot_read_is_not_found() {
    let w = World::new();
    unreadable_record_cases(&w, true);
    // A record that never existed looks the same.
    let nora = w.ctx(&w.nora);
    let e = w.fails_unchanged("missing", || w.crm.get_client(&nora, ClientId(123_456)));
    assert_client_not_found(&e, ClientId(123_456));
}

#[test]
fn with_hide_denied_records_off_the_same_is_permission_denied() {
    let w = World::with_options(OpenOptions {
        hide_denied_records: false,
        ..Default::default()
    });
    unreadable_record_cases(&w, false);
}

#[test]
fn an_archive_filter_on_counts_and_lists_is_not_an_error() {
    // Sanity check of the fixture: reads with every filter combination succeed on an empty set.
    let w = World::new();
    let nora = w.ctx(&w.nora);
    let q = ClientQuery {
        archive: ArchiveFilter::Archived,
        tag: Some("x".into()),
        ..Default::default()
    };
    assert!(w.crm.list_clients(&nora, &q).unwrap().items.is_empty());
    assert_eq!(w.crm.count_clients(&nora, &q, 10).unwrap().count, 0);
}

#[test]
fn the_snapshot_helper_sees_changes() {
    // The "unchanged" checks above are only worth something if a real change is visible.
    let w = World::new();
    let before = w.snapshot();
    let c = w.org_of(&w.nora, "Visible");
    let after = w.snapshot();
    let changed = before.changed_tables(&after);
    for t in ["clients", "client_keys", "audit_log", "audit_head"] {
        assert!(changed.iter().any(|c| c == t), "{t} not in {changed:?}");
    }
    assert!(
        changed.iter().any(|t| t.starts_with("client_fts")),
        "{changed:?}"
    );
    let before = w.snapshot();
    w.crm
        .update_client(
            &w.sys,
            c.id,
            c.version,
            &ClientUpdate {
                open: Patch::Set(true),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(before
        .changed_tables(&w.snapshot())
        .contains(&"clients".to_string()));
}
