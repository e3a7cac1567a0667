//! Automation rules and `run_due` through the public API: client-idle, deal-rotting and
//! stage-entered rules each create the right task for the right owner exactly once per occasion;
//! `run_due` needs the system context and is audited.

mod funnel_common;

use chrono::{DateTime, Duration, Utc};
use crm_core::ids::{RuleId, UserId};
use crm_core::model::{
    Activity, ActivityKind, AutomationRule, NewActivity, NewAutomationRule, NewClient, NewDeal,
    RuleTrigger, StageKind, StageSpec,
};
use crm_core::{CrmError, Ctx};
use funnel_common::*;

fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    from_ms(t.timestamp_millis())
}

/// Pending rule-made tasks assigned to `user`, oldest due first.
fn rule_tasks(t: &Team, user: UserId) -> Vec<Activity> {
    t.crm()
        .overdue_activities(t.sys(), user, Utc::now() + Duration::days(100_000))
        .unwrap()
        .into_iter()
        .filter(|a| a.rule_id.is_some())
        .collect()
}

fn rule(t: &Team, trigger: RuleTrigger, subject: &str, due_in_days: u32) -> AutomationRule {
    t.crm()
        .create_automation_rule(
            t.sys(),
            &NewAutomationRule {
                trigger,
                task_subject: subject.into(),
                due_in_days,
            },
        )
        .unwrap()
}

/// Checks the shape of a task a rule made.
#[track_caller]
fn assert_task(
    a: &Activity,
    rule: &AutomationRule,
    owner: &crm_core::model::User,
    run_at: DateTime<Utc>,
) {
    assert_eq!(a.kind, ActivityKind::Task);
    assert_eq!(a.subject, rule.task_subject);
    assert_eq!(a.rule_id, Some(rule.id.0));
    assert_eq!(a.assignee_id, owner.id);
    assert_eq!(a.department_id, owner.department_id);
    assert_eq!(a.done_at, None);
    assert_eq!(
        a.due_at,
        Some(run_at + Duration::days(i64::from(rule.due_in_days)))
    );
}

fn created_by(report: &crm_core::model::AutomationReport, rule: RuleId) -> u32 {
    report
        .created
        .iter()
        .find(|c| c.rule_id == rule)
        .map(|c| c.tasks)
        .unwrap_or(0)
}

#[test]
fn a_client_idle_rule_makes_one_task_for_the_owner_per_idle_spell() {
    let t = Team::new();
    let crm = t.crm();
    let (nora, sam) = (t.ctx(&t.nora), t.ctx(&t.sam));
    let t0 = ms(Utc::now());
    let acme = crm
        .create_client(&nora, &NewClient::organization("Acme"))
        .unwrap();
    let cedar = crm
        .create_client(&sam, &NewClient::organization("Cedar"))
        .unwrap();
    let gone = crm
        .create_client(&nora, &NewClient::organization("Archived"))
        .unwrap();
    crm.archive_client(&nora, gone.id, gone.version).unwrap();
    let idle = rule(
        &t,
        RuleTrigger::ClientIdle { days: 30 },
        "Call the client again",
        2,
    );

    // Not idle yet.
    let r = crm.run_due(t.sys(), t0 + Duration::days(29)).unwrap();
    assert_eq!(r.total, 0);

    let run1 = t0 + Duration::days(31);
    let r = crm.run_due(t.sys(), run1).unwrap();
    assert_eq!((r.total, created_by(&r, idle.id)), (2, 2));
    let nora_tasks = rule_tasks(&t, t.nora.id);
    let sam_tasks = rule_tasks(&t, t.sam.id);
    assert_eq!(nora_tasks.len(), 1, "the archived client is left alone");
    assert_eq!(sam_tasks.len(), 1);
    assert_task(&nora_tasks[0], &idle, &t.nora, run1);
    assert_eq!(
        (nora_tasks[0].client_id, nora_tasks[0].deal_id),
        (Some(acme.id), None)
    );
    assert_task(&sam_tasks[0], &idle, &t.sam, run1);
    assert_eq!(sam_tasks[0].client_id, Some(cedar.id));

    // Still idle later: the rule's own task does not end the spell, and it is not repeated.
    for later in [run1, t0 + Duration::days(62)] {
        assert_eq!(crm.run_due(t.sys(), later).unwrap().total, 0);
    }
    assert_eq!(rule_tasks(&t, t.nora.id).len(), 1);

    // A call ends the spell; 30 days after it a new one starts.
    crm.create_activity(
        &nora,
        &NewActivity {
            client_id: Some(acme.id),
            done_at: Some(t0 + Duration::days(40)),
            ..new_activity(ActivityKind::Call, "Caught up")
        },
    )
    .unwrap();
    assert_eq!(
        crm.run_due(t.sys(), t0 + Duration::days(65)).unwrap().total,
        0
    );
    let run2 = t0 + Duration::days(71);
    let r = crm.run_due(t.sys(), run2).unwrap();
    assert_eq!(r.total, 1);
    let nora_tasks = rule_tasks(&t, t.nora.id);
    assert_eq!(nora_tasks.len(), 2);
    assert_task(&nora_tasks[1], &idle, &t.nora, run2);
    assert_eq!(nora_tasks[1].client_id, Some(acme.id));
    assert_eq!(crm.run_due(t.sys(), run2).unwrap().total, 0);
}

#[test]
fn a_deal_rotting_rule_makes_one_task_per_stay_past_the_stage_limit() {
    let t = Team::new();
    let crm = t.crm();
    let sys = t.sys();
    let p = crm
        .create_pipeline(
            sys,
            "Rotting",
            &[
                StageSpec::new("Lead", 10, StageKind::Open),
                StageSpec {
                    rotting_days: Some(14),
                    ..StageSpec::new("Qualified", 30, StageKind::Open)
                },
                StageSpec::new("Won", 100, StageKind::Won),
                StageSpec::new("Lost", 0, StageKind::Lost),
            ],
        )
        .unwrap();
    let qualified = stage(&p, "Qualified");
    let t0 = ms(Utc::now());
    let acme = crm
        .create_client(&t.ctx(&t.nora), &NewClient::organization("Acme"))
        .unwrap();
    let mk = |title: &str, owner: &crm_core::model::User, days_ago: i64, in_stage: Option<&str>| {
        crm.create_deal(
            sys,
            &NewDeal {
                stage_id: in_stage.map(|s| stage(&p, s)),
                created_at: Some(t0 - Duration::days(days_ago)),
                ..owned(new_deal(title, p.id, "EUR", 100), owner.id)
            },
        )
        .unwrap()
    };
    let stale = crm
        .create_deal(
            sys,
            &NewDeal {
                stage_id: Some(qualified),
                created_at: Some(t0 - Duration::days(20)),
                client_id: Some(acme.id),
                ..owned(new_deal("stale", p.id, "EUR", 100), t.nora.id)
            },
        )
        .unwrap();
    let _no_limit = mk("no limit", &t.sam, 100, Some("Lead"));
    let fresh = mk("fresh", &t.sam, 10, Some("Qualified"));
    let closed = mk("closed", &t.sam, 30, Some("Qualified"));
    crm.move_deal(
        sys,
        closed.id,
        closed.version,
        &to_at(stage(&p, "Won"), t0 - Duration::days(20)),
    )
    .unwrap();
    let rotting = rule(&t, RuleTrigger::DealRotting, "Deal is stuck", 1);

    let r = crm.run_due(sys, t0).unwrap();
    assert_eq!(r.total, 1);
    let tasks = rule_tasks(&t, t.nora.id);
    assert_eq!(tasks.len(), 1);
    assert_task(&tasks[0], &rotting, &t.nora, t0);
    assert_eq!(
        (tasks[0].deal_id, tasks[0].client_id),
        (Some(stale.id), Some(acme.id))
    );
    assert!(rule_tasks(&t, t.sam.id).is_empty());

    // Five days on, the fresh deal rots too; the stale one is not repeated.
    let r = crm.run_due(sys, t0 + Duration::days(5)).unwrap();
    assert_eq!(r.total, 1);
    let sam_tasks = rule_tasks(&t, t.sam.id);
    assert_eq!(sam_tasks.len(), 1);
    assert_eq!(
        (sam_tasks[0].deal_id, sam_tasks[0].client_id),
        (Some(fresh.id), None)
    );

    // Out of the stage and back in: a new stay, which rots again later.
    let s = crm.get_deal(sys, stale.id).unwrap();
    let s = crm
        .move_deal(sys, s.id, s.version, &to(stage(&p, "Lead")))
        .unwrap();
    crm.move_deal(sys, s.id, s.version, &to(qualified)).unwrap();
    assert_eq!(crm.run_due(sys, t0 + Duration::days(10)).unwrap().total, 0);
    let r = crm.run_due(sys, t0 + Duration::days(15)).unwrap();
    assert_eq!(r.total, 1);
    assert_eq!(rule_tasks(&t, t.nora.id).len(), 2);
    assert_eq!(rule_tasks(&t, t.sam.id).len(), 1);
}

#[test]
fn a_stage_entered_rule_makes_a_task_for_the_deal_owner_for_entries_after_it_was_created() {
    let t = Team::new();
    let crm = t.crm();
    let sys = t.sys();
    let proposal = t.stage("Proposal");
    let early = crm
        .create_deal(
            sys,
            &NewDeal {
                created_at: Some(Utc::now() - Duration::days(10)),
                ..owned(
                    new_deal("entered before the rule", t.pipeline.id, "EUR", 10),
                    t.nora.id,
                )
            },
        )
        .unwrap();
    let early = crm
        .move_deal(
            sys,
            early.id,
            early.version,
            &to_at(proposal, Utc::now() - Duration::days(5)),
        )
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let entered = rule(
        &t,
        RuleTrigger::StageEntered { stage_id: proposal },
        "Send the proposal",
        3,
    );
    std::thread::sleep(std::time::Duration::from_millis(5));
    let r = crm.run_due(sys, Utc::now()).unwrap();
    assert_eq!(
        r.total, 0,
        "an entry before the rule's creation does not count"
    );

    // The lead moves Nora's deal: the task is Nora's, the owner's.
    let d = t.deal("entered after", &t.nora, "EUR", 10);
    let d = crm
        .move_deal(&t.ctx(&t.nick), d.id, d.version, &to(proposal))
        .unwrap();
    let other = t.deal("elsewhere", &t.sam, "EUR", 10);
    crm.move_deal(sys, other.id, other.version, &to(t.stage("Qualified")))
        .unwrap();
    let run = ms(Utc::now() + Duration::seconds(1));
    let r = crm.run_due(sys, run).unwrap();
    assert_eq!((r.total, created_by(&r, entered.id)), (1, 1));
    let tasks = rule_tasks(&t, t.nora.id);
    assert_eq!(tasks.len(), 1);
    assert_task(&tasks[0], &entered, &t.nora, run);
    assert_eq!(tasks[0].deal_id, Some(d.id));
    assert!(rule_tasks(&t, t.nick.id).is_empty());
    assert!(rule_tasks(&t, t.sam.id).is_empty());

    // Each entry is one occasion: leaving and re-entering makes another task.
    let e = crm
        .move_deal(sys, early.id, early.version, &to(t.stage("Lead")))
        .unwrap();
    crm.move_deal(sys, e.id, e.version, &to(proposal)).unwrap();
    let run2 = ms(Utc::now() + Duration::seconds(2));
    assert_eq!(crm.run_due(sys, run2).unwrap().total, 1);
    assert_eq!(crm.run_due(sys, run2).unwrap().total, 0);
    let tasks = rule_tasks(&t, t.nora.id);
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[1].deal_id, Some(early.id));
}

#[test]
fn running_twice_creates_nothing_new() {
    let t = Team::new();
    let crm = t.crm();
    let sys = t.sys();
    let t0 = ms(Utc::now());
    let nora = t.ctx(&t.nora);
    for i in 0..3 {
        crm.create_client(&nora, &NewClient::organization(format!("Client {i}")))
            .unwrap();
    }
    let p = crm
        .create_pipeline(
            sys,
            "Rot",
            &[
                StageSpec {
                    rotting_days: Some(1),
                    ..StageSpec::new("Lead", 10, StageKind::Open)
                },
                StageSpec::new("Next", 50, StageKind::Open),
                StageSpec::new("Won", 100, StageKind::Won),
            ],
        )
        .unwrap();
    rule(&t, RuleTrigger::ClientIdle { days: 1 }, "idle", 1);
    rule(&t, RuleTrigger::DealRotting, "rotting", 1);
    rule(
        &t,
        RuleTrigger::StageEntered {
            stage_id: stage(&p, "Next"),
        },
        "entered",
        1,
    );
    for i in 0..4 {
        let d = crm
            .create_deal(
                sys,
                &NewDeal {
                    created_at: Some(t0 - Duration::days(3)),
                    ..owned(new_deal(&format!("Deal {i}"), p.id, "EUR", 1), t.sam.id)
                },
            )
            .unwrap();
        if i % 2 == 0 {
            crm.move_deal(sys, d.id, d.version, &to(stage(&p, "Next")))
                .unwrap();
        }
    }
    let run = t0 + Duration::days(2);
    let first = crm.run_due(sys, run).unwrap();
    // 3 idle clients, 2 deals rotting in Lead, 2 entries into Next.
    assert_eq!(first.total, 7, "{first:?}");
    assert_eq!(
        first.created.iter().map(|c| c.tasks).sum::<u32>(),
        first.total
    );
    let before = fingerprint(&t.env);
    let second = crm.run_due(sys, run).unwrap();
    assert_eq!(second.total, 0);
    assert!(second.created.is_empty());
    let after = fingerprint(&t.env);
    for table in ["activities", "automation_runs", "deals", "clients"] {
        assert_eq!(
            before.get(table),
            after.get(table),
            "{table} changed on the second run"
        );
    }
    assert_eq!(crm.run_due(sys, run + Duration::hours(1)).unwrap().total, 0);
}

#[test]
fn run_due_needs_the_system_context() {
    let t = Team::new();
    let crm = t.crm();
    crm.create_client(&t.ctx(&t.nora), &NewClient::organization("Acme"))
        .unwrap();
    rule(&t, RuleTrigger::ClientIdle { days: 1 }, "idle", 1);
    let later = Utc::now() + Duration::days(5);
    let before = fingerprint(&t.env);
    for user in [&t.admin, &t.diana, &t.nora] {
        let e = expect_code(crm.run_due(&t.ctx(user), later), 4);
        assert!(matches!(e, CrmError::AdminRequired { .. }), "{e:?}");
    }
    let after = fingerprint(&t.env);
    for table in ["activities", "automation_runs"] {
        assert_eq!(before.get(table), after.get(table));
    }
    assert_eq!(crm.run_due(t.sys(), later).unwrap().total, 1);
}

#[test]
fn a_refused_run_due_is_audited_as_denied() {
    // docs/permissions.md: "Every denied write is audited with outcome `denied`".
    let t = Team::new();
    let crm = t.crm();
    let before = t.env.audit_all().len();
    assert!(crm.run_due(&t.ctx(&t.admin), Utc::now()).is_err());
    let entries = t.env.audit_all();
    let new: Vec<_> = entries[before..].iter().collect();
    assert!(
        new.iter()
            .any(|e| e.outcome == "denied" && e.actor_id == Some(t.admin.id.0)),
        "the refused run left no denied entry in the audit log: {new:?}"
    );
}

#[test]
fn the_run_and_every_task_are_audited() {
    let t = Team::new();
    let crm = t.crm();
    let nightly: Ctx = crm.system_context("nightly automation").unwrap();
    crm.create_client(&t.ctx(&t.nora), &NewClient::organization("Acme"))
        .unwrap();
    crm.create_client(&t.ctx(&t.sam), &NewClient::organization("Cedar"))
        .unwrap();
    rule(&t, RuleTrigger::ClientIdle { days: 7 }, "idle", 1);
    let start = t.env.audit_all().len();
    let when = ms(Utc::now() + Duration::days(8));
    let r = crm.run_due(&nightly, when).unwrap();
    assert_eq!(r.total, 2);
    let again = crm.run_due(&nightly, when).unwrap();
    assert_eq!(again.total, 0);
    let entries = t.env.audit_all();
    let new = &entries[start..];
    let runs: Vec<_> = new
        .iter()
        .filter(|e| e.action == "automation.run")
        .collect();
    assert_eq!(
        runs.len(),
        2,
        "each run is audited, even one that created nothing"
    );
    for (e, total) in runs.iter().zip([2, 0]) {
        assert_eq!(e.actor_kind, "system");
        assert_eq!(e.actor_note.as_deref(), Some("nightly automation"));
        assert_eq!(e.outcome, "ok");
        let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
        assert_eq!(detail["created"], serde_json::json!(total), "{detail}");
    }
    let tasks: Vec<_> = new
        .iter()
        .filter(|e| e.action == "activity.create" && e.outcome == "ok")
        .collect();
    assert_eq!(tasks.len(), 2);
    assert!(
        tasks
            .iter()
            .all(|e| e.actor_kind == "system"
                && e.actor_note.as_deref() == Some("nightly automation"))
    );
    assert!(crm.verify_audit(t.sys()).unwrap().ok);
}

#[test]
fn inactive_rules_and_deactivated_owners_wait_for_a_later_run() {
    let t = Team::new();
    let crm = t.crm();
    let sys = t.sys();
    crm.create_client(&t.ctx(&t.nora), &NewClient::organization("Acme"))
        .unwrap();
    crm.create_client(&t.ctx(&t.sam), &NewClient::organization("Cedar"))
        .unwrap();
    let idle = rule(&t, RuleTrigger::ClientIdle { days: 2 }, "idle", 1);
    let later = Utc::now() + Duration::days(3);

    crm.set_automation_rule_active(sys, idle.id, false).unwrap();
    assert!(!crm.automation_rules(sys).unwrap()[0].active);
    assert_eq!(crm.run_due(sys, later).unwrap().total, 0);

    crm.set_automation_rule_active(sys, idle.id, true).unwrap();
    crm.set_user_active(sys, t.sam.id, false).unwrap();
    assert_eq!(
        crm.run_due(sys, later).unwrap().total,
        1,
        "only Nora's client"
    );
    assert!(rule_tasks(&t, t.sam.id).is_empty());

    crm.set_user_active(sys, t.sam.id, true).unwrap();
    assert_eq!(
        crm.run_due(sys, later).unwrap().total,
        1,
        "Sam's client, retried"
    );
    assert_eq!(rule_tasks(&t, t.sam.id).len(), 1);
    assert_eq!(crm.run_due(sys, later).unwrap().total, 0);

    crm.delete_automation_rule(sys, idle.id).unwrap();
    assert!(crm.automation_rules(sys).unwrap().is_empty());
    expect_not_found(crm.delete_automation_rule(sys, idle.id));
    expect_not_found(crm.set_automation_rule_active(sys, idle.id, true));
}

#[test]
fn rules_are_validated_and_only_administrators_manage_them() {
    let t = Team::new();
    let crm = t.crm();
    let sys = t.sys();
    let new = |trigger, subject: &str, due_in_days| NewAutomationRule {
        trigger,
        task_subject: subject.into(),
        due_in_days,
    };
    expect_code(
        crm.create_automation_rule(&t.ctx(&t.diana), &new(RuleTrigger::DealRotting, "x", 1)),
        4,
    );
    expect_invalid(
        crm.create_automation_rule(sys, &new(RuleTrigger::ClientIdle { days: 0 }, "x", 1)),
        "trigger.days",
    );
    expect_invalid(
        crm.create_automation_rule(sys, &new(RuleTrigger::ClientIdle { days: 3651 }, "x", 1)),
        "trigger.days",
    );
    expect_invalid(
        crm.create_automation_rule(sys, &new(RuleTrigger::DealRotting, "x", 366)),
        "due_in_days",
    );
    expect_invalid(
        crm.create_automation_rule(sys, &new(RuleTrigger::DealRotting, "  ", 1)),
        "task_subject",
    );
    expect_invalid(
        crm.create_automation_rule(
            sys,
            &new(
                RuleTrigger::StageEntered {
                    stage_id: crm_core::ids::StageId(424_242),
                },
                "x",
                1,
            ),
        ),
        "trigger.stage_id",
    );
    assert!(crm.automation_rules(sys).unwrap().is_empty());
    let r = crm
        .create_automation_rule(&t.ctx(&t.admin), &new(RuleTrigger::DealRotting, "ok", 0))
        .unwrap();
    assert_eq!(
        crm.automation_rules(&t.ctx(&t.nora)).unwrap(),
        vec![r.clone()]
    );
    // JSON: the due days default to one.
    let parsed: NewAutomationRule =
        serde_json::from_str(r#"{"trigger":{"kind":"client_idle","days":5},"task_subject":"s"}"#)
            .unwrap();
    assert_eq!(parsed.due_in_days, 1);
    assert_eq!(parsed.trigger, RuleTrigger::ClientIdle { days: 5 });
}
