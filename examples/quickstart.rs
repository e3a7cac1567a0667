//! Quickstart: creates a database file, fills it with a small organisation (departments,
//! managers, roles) and clients, shows what each manager can see and why, then runs deals
//! through a pipeline and prints the funnel report (and writes it as an SVG chart).
//!
//! Run with `cargo run --example quickstart`. The database is written to
//! `target/quickstart/crm.db` (replaced on every run); pass another path as the first argument.

use crm_core::access::{AccessLevel, Action, EntityType, Grant};
use crm_core::model::{
    ClientQuery, CustomFieldType, Email, NewClient, NewCustomField, NewDepartment, NewUser, Phone,
    RoleSubject, SearchQuery,
};
use crm_core::{Crm, Ctx, Result};
use std::path::PathBuf;

/// The same level for every listed action on clients, deals and activities.
fn grants(level: AccessLevel, include_open: bool, actions: &[Action]) -> Vec<Grant> {
    EntityType::ALL
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
        &grants(AccessLevel::Own, true, &[Read, Create, Update, ChangeStage]),
    )?;
    let lead = crm.create_role(
        &sys,
        "Team lead",
        &grants(
            AccessLevel::Department,
            true,
            &[Read, Create, Update, Assign, ChangeStage],
        ),
    )?;
    let director = crm.create_role(
        &sys,
        "Sales director",
        &grants(
            AccessLevel::DepartmentTree,
            true,
            &[Read, Create, Update, Delete, Export, Assign, ChangeStage],
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

    funnel_demo(&crm, &sys, &path, &[&diana, &nick, &nora, &sam], acme.id)?;

    let report = crm.verify_audit(&sys)?;
    println!(
        "Audit log: {} entries, chain intact: {}",
        report.entries, report.ok
    );
    Ok(())
}

/// Deals moving through a pipeline, an automation rule, a timeline and the funnel report.
fn funnel_demo(
    crm: &Crm,
    sys: &Ctx,
    db_path: &std::path::Path,
    team: &[&crm_core::model::User],
    acme: crm_core::ids::ClientId,
) -> Result<()> {
    use chrono::{Datelike, Duration, Utc};
    use crm_core::model::{
        ActivityKind, FunnelQuery, NewActivity, NewAutomationRule, NewDeal, RequiredField,
        RuleTrigger, StageKind, StageMove, StageSpec, TimelineItem,
    };
    use crm_core::money::{Currency, Rate};
    use crm_core::period::Grouping;

    let pipeline = crm.create_pipeline(
        sys,
        "New business",
        &[
            StageSpec::new("Lead", 10, StageKind::Open),
            StageSpec {
                rotting_days: Some(14),
                ..StageSpec::new("Qualified", 30, StageKind::Open)
            },
            StageSpec {
                required_fields: vec![RequiredField::Amount, RequiredField::ExpectedCloseDate],
                ..StageSpec::new("Proposal", 60, StageKind::Open)
            },
            StageSpec::new("Won", 100, StageKind::Won),
            StageSpec::new("Lost", 0, StageKind::Lost),
        ],
    )?;
    let stage = |name: &str| {
        pipeline
            .stages
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.id)
    };
    let eur = Currency::parse("EUR", "currency")?;
    let usd = Currency::parse("USD", "currency")?;
    let now = Utc::now();
    let today = now.date_naive();
    crm.set_exchange_rate(
        sys,
        &usd,
        &eur,
        today - Duration::days(30),
        Rate::parse("0.92", "rate")?,
    )?;

    // Each manager brings in deals over the last five months; some move on, some close.
    let mut n = 0i64;
    for (i, user) in team.iter().enumerate() {
        let ctx = crm.user_context(user.id)?;
        for k in 0..6i64 {
            n += 1;
            let created = now - Duration::days(150 - 23 * k - 5 * i as i64);
            let deal = crm.create_deal(
                &ctx,
                &NewDeal {
                    client_id: (k == 0 && user.name.starts_with("Nora")).then_some(acme),
                    amount_minor: 250_000 + 125_000 * ((n * 7) % 9),
                    expected_close_date: Some(today + Duration::days(10 * k)),
                    created_at: Some(created),
                    ..NewDeal::new(
                        format!(
                            "{} deal {}",
                            user.name.split(' ').next().unwrap_or("Team"),
                            k + 1
                        ),
                        pipeline.id,
                        if k == 5 { usd.clone() } else { eur.clone() },
                    )
                },
            )?;
            // Walk it forward: a third win, a sixth lose, the rest stay open at various stages.
            let path: &[&str] = match (n % 6, k) {
                (0 | 3, _) => &["Qualified", "Proposal", "Won"],
                (1, _) => &["Qualified", "Lost"],
                (2, _) => &["Qualified", "Proposal"],
                (4, _) => &["Qualified"],
                _ => &[],
            };
            let mut d = deal;
            for (step, name) in path.iter().enumerate() {
                let at = created + Duration::days(4 * (step as i64 + 1));
                if at > now {
                    break;
                }
                let lost_reason = (*name == "Lost").then(|| "Price too high".to_string());
                let Some(stage_id) = stage(name) else {
                    continue;
                };
                d = crm.move_deal(
                    &ctx,
                    d.id,
                    d.version,
                    &StageMove {
                        stage_id,
                        lost_reason,
                        at: Some(at),
                    },
                )?;
            }
        }
    }

    let nora = crm.user_context(team[2].id)?;
    crm.create_activity(
        &nora,
        &NewActivity {
            body: Some("Wants a second quote by Friday".into()),
            client_id: Some(acme),
            done_at: Some(now),
            ..NewActivity::new(ActivityKind::Call, "Discussed the proposal with the CFO")
        },
    )?;
    crm.create_automation_rule(
        sys,
        &NewAutomationRule {
            trigger: RuleTrigger::DealRotting,
            task_subject: "Deal is stuck: call the client".into(),
            due_in_days: 1,
        },
    )?;
    let run = crm.run_due(sys, now)?;
    let again = crm.run_due(sys, now)?;
    println!(
        "\nAutomation: {} follow-up tasks created; a second run created {}.",
        run.total, again.total
    );

    let timeline = crm.client_timeline(&nora, acme, &Default::default())?;
    println!(
        "Acme timeline as Nora sees it ({} entries):",
        timeline.items.len()
    );
    for e in timeline.items.iter().take(6) {
        let what = match &e.item {
            TimelineItem::Activity { activity } => {
                format!("{:?}: {}", activity.kind, activity.subject)
            }
            TimelineItem::StageChange { event, deal_title } => {
                format!("{deal_title} entered stage {}", event.to_stage_id)
            }
            TimelineItem::Change { entry } => format!("{} by {}", entry.action, entry.actor_kind),
        };
        println!("  {}  {what}", e.at.format("%Y-%m-%d %H:%M"));
    }

    let first = today.with_day(1).unwrap_or(today);
    let from = first
        .checked_sub_months(chrono::Months::new(5))
        .unwrap_or(first);
    let to = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    let query = FunnelQuery {
        pipeline_id: pipeline.id,
        from,
        to,
        grouping: Grouping::Month,
        time_zone: Some("Europe/Berlin".into()),
        owner_id: None,
        department_id: None,
        reporting_currency: Some(eur.clone()),
        rate_date: None,
    };
    for user in [team[0], team[3]] {
        let ctx = crm.user_context(user.id)?;
        let report = crm.funnel_report(&ctx, &query)?;
        println!(
            "\nFunnel for {} ({} to {}, {}):",
            user.name, from, to, report.time_zone
        );
        for s in report.stages.iter().filter(|s| s.kind == StageKind::Open) {
            let total = s
                .open
                .converted
                .as_ref()
                .map(|m| m.amount_minor / 100)
                .unwrap_or(0);
            println!(
                "  {:<10} {:>3} open  EUR {:>9}",
                s.name, s.open.count, total
            );
        }
        let won = report
            .summary
            .won
            .converted
            .as_ref()
            .map(|m| m.amount_minor / 100)
            .unwrap_or(0);
        println!(
            "  won {} (EUR {won}), lost {}, win rate {}, previous period won {}",
            report.summary.won.count,
            report.summary.lost.count,
            report
                .summary
                .win_rate
                .map(|r| format!("{:.0}%", r * 100.0))
                .unwrap_or_else(|| "-".into()),
            report.previous.won.count
        );
        for c in &report.conversion {
            let rate = c
                .rate
                .map(|r| format!("{:.0}%", r * 100.0))
                .unwrap_or_else(|| "-".into());
            let name = pipeline
                .stage(c.from_stage_id)
                .map(|s| s.name.as_str())
                .unwrap_or("?");
            println!(
                "  went on from {name}: {} of {} ({rate})",
                c.advanced, c.reached
            );
        }
        if let Some(top) = report.by_manager.first() {
            println!(
                "  top manager: {} with {} won deals",
                top.name, top.won.count
            );
        }
        if user.id == team[0].id {
            let svg_path = db_path.with_file_name("funnel.svg");
            std::fs::write(&svg_path, report.to_svg())
                .map_err(|e| crm_core::CrmError::invalid("svg", e.to_string()))?;
            println!("  chart written to {}", svg_path.display());
        }
    }
    Ok(())
}
