//! Deals and pipelines through the public API: editing a pipeline (removing stages with a remap),
//! stage rules (required fields, allowed transitions, lost reasons, reopening), the stage history,
//! optimistic concurrency, the change-stage and assign permissions, money validation, exchange
//! rates and the department stamp of deals.

mod funnel_common;

use chrono::{Duration, Utc};
use crm_core::access::{AccessLevel, Action, EntityType};
use crm_core::ids::PipelineId;
use crm_core::ids::StageId;
use crm_core::model::Pipeline;
use crm_core::model::{
    ClientKind, CustomFieldType, DealQuery, DealUpdate, FunnelQuery, NewClient, NewCustomField,
    NewDeal, Patch, RequiredField, StageKind, StageMove, StageSpec,
};
use crm_core::money::{Currency, Money, Rate};
use crm_core::{CrmError, Ctx, Result};
use funnel_common::*;
use std::collections::BTreeSet;

/// Where the deals of a removed stage go: `(from, to)`.
type Remap = (StageId, StageId);

/// `Crm::update_pipeline` with a definition built from its JSON form. The argument type
/// (`PipelineUpdate`, with its `StageRemap`s) is declared `pub` in the private module
/// `crm_core::service::pipelines` and re-exported nowhere, so a host cannot name it; the JSON
/// form (inferred from the parameter type) is the only way to build one.
fn edit(
    env: &Env,
    ctx: &Ctx,
    id: PipelineId,
    name: Option<&str>,
    stages: &[StageSpec],
    remap: &[Remap],
) -> Result<Pipeline> {
    let remap: Vec<serde_json::Value> = remap
        .iter()
        .map(|(from, to)| serde_json::json!({"from": from, "to": to}))
        .collect();
    let doc = serde_json::json!({"name": name, "stages": stages, "remap": remap});
    env.crm.update_pipeline(
        ctx,
        id,
        &serde_json::from_value(doc).expect("pipeline update"),
    )
}

/// A spec that keeps an existing stage as it is.
fn keep(p: &crm_core::model::Pipeline, name: &str) -> StageSpec {
    let s = p.stage(stage(p, name)).expect("stage");
    StageSpec {
        id: Some(s.id),
        name: s.name.clone(),
        probability: s.probability,
        kind: s.kind,
        rotting_days: s.rotting_days,
        required_fields: s.required_fields.clone(),
        allowed_next: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Pipeline editing
// ---------------------------------------------------------------------------------------------

#[test]
fn removing_a_stage_that_holds_deals_needs_a_remap_to_a_stage_of_the_same_kind() {
    let env = Env::new();
    let sales = env.dept("Sales", None);
    let ann = env.user("Ann", &sales);
    let admin = env.user_with("Root", &sales, true);
    let crm = &env.crm;
    let sys = &env.sys;
    let p = crm
        .create_pipeline(
            sys,
            "Editing",
            &[
                StageSpec::new("Lead", 10, StageKind::Open),
                StageSpec::new("Qualified", 30, StageKind::Open),
                StageSpec::new("Negotiation", 50, StageKind::Open),
                StageSpec::new("Proposal", 60, StageKind::Open),
                StageSpec::new("Won", 100, StageKind::Won),
                StageSpec::new("Won online", 100, StageKind::Won),
                StageSpec::new("Lost", 0, StageKind::Lost),
            ],
        )
        .unwrap();
    let other = env.pipeline("Other", &["Start"]);
    let mk = |title: &str| {
        crm.create_deal(sys, &owned(new_deal(title, p.id, "EUR", 1_000), ann.id))
            .unwrap()
    };
    let a = mk("a");
    let b = mk("b");
    let c = mk("c");
    let w = mk("w");
    let a = crm
        .move_deal(sys, a.id, a.version, &to(stage(&p, "Qualified")))
        .unwrap();
    let b = crm
        .move_deal(sys, b.id, b.version, &to(stage(&p, "Qualified")))
        .unwrap();
    let w = crm
        .move_deal(sys, w.id, w.version, &to(stage(&p, "Won online")))
        .unwrap();
    assert_eq!(w.status, StageKind::Won);
    let w_closed = w.closed_at.expect("a won deal is closed");

    let kept_stages = vec![
        StageSpec {
            name: "Inbound".into(),
            ..keep(&p, "Lead")
        },
        StageSpec::new("Demo", 40, StageKind::Open),
        keep(&p, "Proposal"),
        keep(&p, "Won"),
        keep(&p, "Lost"),
    ];
    let q = stage(&p, "Qualified");
    let upd =
        |ctx: &Ctx, remap: &[Remap]| edit(&env, ctx, p.id, Some("Edited"), &kept_stages, remap);

    // Without a remap for the stages that hold deals: refused, and nothing written.
    let before = fingerprint(&env);
    let e = expect_code(upd(sys, &[]), 6);
    assert!(
        matches!(
            e,
            CrmError::Constraint {
                entity: "stage",
                ..
            }
        ),
        "{e:?}"
    );
    assert_same_db(&before, &fingerprint(&env), "update without remap");

    // A remap for Qualified only: Won online still holds a deal.
    let only_q = [(q, stage(&p, "Proposal"))];
    expect_code(upd(sys, &only_q), 6);
    assert_same_db(&before, &fingerprint(&env), "update with a partial remap");

    // A remap to a stage of another kind, from a kept stage, to a removed stage, or to a stage of
    // another pipeline: refused.
    let bad = [
        ((q, stage(&p, "Won")), "remap[0].to"),
        ((stage(&p, "Lead"), stage(&p, "Proposal")), "remap[0].from"),
        ((q, stage(&p, "Negotiation")), "remap[0].to"),
        ((q, stage(&other, "Start")), "remap[0].to"),
        (
            (stage(&other, "Start"), stage(&p, "Proposal")),
            "remap[0].from",
        ),
    ];
    for (r, field) in bad {
        expect_invalid(upd(sys, &[r]), field);
        assert_same_db(&before, &fingerprint(&env), field);
    }

    // Only administrators edit pipelines.
    let as_ann = env.ctx(&ann);
    expect_code(upd(&as_ann, &only_q), 4);

    // A complete remap (Negotiation holds nothing and needs none).
    let started = Utc::now() - Duration::seconds(1);
    let remap = [
        (q, stage(&p, "Proposal")),
        (stage(&p, "Won online"), stage(&p, "Won")),
    ];
    let as_admin = env.ctx(&admin);
    let edited = upd(&as_admin, &remap).unwrap();
    assert_eq!(edited.name, "Edited");
    let names: Vec<&str> = edited.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Inbound", "Demo", "Proposal", "Won", "Lost"]);
    assert_eq!(
        edited.stages[0].id,
        stage(&p, "Lead"),
        "a kept stage keeps its id"
    );
    assert_eq!(edited.stages[2].id, stage(&p, "Proposal"));
    assert_eq!(crm.pipeline(sys, p.id).unwrap(), edited);

    // The deals moved, each with one stage event; the others are untouched.
    for (old, to_name) in [(&a, "Proposal"), (&b, "Proposal")] {
        let now = crm.get_deal(sys, old.id).unwrap();
        assert_eq!(now.stage_id, stage(&p, to_name));
        assert_eq!(now.status, StageKind::Open);
        assert_eq!(now.version, old.version + 1);
        assert!(now.stage_entered_at >= started);
        let h = crm.deal_history(sys, old.id).unwrap();
        assert_eq!(h.len(), 3, "{h:?}");
        let last = h.last().unwrap();
        assert_eq!(last.from_stage_id, Some(q));
        assert_eq!(last.to_stage_id, stage(&p, to_name));
        assert_eq!(last.actor_id, Some(admin.id));
    }
    let w2 = crm.get_deal(sys, w.id).unwrap();
    assert_eq!(w2.stage_id, stage(&p, "Won"));
    assert_eq!(w2.status, StageKind::Won);
    assert_eq!(
        w2.closed_at,
        Some(w_closed),
        "remapping keeps the close time"
    );
    let hw = crm.deal_history(sys, w.id).unwrap();
    assert_eq!(hw.len(), 3);
    assert_eq!(hw[2].from_stage_id, Some(stage(&p, "Won online")));
    assert_eq!(
        crm.get_deal(sys, c.id).unwrap(),
        c,
        "a deal of a kept stage is untouched"
    );

    // Nothing is orphaned: every deal sits in a stage of its pipeline, and none in a removed one.
    let stage_ids: BTreeSet<StageId> = edited.stages.iter().map(|s| s.id).collect();
    let deals = all_deals(
        crm,
        sys,
        &DealQuery {
            pipeline_id: Some(p.id),
            ..Default::default()
        },
        2,
    );
    assert_eq!(deals.len(), 4);
    for d in &deals {
        assert!(stage_ids.contains(&d.stage_id), "deal {} orphaned", d.id);
        assert_eq!(
            crm.deal_history(sys, d.id)
                .unwrap()
                .last()
                .unwrap()
                .to_stage_id,
            d.stage_id,
            "the last event names the current stage"
        );
    }
    for removed in [q, stage(&p, "Won online"), stage(&p, "Negotiation")] {
        let left = crm
            .list_deals(
                sys,
                &DealQuery {
                    stage_id: Some(removed),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(left.items.is_empty());
    }
    let report = crm
        .funnel_report(
            sys,
            &FunnelQuery {
                pipeline_id: p.id,
                from: day(2020, 1, 1),
                to: (Utc::now() + Duration::days(2)).date_naive(),
                grouping: Default::default(),
                time_zone: None,
                owner_id: None,
                department_id: None,
                reporting_currency: None,
                rate_date: None,
            },
        )
        .unwrap();
    let report_stages: Vec<StageId> = report.stages.iter().map(|s| s.stage_id).collect();
    assert_eq!(
        report_stages,
        edited.stages.iter().map(|s| s.id).collect::<Vec<_>>()
    );
    let open: u64 = report.stages.iter().map(|s| s.open.count).sum();
    assert_eq!(open, 3);
    let audit = env.audit_of("pipeline", p.id.0);
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "pipeline.update" && e.outcome == "ok")
            .count(),
        1
    );
}

#[test]
fn removing_an_empty_stage_needs_no_remap() {
    let env = Env::new();
    let p = env.pipeline("Plain", &["Lead", "Idle", "Proposal"]);
    let stages = [
        keep(&p, "Lead"),
        keep(&p, "Proposal"),
        keep(&p, "Won"),
        keep(&p, "Lost"),
    ];
    let edited = edit(&env, &env.sys, p.id, None, &stages, &[]).unwrap();
    assert_eq!(edited.name, "Plain");
    assert!(edited.stage(stage(&p, "Idle")).is_none());
    assert_eq!(edited.stages.len(), 4);
}

#[test]
fn changing_the_kind_of_a_stage_that_holds_deals_keeps_their_status_in_line() {
    // A deal's `status` is "the kind of the current stage". Redefining a kept stage's kind must
    // either be refused while it holds deals or carry its deals along; it must not leave open
    // deals in a won stage.
    let env = Env::new();
    let sales = env.dept("Sales", None);
    let ann = env.user("Ann", &sales);
    let p = env.pipeline("Kinds", &["Lead", "Signed"]);
    let crm = &env.crm;
    let d = crm
        .create_deal(
            &env.sys,
            &owned(new_deal("signed", p.id, "EUR", 500), ann.id),
        )
        .unwrap();
    crm.move_deal(&env.sys, d.id, d.version, &to(stage(&p, "Signed")))
        .unwrap();
    let stages = [
        keep(&p, "Lead"),
        StageSpec {
            kind: StageKind::Won,
            ..keep(&p, "Signed")
        },
        keep(&p, "Won"),
        keep(&p, "Lost"),
    ];
    let result = edit(&env, &env.sys, p.id, None, &stages, &[]);
    let now = crm.get_deal(&env.sys, d.id).unwrap();
    let pipeline = crm.pipeline(&env.sys, p.id).unwrap();
    let kind = pipeline.stage(now.stage_id).unwrap().kind;
    assert_eq!(
        now.status,
        kind,
        "after update_pipeline returned {:?}, deal {} sits in a {kind:?} stage with status {:?}",
        result.as_ref().map(|_| "Ok"),
        now.id,
        now.status
    );
    // The report agrees with the stage kinds: no open deal in a won stage.
    let report = crm
        .funnel_report(
            &env.sys,
            &FunnelQuery {
                pipeline_id: p.id,
                from: day(2020, 1, 1),
                to: (Utc::now() + Duration::days(2)).date_naive(),
                grouping: Default::default(),
                time_zone: None,
                owner_id: None,
                department_id: None,
                reporting_currency: None,
                rate_date: None,
            },
        )
        .unwrap();
    for s in &report.stages {
        if s.kind != StageKind::Open {
            assert_eq!(
                s.open.count, 0,
                "open deals in {:?} stage {}",
                s.kind, s.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stage rules
// ---------------------------------------------------------------------------------------------

#[test]
fn required_fields_are_checked_before_anything_is_written() {
    let env = Env::new();
    let sales = env.dept("Sales", None);
    let ann = env.user("Ann", &sales);
    env.give_role(
        &ann,
        "Rep",
        &grants(
            &EntityType::ALL,
            &[
                Action::Read,
                Action::Create,
                Action::Update,
                Action::ChangeStage,
            ],
            AccessLevel::Own,
            false,
        ),
    );
    let crm = &env.crm;
    let sys = &env.sys;
    crm.define_custom_field(
        sys,
        &NewCustomField {
            entity: EntityType::Deal,
            key: "po_number".into(),
            label: "PO number".into(),
            field_type: CustomFieldType::Text,
            options: vec![],
            required: false,
        },
    )
    .unwrap();
    let p = crm
        .create_pipeline(
            sys,
            "Rules",
            &[
                StageSpec::new("Lead", 10, StageKind::Open),
                StageSpec {
                    required_fields: vec![
                        RequiredField::Amount,
                        RequiredField::ExpectedCloseDate,
                        RequiredField::Client,
                        RequiredField::Custom("po_number".into()),
                    ],
                    ..StageSpec::new("Proposal", 60, StageKind::Open)
                },
                StageSpec {
                    required_fields: vec![RequiredField::ContactPerson],
                    ..StageSpec::new("Contract", 80, StageKind::Open)
                },
                StageSpec::new("Won", 100, StageKind::Won),
                StageSpec::new("Lost", 0, StageKind::Lost),
            ],
        )
        .unwrap();
    let proposal = stage(&p, "Proposal");
    let as_ann = env.ctx(&ann);
    let acme = crm
        .create_client(&as_ann, &NewClient::organization("Acme"))
        .unwrap();
    let org_contact = crm
        .create_client(&as_ann, &NewClient::organization("Not a person"))
        .unwrap();
    let person = crm
        .create_client(&as_ann, &NewClient::person("Pat Buyer"))
        .unwrap();
    assert_eq!(person.kind, ClientKind::Person);
    // A deal's contact person must be one of its client's contacts.
    crm.link_contact(&as_ann, acme.id, person.id, None).unwrap();

    // Creating straight into a stage checks its required fields; a deal starts in an open stage.
    let before = fingerprint(&env);
    let into_proposal = NewDeal {
        stage_id: Some(proposal),
        ..new_deal("Straight in", p.id, "EUR", 0)
    };
    expect_invalid(crm.create_deal(&as_ann, &into_proposal), "amount_minor");
    expect_invalid(
        crm.create_deal(
            &as_ann,
            &NewDeal {
                stage_id: Some(stage(&p, "Won")),
                ..new_deal("Won at birth", p.id, "EUR", 10)
            },
        ),
        "stage_id",
    );
    assert_same_db(&before, &fingerprint(&env), "refused create");

    let d = crm
        .create_deal(&as_ann, &new_deal("Step by step", p.id, "EUR", 0))
        .unwrap();
    let history_len = crm.deal_history(&as_ann, d.id).unwrap().len();
    assert_eq!(history_len, 1);

    // Each missing field in turn, in the order the stage lists them; nothing written each time.
    let fill: Vec<(&str, DealUpdate)> = vec![
        (
            "amount_minor",
            DealUpdate {
                amount_minor: Patch::Set(50_000),
                ..Default::default()
            },
        ),
        (
            "expected_close_date",
            DealUpdate {
                expected_close_date: Patch::Set(Some(day(2030, 1, 31))),
                ..Default::default()
            },
        ),
        (
            "client_id",
            DealUpdate {
                client_id: Patch::Set(Some(acme.id)),
                ..Default::default()
            },
        ),
        (
            "custom.po_number",
            DealUpdate {
                custom: [("po_number".to_string(), serde_json::json!("PO-7"))].into(),
                ..Default::default()
            },
        ),
    ];
    let mut d = d;
    for (field, patch) in fill {
        let before = fingerprint(&env);
        expect_invalid(
            crm.move_deal(&as_ann, d.id, d.version, &to(proposal)),
            field,
        );
        assert_same_db(&before, &fingerprint(&env), field);
        d = crm.update_deal(&as_ann, d.id, d.version, &patch).unwrap();
    }
    let d = crm
        .move_deal(&as_ann, d.id, d.version, &to(proposal))
        .unwrap();
    assert_eq!(d.stage_id, proposal);
    assert_eq!(crm.deal_history(&as_ann, d.id).unwrap().len(), 2);

    // While in the stage, its required fields cannot be removed.
    let before = fingerprint(&env);
    let removals: Vec<(&str, DealUpdate)> = vec![
        (
            "expected_close_date",
            DealUpdate {
                expected_close_date: Patch::Set(None),
                ..Default::default()
            },
        ),
        (
            "amount_minor",
            DealUpdate {
                amount_minor: Patch::Set(0),
                ..Default::default()
            },
        ),
        (
            "client_id",
            DealUpdate {
                client_id: Patch::Set(None),
                ..Default::default()
            },
        ),
        (
            "custom.po_number",
            DealUpdate {
                custom: [("po_number".to_string(), serde_json::Value::Null)].into(),
                ..Default::default()
            },
        ),
    ];
    for (field, patch) in removals {
        expect_invalid(crm.update_deal(&as_ann, d.id, d.version, &patch), field);
    }
    assert_same_db(&before, &fingerprint(&env), "refused updates");

    // The contract stage needs a contact person, and an organisation is not one.
    expect_invalid(
        crm.move_deal(&as_ann, d.id, d.version, &to(stage(&p, "Contract"))),
        "contact_id",
    );
    expect_invalid(
        crm.update_deal(
            &as_ann,
            d.id,
            d.version,
            &DealUpdate {
                contact_id: Patch::Set(Some(org_contact.id)),
                ..Default::default()
            },
        ),
        "contact_id",
    );
    let d = crm
        .update_deal(
            &as_ann,
            d.id,
            d.version,
            &DealUpdate {
                contact_id: Patch::Set(Some(person.id)),
                ..Default::default()
            },
        )
        .unwrap();
    let d = crm
        .move_deal(&as_ann, d.id, d.version, &to(stage(&p, "Contract")))
        .unwrap();
    assert_eq!(d.contact_id, Some(person.id));
    assert_eq!(crm.deal_history(&as_ann, d.id).unwrap().len(), 3);
}

#[test]
fn the_contact_person_must_be_a_contact_of_the_client() {
    // `NewDeal::contact_id`: "A person who is the client's contact (or the client itself when it
    // is a person)."
    let t = Team::new();
    let crm = t.crm();
    let nora = t.ctx(&t.nora);
    let acme = crm
        .create_client(&nora, &NewClient::organization("Acme"))
        .unwrap();
    let linked = crm
        .create_client(&nora, &NewClient::person("Linked Person"))
        .unwrap();
    let stranger = crm
        .create_client(&nora, &NewClient::person("Unrelated Person"))
        .unwrap();
    crm.link_contact(&nora, acme.id, linked.id, Some("CFO"))
        .unwrap();
    let pid = t.pipeline.id;
    let with_contact = |client, contact| NewDeal {
        contact_id: Some(contact),
        ..with_client(new_deal("contact", pid, "EUR", 1), client)
    };
    let ok = crm
        .create_deal(&nora, &with_contact(acme.id, linked.id))
        .unwrap();
    assert_eq!(ok.contact_id, Some(linked.id));
    let own = crm
        .create_deal(&nora, &with_contact(linked.id, linked.id))
        .unwrap();
    assert_eq!(own.contact_id, Some(linked.id));
    let before = fingerprint(&t.env);
    expect_invalid(
        crm.create_deal(&nora, &with_contact(acme.id, stranger.id)),
        "contact_id",
    );
    assert_same_db(
        &before,
        &fingerprint(&t.env),
        "deal with an unrelated contact",
    );
}

#[test]
fn only_allowed_transitions_are_accepted() {
    let env = Env::new();
    let sales = env.dept("Sales", None);
    let ann = env.user("Ann", &sales);
    let crm = &env.crm;
    let sys = &env.sys;
    let names = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let p = crm
        .create_pipeline(
            sys,
            "Strict",
            &[
                StageSpec {
                    allowed_next: names(&["Qualified", "Lost"]),
                    ..StageSpec::new("Lead", 10, StageKind::Open)
                },
                StageSpec::new("Qualified", 40, StageKind::Open),
                StageSpec {
                    allowed_next: names(&["Qualified"]),
                    ..StageSpec::new("Won", 100, StageKind::Won)
                },
                StageSpec {
                    allowed_next: Some(vec![]),
                    ..StageSpec::new("Lost", 0, StageKind::Lost)
                },
            ],
        )
        .unwrap();
    assert_eq!(
        p.stage(stage(&p, "Lead")).unwrap().allowed_next,
        Some(vec![stage(&p, "Qualified"), stage(&p, "Lost")])
    );
    let other = env.pipeline("Other", &["Elsewhere"]);
    let d = crm
        .create_deal(sys, &owned(new_deal("t", p.id, "EUR", 5), ann.id))
        .unwrap();

    let before = fingerprint(&env);
    for target in [
        stage(&p, "Won"),
        stage(&p, "Lead"),
        stage(&other, "Elsewhere"),
    ] {
        expect_invalid(crm.move_deal(sys, d.id, d.version, &to(target)), "stage_id");
    }
    assert_same_db(&before, &fingerprint(&env), "refused transitions");

    let d = crm
        .move_deal(sys, d.id, d.version, &to(stage(&p, "Qualified")))
        .unwrap();
    let d = crm
        .move_deal(sys, d.id, d.version, &to(stage(&p, "Won")))
        .unwrap();
    expect_invalid(
        crm.move_deal(sys, d.id, d.version, &to(stage(&p, "Lead"))),
        "stage_id",
    );
    let d = crm
        .move_deal(sys, d.id, d.version, &to(stage(&p, "Qualified")))
        .unwrap();
    let d = crm
        .move_deal(sys, d.id, d.version, &lost(stage(&p, "Lost"), "Budget cut"))
        .unwrap();
    for target in [stage(&p, "Lead"), stage(&p, "Qualified"), stage(&p, "Won")] {
        expect_invalid(crm.move_deal(sys, d.id, d.version, &to(target)), "stage_id");
    }
    assert_eq!(crm.deal_history(sys, d.id).unwrap().len(), 5);
}

#[test]
fn a_lost_stage_needs_a_reason_and_reopening_clears_the_close() {
    let t = Team::new();
    let crm = t.crm();
    let nora = t.ctx(&t.nora);
    let d = crm
        .create_deal(&nora, &new_deal("Reopen me", t.pipeline.id, "EUR", 9_900))
        .unwrap();
    assert_eq!(d.status, StageKind::Open);
    assert_eq!(d.closed_at, None);
    assert_eq!(d.owner_id, t.nora.id, "the owner defaults to the actor");
    assert_eq!(d.department_id, t.north.id);

    let before = fingerprint(&t.env);
    for reason in [None, Some(""), Some("   ")] {
        let m = StageMove {
            stage_id: t.stage("Lost"),
            lost_reason: reason.map(str::to_string),
            at: None,
        };
        expect_invalid(crm.move_deal(&nora, d.id, d.version, &m), "lost_reason");
    }
    assert_same_db(&before, &fingerprint(&t.env), "lost without a reason");

    let lost_at = Utc::now() - Duration::minutes(5);
    let l = crm
        .move_deal(
            &nora,
            d.id,
            d.version,
            &StageMove {
                stage_id: t.stage("Lost"),
                lost_reason: Some("  Chose a competitor ".into()),
                at: Some(d.created_at.max(lost_at)),
            },
        )
        .unwrap();
    assert_eq!(l.status, StageKind::Lost);
    assert_eq!(l.lost_reason.as_deref(), Some("Chose a competitor"));
    assert_eq!(l.closed_at, Some(l.stage_entered_at));

    // Reopen: open again, no close time, no lost reason.
    let r = crm
        .move_deal(&nora, l.id, l.version, &to(t.stage("Qualified")))
        .unwrap();
    assert_eq!(r.status, StageKind::Open);
    assert_eq!(r.closed_at, None);
    assert_eq!(r.lost_reason, None);

    // Win, then reopen from won.
    let w = crm
        .move_deal(&nora, r.id, r.version, &to(t.stage("Won")))
        .unwrap();
    assert_eq!(w.status, StageKind::Won);
    assert!(w.closed_at.is_some());
    assert_eq!(w.lost_reason, None);
    let r2 = crm
        .move_deal(&nora, w.id, w.version, &to(t.stage("Proposal")))
        .unwrap();
    assert_eq!(r2.status, StageKind::Open);
    assert_eq!(r2.closed_at, None);

    // The report counts it as open, not won or lost.
    let today = Utc::now().date_naive();
    let report = crm
        .funnel_report(
            t.sys(),
            &FunnelQuery {
                pipeline_id: t.pipeline.id,
                from: today - Duration::days(3),
                to: today + Duration::days(2),
                grouping: Default::default(),
                time_zone: None,
                owner_id: None,
                department_id: None,
                reporting_currency: None,
                rate_date: None,
            },
        )
        .unwrap();
    assert_eq!(report.summary.won.count, 0);
    assert_eq!(report.summary.lost.count, 0);
    assert_eq!(report.summary.created.count, 1);
    let proposal = report
        .stages
        .iter()
        .find(|s| s.stage_id == t.stage("Proposal"))
        .unwrap();
    assert_eq!(proposal.open.count, 1);
}

// ---------------------------------------------------------------------------------------------
// Stage history
// ---------------------------------------------------------------------------------------------

#[test]
fn every_stage_change_writes_exactly_one_event() {
    let t = Team::new();
    let crm = t.crm();
    let nora = t.ctx(&t.nora);
    // Instants are stored in milliseconds.
    let created = from_ms((Utc::now() - Duration::days(30)).timestamp_millis());
    let d = crm
        .create_deal(
            &nora,
            &NewDeal {
                created_at: Some(created),
                ..new_deal("History", t.pipeline.id, "USD", 1)
            },
        )
        .unwrap();
    let h = crm.deal_history(&nora, d.id).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].from_stage_id, None);
    assert_eq!(h[0].to_stage_id, t.stage("Lead"));
    assert_eq!(h[0].at.timestamp_millis(), created.timestamp_millis());
    assert_eq!(h[0].actor_id, Some(t.nora.id));
    assert_eq!(
        d.stage_entered_at.timestamp_millis(),
        created.timestamp_millis()
    );

    // Moves at chosen times, by two actors.
    let path = [
        ("Qualified", 1, Some(t.nora.id)),
        ("Proposal", 3, None),
        ("Lead", 4, Some(t.nora.id)),
        ("Won", 9, None),
    ];
    let mut d = d;
    for (i, (name, days, actor)) in path.iter().enumerate() {
        let ctx = match actor {
            Some(_) => nora.clone(),
            None => t.sys().clone(),
        };
        let when = created + Duration::days(*days);
        let before_audit = t.env.audit_of("deal", d.id.0).len();
        let moved = crm
            .move_deal(&ctx, d.id, d.version, &to_at(t.stage(name), when))
            .unwrap();
        assert_eq!(moved.version, d.version + 1);
        assert_eq!(moved.stage_entered_at, when);
        let h = crm.deal_history(&nora, d.id).unwrap();
        assert_eq!(h.len(), i + 2, "one event per move");
        let e = h.last().unwrap();
        assert_eq!(e.from_stage_id, Some(d.stage_id));
        assert_eq!(e.to_stage_id, t.stage(name));
        assert_eq!(e.at, when);
        assert_eq!(e.actor_id, *actor);
        let audit = t.env.audit_of("deal", d.id.0);
        assert_eq!(audit.len(), before_audit + 1);
        assert_eq!(audit.last().unwrap().action, "deal.change_stage");
        d = moved;
    }
    let h = crm.deal_history(&nora, d.id).unwrap();
    assert!(h.windows(2).all(|w| w[0].at <= w[1].at), "oldest first");
    assert!(
        h.windows(2)
            .all(|w| w[1].from_stage_id == Some(w[0].to_stage_id)),
        "each event leaves the stage the previous one entered"
    );
    assert_eq!(d.closed_at, Some(created + Duration::days(9)));

    // A move dated before the deal entered its stage, or in the future: refused, nothing written.
    let before = fingerprint(&t.env);
    expect_invalid(
        crm.move_deal(
            &nora,
            d.id,
            d.version,
            &to_at(t.stage("Lead"), created + Duration::days(8)),
        ),
        "at",
    );
    expect_invalid(
        crm.move_deal(
            &nora,
            d.id,
            d.version,
            &to_at(t.stage("Lead"), Utc::now() + Duration::days(1)),
        ),
        "at",
    );
    expect_invalid(
        crm.create_deal(
            &nora,
            &NewDeal {
                created_at: Some(Utc::now() + Duration::days(1)),
                ..new_deal("Future", t.pipeline.id, "USD", 1)
            },
        ),
        "created_at",
    );
    assert_same_db(&before, &fingerprint(&t.env), "refused dated moves");

    // Others may not read the history of a deal they cannot read.
    expect_not_found(crm.deal_history(&t.ctx(&t.sam), d.id));
    assert_eq!(crm.deal_history(&t.ctx(&t.nick), d.id).unwrap(), h);
}

#[test]
fn concurrent_moves_of_one_version_let_exactly_one_through() {
    let t = Team::new();
    let crm = &t.env.crm;
    let d = t.deal("Race", &t.nora, "EUR", 10);
    let targets = ["Qualified", "Proposal", "Won", "Qualified"];
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .iter()
            .map(|name| {
                let sys = t.sys().clone();
                let target = t.stage(name);
                let (id, version) = (d.id, d.version);
                s.spawn(move || crm.move_deal(&sys, id, version, &to(target)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(ok.len(), 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, CrmError::Conflict { .. }), "{e:?}");
        }
    }
    let h = t.crm().deal_history(t.sys(), d.id).unwrap();
    assert_eq!(
        h.len(),
        2,
        "exactly one event for the one move that went through"
    );
    assert_eq!(h[1].to_stage_id, ok[0].stage_id);
    let now = t.crm().get_deal(t.sys(), d.id).unwrap();
    assert_eq!(now.version, d.version + 1);
}

// ---------------------------------------------------------------------------------------------
// Optimistic concurrency
// ---------------------------------------------------------------------------------------------

#[test]
fn stale_versions_are_refused_with_conflict_and_write_nothing() {
    let t = Team::new();
    let crm = t.crm();
    let nick = t.ctx(&t.nick);
    let d0 = t.deal("Versioned", &t.nora, "EUR", 100);
    let d1 = crm
        .update_deal(
            &nick,
            d0.id,
            d0.version,
            &DealUpdate {
                title: Patch::Set("Versioned, renamed".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(d1.version, d0.version + 1);
    assert_eq!(d1.title, "Versioned, renamed");

    let before = fingerprint(&t.env);
    let stale = d0.version;
    let e = expect_code(
        crm.update_deal(
            &nick,
            d0.id,
            stale,
            &DealUpdate {
                amount_minor: Patch::Set(5),
                ..Default::default()
            },
        ),
        5,
    );
    match e {
        CrmError::Conflict {
            entity,
            id,
            expected,
            actual,
        } => {
            assert_eq!(
                (entity, id, expected, actual),
                ("deal", d0.id.0, stale, d1.version)
            );
        }
        other => panic!("{other:?}"),
    }
    expect_conflict(crm.move_deal(&nick, d0.id, stale, &to(t.stage("Qualified"))));
    expect_conflict(crm.assign_deal(&nick, d0.id, stale, t.nick.id));
    expect_conflict(crm.delete_deal(t.sys(), d0.id, stale));
    expect_conflict(crm.move_deal(&nick, d0.id, d1.version + 1, &to(t.stage("Qualified"))));
    assert_same_db(&before, &fingerprint(&t.env), "stale writes");

    // With the current version each of them goes through.
    let d2 = crm
        .move_deal(&nick, d0.id, d1.version, &to(t.stage("Qualified")))
        .unwrap();
    let d3 = crm
        .assign_deal(&nick, d0.id, d2.version, t.nick.id)
        .unwrap();
    assert_eq!(d3.version, d2.version + 1);
    crm.delete_deal(t.sys(), d0.id, d3.version).unwrap();
    expect_not_found(crm.get_deal(t.sys(), d0.id));
    expect_not_found(crm.deal_history(t.sys(), d0.id));
}

// ---------------------------------------------------------------------------------------------
// Permissions: change stage, assign, create
// ---------------------------------------------------------------------------------------------

#[test]
fn changing_the_stage_is_a_permission_of_its_own() {
    let env = Env::new();
    let sales = env.dept("Sales", None);
    let upd = env.user("Updater", &sales);
    let mover = env.user("Mover", &sales);
    let reader = env.user("Reader", &sales);
    let stranger = env.user("Stranger", &sales);
    use Action::*;
    let deal_grants =
        |actions: &[Action], level| grants(&[EntityType::Deal], actions, level, false);
    env.give_role(
        &upd,
        "Updates",
        &deal_grants(&[Read, Update], AccessLevel::Own),
    );
    env.give_role(
        &mover,
        "Moves",
        &deal_grants(&[Read, ChangeStage], AccessLevel::Own),
    );
    env.give_role(&reader, "Reads", &deal_grants(&[Read], AccessLevel::All));
    let p = env.pipeline("Perm", &["Lead", "Qualified"]);
    let crm = &env.crm;
    let sys = &env.sys;
    let du = crm
        .create_deal(sys, &owned(new_deal("of updater", p.id, "EUR", 1), upd.id))
        .unwrap();
    let dm = crm
        .create_deal(sys, &owned(new_deal("of mover", p.id, "EUR", 1), mover.id))
        .unwrap();
    let qualified = stage(&p, "Qualified");
    let rename = DealUpdate {
        title: Patch::Set("renamed".into()),
        ..Default::default()
    };

    // Update without change-stage: the move is refused (and audited as denied), the edit works.
    let as_upd = env.ctx(&upd);
    let before = fingerprint(&env);
    expect_denied(crm.move_deal(&as_upd, du.id, du.version, &to(qualified)));
    let after = fingerprint(&env);
    for table in ["deals", "deal_stage_events"] {
        assert_eq!(before.get(table), after.get(table), "{table} changed");
    }
    let denied = env.audit_of("deal", du.id.0);
    let last = denied.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.outcome.as_str()),
        ("deal.change_stage", "denied")
    );
    assert_eq!(last.actor_id, Some(upd.id.0));
    let du = crm
        .update_deal(&as_upd, du.id, du.version, &rename)
        .unwrap();
    assert_eq!(du.title, "renamed");

    // Change-stage without update: the move works, the edit is refused.
    let as_mover = env.ctx(&mover);
    let dm = crm
        .move_deal(&as_mover, dm.id, dm.version, &to(qualified))
        .unwrap();
    assert_eq!(dm.stage_id, qualified);
    expect_denied(crm.update_deal(&as_mover, dm.id, dm.version, &rename));
    let last = env.audit_of("deal", dm.id.0).pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.outcome.as_str()),
        ("deal.update", "denied")
    );

    // Reading everything moves nothing; not reading at all hides the deal.
    let as_reader = env.ctx(&reader);
    expect_denied(crm.move_deal(&as_reader, du.id, du.version, &to(qualified)));
    expect_denied(crm.move_deal(&as_reader, dm.id, dm.version, &to(stage(&p, "Lead"))));
    let as_stranger = env.ctx(&stranger);
    expect_not_found(crm.move_deal(&as_stranger, du.id, du.version, &to(qualified)));
    expect_not_found(crm.get_deal(&as_stranger, du.id));
    assert_eq!(crm.get_deal(sys, du.id).unwrap(), du);
    assert_eq!(crm.deal_history(sys, du.id).unwrap().len(), 1);
}

#[test]
fn assigning_needs_assign_on_the_deal_and_the_new_owner_inside_the_assign_level() {
    let t = Team::new();
    let crm = t.crm();
    let d = t.deal("North deal", &t.nora, "EUR", 700);
    assert_eq!(d.department_id, t.north.id);

    // A rep has no assign right, not even on their own deal.
    let nora = t.ctx(&t.nora);
    expect_denied(crm.assign_deal(&nora, d.id, d.version, t.nick.id));

    // The North lead assigns inside North, not to South.
    let nick = t.ctx(&t.nick);
    let before = fingerprint(&t.env);
    expect_denied(crm.assign_deal(&nick, d.id, d.version, t.sam.id));
    let after = fingerprint(&t.env);
    assert_eq!(before.get("deals"), after.get("deals"));
    let last = t.env.audit_of("deal", d.id.0).pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.outcome.as_str()),
        ("deal.assign", "denied")
    );
    let d = crm.assign_deal(&nick, d.id, d.version, t.nick.id).unwrap();
    assert_eq!(d.owner_id, t.nick.id);
    assert_eq!(d.department_id, t.north.id);

    // The director (department tree) moves it to South: the stamp follows the owner.
    let diana = t.ctx(&t.diana);
    let d = crm.assign_deal(&diana, d.id, d.version, t.sam.id).unwrap();
    assert_eq!(d.owner_id, t.sam.id);
    assert_eq!(d.department_id, t.south.id);
    expect_not_found(crm.get_deal(&nick, d.id));
    assert_eq!(crm.get_deal(&t.ctx(&t.sam), d.id).unwrap(), d);
    // The lead can no longer even see it, so assigning it back is "not found".
    expect_not_found(crm.assign_deal(&nick, d.id, d.version, t.nick.id));

    // A deactivated or unknown new owner is refused.
    let gone = t.env.user("Gone", &t.south);
    crm.set_user_active(t.sys(), gone.id, false).unwrap();
    expect_invalid(
        crm.assign_deal(&diana, d.id, d.version, gone.id),
        "owner_id",
    );
    expect_invalid(
        crm.assign_deal(&diana, d.id, d.version, crm_core::ids::UserId(987_654)),
        "owner_id",
    );

    // "Open to everyone" counts for the deal as it is, never for the new owner.
    let olive = t.env.user("Olive", &t.south);
    t.env.give_role(
        &olive,
        "Open assigner",
        &[
            grant(EntityType::Deal, Action::Read, AccessLevel::Own, true),
            grant(EntityType::Deal, Action::Assign, AccessLevel::Own, true),
        ],
    );
    let open_deal = crm
        .create_deal(
            t.sys(),
            &NewDeal {
                open: true,
                ..owned(new_deal("Open deal", t.pipeline.id, "EUR", 1), t.sam.id)
            },
        )
        .unwrap();
    let as_olive = t.ctx(&olive);
    expect_denied(crm.assign_deal(&as_olive, open_deal.id, open_deal.version, t.nora.id));
    let mine = crm
        .assign_deal(&as_olive, open_deal.id, open_deal.version, olive.id)
        .unwrap();
    assert_eq!(mine.owner_id, olive.id);
    assert_eq!(mine.department_id, t.south.id);
}

#[test]
fn a_new_deal_must_lie_inside_the_create_level() {
    let t = Team::new();
    let crm = t.crm();
    let nora = t.ctx(&t.nora);
    let nick = t.ctx(&t.nick);
    let before = fingerprint(&t.env);
    expect_denied(crm.create_deal(
        &nora,
        &owned(new_deal("for Sam", t.pipeline.id, "EUR", 1), t.sam.id),
    ));
    expect_denied(crm.create_deal(
        &nick,
        &owned(new_deal("for Sam", t.pipeline.id, "EUR", 1), t.sam.id),
    ));
    // Marking it open does not help.
    expect_denied(crm.create_deal(
        &nora,
        &NewDeal {
            open: true,
            ..owned(new_deal("for Sam", t.pipeline.id, "EUR", 1), t.sam.id)
        },
    ));
    let after = fingerprint(&t.env);
    assert_eq!(before.get("deals"), after.get("deals"));
    assert_eq!(
        before.get("deal_stage_events"),
        after.get("deal_stage_events")
    );
    let d = crm
        .create_deal(
            &nick,
            &owned(new_deal("for Nora", t.pipeline.id, "EUR", 1), t.nora.id),
        )
        .unwrap();
    assert_eq!(d.owner_id, t.nora.id);
    assert_eq!(d.department_id, t.north.id);
    assert_eq!(crm.get_deal(&nora, d.id).unwrap(), d);

    // The system context has to name the owner.
    expect_invalid(
        crm.create_deal(t.sys(), &new_deal("nobody's", t.pipeline.id, "EUR", 1)),
        "owner_id",
    );
    // A client the actor cannot read is "no client".
    let sams_client = crm
        .create_client(&t.ctx(&t.sam), &NewClient::organization("Sam's client"))
        .unwrap();
    expect_invalid(
        crm.create_deal(
            &nora,
            &with_client(new_deal("x", t.pipeline.id, "EUR", 1), sams_client.id),
        ),
        "client_id",
    );
}

#[test]
fn moving_a_user_restamps_the_department_of_their_deals() {
    // DESIGN.md §4 / docs/permissions.md: "Moving a user re-stamps all their records in the same
    // transaction … so a stamp is never stale."
    let t = Team::new();
    let crm = t.crm();
    let d = t.deal("Follows Nora", &t.nora, "EUR", 100);
    assert_eq!(d.department_id, t.north.id);
    crm.move_user(t.sys(), t.nora.id, t.south.id).unwrap();
    let now = crm.get_deal(t.sys(), d.id).unwrap();
    assert_eq!(
        now.department_id, t.south.id,
        "the deal of a moved user keeps the stamp of their old department"
    );
    // The North lead no longer reaches it through the department.
    expect_not_found(crm.get_deal(&t.ctx(&t.nick), d.id));
}

#[test]
fn references_follow_a_deal_and_its_contact_link() {
    let t = Team::new();
    let crm = t.crm();
    let nora = t.ctx(&t.nora);
    let acme = crm
        .create_client(&nora, &NewClient::organization("Acme"))
        .unwrap();
    let beta = crm
        .create_client(&nora, &NewClient::organization("Beta"))
        .unwrap();
    let pat = crm.create_client(&nora, &NewClient::person("Pat")).unwrap();
    crm.link_contact(&nora, acme.id, pat.id, None).unwrap();
    let pid = t.pipeline.id;
    let d = crm
        .create_deal(
            &nora,
            &NewDeal {
                contact_id: Some(pat.id),
                ..with_client(new_deal("d", pid, "EUR", 1), acme.id)
            },
        )
        .unwrap();
    let a = crm
        .create_activity(
            &nora,
            &crm_core::model::NewActivity {
                deal_id: Some(d.id),
                ..new_activity(crm_core::model::ActivityKind::Call, "about d")
            },
        )
        .unwrap();
    assert_eq!(a.client_id, Some(acme.id));
    // Unlinking the contact person takes them off the organisation's deals too.
    crm.unlink_contact(&nora, acme.id, pat.id).unwrap();
    let d = crm.get_deal(&nora, d.id).unwrap();
    assert_eq!(d.contact_id, None);
    // Moving the deal to another client takes its activities along.
    let u = DealUpdate {
        client_id: Patch::Set(Some(beta.id)),
        ..Default::default()
    };
    crm.update_deal(&nora, d.id, d.version, &u).unwrap();
    assert_eq!(
        crm.get_activity(&nora, a.id).unwrap().client_id,
        Some(beta.id)
    );
}

#[test]
fn a_moved_deal_is_returned_exactly_as_stored() {
    // move_deal builds its answer from the change instead of reading the deal back.
    let t = Team::new();
    let crm = t.crm();
    let nora = t.ctx(&t.nora);
    let mut d = t.deal("Walks the funnel", &t.nora, "EUR", 100);
    for step in t.pipeline.stages.iter().skip(1) {
        let m = if step.kind == StageKind::Lost {
            lost(step.id, "too dear")
        } else {
            to(step.id)
        };
        let moved = crm.move_deal(&nora, d.id, d.version, &m).unwrap();
        assert_eq!(
            moved,
            crm.get_deal(&nora, d.id).unwrap(),
            "after entering {}",
            step.name
        );
        d = moved;
    }
}

// ---------------------------------------------------------------------------------------------
// Money
// ---------------------------------------------------------------------------------------------

#[test]
fn money_is_validated_at_the_boundary_and_nothing_invalid_is_written() {
    let t = Team::new();
    let crm = t.crm();
    let nora = t.ctx(&t.nora);
    let pid = t.pipeline.id;

    // Currency codes in JSON: only real ISO 4217 codes, upper case.
    let json = |currency: &str, extra: &str| {
        format!(r#"{{"title":"From JSON","pipeline_id":{pid},"currency":"{currency}"{extra}}}"#)
    };
    for bad in ["XYZ", "eur", "EURO", "", "XXX", "EU"] {
        let r: serde_json::Result<NewDeal> = serde_json::from_str(&json(bad, ""));
        assert!(r.is_err(), "{bad:?} accepted as a currency");
    }
    for bad in [
        r#","amount_minor":1.5"#,
        r#","probability_override":300"#,
        r#","probability_override":-1"#,
    ] {
        let r: serde_json::Result<NewDeal> = serde_json::from_str(&json("EUR", bad));
        assert!(r.is_err(), "{bad:?} accepted");
    }
    let ok: NewDeal = serde_json::from_str(&json("JPY", r#","amount_minor":1200"#)).unwrap();
    assert_eq!(ok.currency.as_str(), "JPY");
    assert!(serde_json::from_str::<DealUpdate>(r#"{"currency":"ABC"}"#).is_err());
    assert!(serde_json::from_str::<Money>(r#"{"amount_minor":1,"currency":"usd"}"#).is_err());
    let m: Money = serde_json::from_str(r#"{"amount_minor":-5,"currency":"KWD"}"#).unwrap();
    assert_eq!(m.currency.minor_digits(), 3);
    expect_invalid(Currency::parse("ABC", "currency"), "currency");

    // Negative amounts and probabilities above 100 are refused before anything is written.
    let before = fingerprint(&t.env);
    expect_invalid(
        crm.create_deal(&nora, &new_deal("neg", pid, "EUR", -1)),
        "amount_minor",
    );
    expect_invalid(
        crm.create_deal(
            &nora,
            &NewDeal {
                probability_override: Some(101),
                ..new_deal("prob", pid, "EUR", 1)
            },
        ),
        "probability_override",
    );
    assert_same_db(&before, &fingerprint(&t.env), "refused creates");

    let d = crm.create_deal(&nora, &ok).unwrap();
    assert_eq!(d.amount_minor, 1200);
    assert_eq!(d.probability, 10, "the stage default");
    let before = fingerprint(&t.env);
    expect_invalid(
        crm.update_deal(
            &nora,
            d.id,
            d.version,
            &DealUpdate {
                amount_minor: Patch::Set(i64::MIN),
                ..Default::default()
            },
        ),
        "amount_minor",
    );
    expect_invalid(
        crm.update_deal(
            &nora,
            d.id,
            d.version,
            &DealUpdate {
                probability_override: Patch::Set(Some(255)),
                ..Default::default()
            },
        ),
        "probability_override",
    );
    assert_same_db(&before, &fingerprint(&t.env), "refused updates");

    let d = crm
        .update_deal(
            &nora,
            d.id,
            d.version,
            &DealUpdate {
                probability_override: Patch::Set(Some(100)),
                currency: Patch::Set(cur("CHF")),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!((d.probability, d.probability_override), (100, Some(100)));
    assert_eq!(d.currency, cur("CHF"));
    let d = crm
        .update_deal(
            &nora,
            d.id,
            d.version,
            &DealUpdate {
                probability_override: Patch::Set(None),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!((d.probability, d.probability_override), (10, None));
}

#[test]
fn exchange_rates_apply_from_their_day_until_the_next_one() {
    let t = Team::new();
    let crm = t.crm();
    let sys = t.sys();
    let (usd, eur) = (cur("USD"), cur("EUR"));
    let r = |s: &str| Rate::parse(s, "rate").unwrap();
    crm.set_exchange_rate(sys, &usd, &eur, day(2024, 1, 10), r("0.9"))
        .unwrap();
    crm.set_exchange_rate(sys, &usd, &eur, day(2024, 2, 1), r("0.95"))
        .unwrap();
    crm.set_exchange_rate(sys, &usd, &eur, day(2024, 3, 1), r("0.97"))
        .unwrap();
    // A later call for the same day replaces the rate.
    crm.set_exchange_rate(sys, &usd, &eur, day(2024, 3, 1), r("0.93"))
        .unwrap();
    let on = |d| crm.exchange_rate(sys, &usd, &eur, d).unwrap();
    assert_eq!(on(day(2024, 1, 9)), None);
    assert_eq!(on(day(2024, 1, 10)), Some(r("0.9")));
    assert_eq!(on(day(2024, 1, 31)), Some(r("0.9")));
    assert_eq!(on(day(2024, 2, 1)), Some(r("0.95")));
    assert_eq!(on(day(2024, 2, 29)), Some(r("0.95")));
    assert_eq!(on(day(2024, 3, 1)), Some(r("0.93")));
    assert_eq!(on(day(2030, 1, 1)), Some(r("0.93")));
    // Pairs are directed: no inverse is made up.
    assert_eq!(
        crm.exchange_rate(sys, &eur, &usd, day(2030, 1, 1)).unwrap(),
        None
    );
    // Any user may read rates; only administrators set them.
    let nora = t.ctx(&t.nora);
    assert_eq!(
        crm.exchange_rate(&nora, &usd, &eur, day(2024, 2, 2))
            .unwrap(),
        Some(r("0.95"))
    );
    expect_code(
        crm.set_exchange_rate(&nora, &usd, &eur, day(2024, 4, 1), r("1")),
        4,
    );
    expect_invalid(
        crm.set_exchange_rate(sys, &usd, &usd, day(2024, 4, 1), r("1")),
        "quote",
    );
    let admin = t.ctx(&t.admin);
    crm.set_exchange_rate(&admin, &usd, &eur, day(2024, 4, 1), r("1"))
        .unwrap();
    assert_eq!(on(day(2024, 4, 2)), Some(r("1")));
    assert!(t
        .env
        .audit_all()
        .iter()
        .any(|e| e.action == "exchange_rate.set" && e.actor_id == Some(t.admin.id.0)));
}

#[test]
fn rates_are_exact_positive_decimals() {
    let ok = [
        ("1", 1_000_000_000),
        ("1.0845", 1_084_500_000),
        ("0.000000001", 1),
        ("161.5", 161_500_000_000),
        ("  2.5 ", 2_500_000_000),
        ("9000000000", 9_000_000_000_000_000_000),
    ];
    for (s, nanos) in ok {
        assert_eq!(Rate::parse(s, "rate").unwrap(), Rate(nanos), "{s:?}");
    }
    for s in [
        "",
        "0",
        "0.0",
        "-1",
        "+1",
        "1.2.3",
        "1e3",
        ".5",
        "abc",
        "1,5",
        "1.0000000001",
        "10000000000",
        "0.0000000001",
        "NaN",
        "∞",
    ] {
        expect_invalid(Rate::parse(s, "rate"), "rate");
    }
    // Serialised as the shortest decimal; parsed back from it.
    let r = Rate::parse("1.0845", "rate").unwrap();
    assert_eq!(serde_json::to_string(&r).unwrap(), r#""1.0845""#);
    assert_eq!(serde_json::from_str::<Rate>(r#""1.0845""#).unwrap(), r);
    assert_eq!(
        serde_json::to_string(&Rate(3_000_000_000)).unwrap(),
        r#""3""#
    );
    assert!(serde_json::from_str::<Rate>(r#""-2""#).is_err());

    // Conversions round half away from zero, between currencies with different minor units.
    let (eur, jpy, kwd, usd) = (cur("EUR"), cur("JPY"), cur("KWD"), cur("USD"));
    let half = Rate::parse("0.5", "r").unwrap();
    assert_eq!(half.convert(1, &usd, &eur), Some(1));
    assert_eq!(half.convert(-1, &usd, &eur), Some(-1));
    assert_eq!(half.convert(2, &usd, &eur), Some(1));
    assert_eq!(
        Rate::parse("161.5", "r")
            .unwrap()
            .convert(10_000, &eur, &jpy),
        Some(16_150)
    );
    assert_eq!(
        Rate::parse("0.0062", "r")
            .unwrap()
            .convert(1_000, &jpy, &eur),
        Some(620)
    );
    // 1 EUR = 0.333 KWD: EUR 10.00 = KWD 3.330; JPY 100 at 0.002 KWD = KWD 0.200.
    assert_eq!(
        Rate::parse("0.333", "r")
            .unwrap()
            .convert(1_000, &eur, &kwd),
        Some(3_330)
    );
    assert_eq!(
        Rate::parse("0.002", "r").unwrap().convert(100, &jpy, &kwd),
        Some(200)
    );
}

#[test]
fn a_conversion_that_overflows_is_none() {
    // `Rate::convert`: "`None` on overflow". The intermediate product amount × rate × 10^digits
    // is computed in i128 without a check, so a large amount at a large rate panics (debug) or
    // wraps (release) instead.
    let (eur, jpy) = (cur("EUR"), cur("JPY"));
    let big = Rate::parse("9000000000", "r").unwrap();
    assert_eq!(
        big.convert(i64::MAX / 1_000, &eur, &jpy),
        None,
        "fits i128, not i64"
    );
    let r = std::panic::catch_unwind(|| big.convert(i64::MAX, &jpy, &eur));
    assert_eq!(r.ok(), Some(None), "i64::MAX JPY at 9e9 EUR per JPY");
}
