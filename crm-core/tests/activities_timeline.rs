//! Activities and the client timeline through the public API: reminders and overdue lists,
//! linking rules, permissions, and the timeline's order, keyset pages and per-item permissions.

mod funnel_common;

use chrono::{DateTime, Duration, Utc};
use crm_core::access::{AccessLevel, Action, EntityType};
use crm_core::ids::{ActivityId, ClientId, DealId};
use crm_core::model::{
    Activity, ActivityKind, ActivityUpdate, ClientUpdate, NewActivity, NewClient, NewDeal, Patch,
    TimelineEntry, TimelineItem,
};
use crm_core::service::timeline::TimelineQuery;
use crm_core::Ctx;
use funnel_common::*;
use std::collections::BTreeSet;

fn task(subject: &str, client: Option<ClientId>, deal: Option<DealId>) -> NewActivity {
    NewActivity {
        client_id: client,
        deal_id: deal,
        ..new_activity(ActivityKind::Task, subject)
    }
}

fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    from_ms(t.timestamp_millis())
}

fn ids(list: &[Activity]) -> Vec<ActivityId> {
    list.iter().map(|a| a.id).collect()
}

// ---------------------------------------------------------------------------------------------
// Reminders and overdue activities
// ---------------------------------------------------------------------------------------------

#[test]
fn reminders_come_due_at_their_time_and_leave_when_done() {
    let t = Team::new();
    let crm = t.crm();
    let nora = t.ctx(&t.nora);
    let sam = t.ctx(&t.sam);
    let now = ms(Utc::now());
    let acme = crm
        .create_client(&nora, &NewClient::organization("Acme"))
        .unwrap();
    let mk = |ctx: &Ctx, subject: &str, remind: Option<i64>, due: Option<i64>, done: bool| {
        let client = if ctx == &nora {
            acme.id
        } else {
            crm.create_client(ctx, &NewClient::organization(format!("{subject} Ltd")))
                .unwrap()
                .id
        };
        crm.create_activity(
            ctx,
            &NewActivity {
                remind_at: remind.map(|m| now + Duration::minutes(m)),
                due_at: due.map(|m| now + Duration::minutes(m)),
                done_at: done.then_some(now - Duration::minutes(1)),
                ..task(subject, Some(client), None)
            },
        )
        .unwrap()
    };
    let a = mk(&nora, "two hours ago", Some(-120), Some(600), false);
    let b = mk(&nora, "one hour ago", Some(-60), None, false);
    let exact = mk(&nora, "right now", Some(0), Some(0), false);
    let later = mk(&nora, "in an hour", Some(60), Some(120), false);
    let _done = mk(&nora, "already done", Some(-30), Some(-10), true);
    let _none = mk(&nora, "no reminder", None, Some(-10), false);
    let sams = mk(&sam, "Sam's", Some(-90), None, false);

    assert_eq!(
        ids(&crm.due_reminders(&nora, now).unwrap()),
        [a.id, b.id, exact.id]
    );
    assert_eq!(
        ids(&crm
            .due_reminders(&nora, now + Duration::minutes(61))
            .unwrap()),
        [a.id, b.id, exact.id, later.id]
    );
    assert!(crm
        .due_reminders(&nora, now - Duration::minutes(121))
        .unwrap()
        .is_empty());
    // Everyone sees the reminders of what they may read, soonest first.
    assert_eq!(ids(&crm.due_reminders(&sam, now).unwrap()), [sams.id]);
    assert_eq!(
        ids(&crm.due_reminders(&t.ctx(&t.nick), now).unwrap()),
        [a.id, b.id, exact.id]
    );
    assert_eq!(
        ids(&crm.due_reminders(&t.ctx(&t.diana), now).unwrap()),
        [a.id, sams.id, b.id, exact.id]
    );

    // Done: gone. Reopened: back.
    let a = crm
        .update_activity(
            &nora,
            a.id,
            a.version,
            &ActivityUpdate {
                done_at: Patch::Set(Some(now)),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        ids(&crm.due_reminders(&nora, now).unwrap()),
        [b.id, exact.id]
    );
    let a = crm
        .update_activity(
            &nora,
            a.id,
            a.version,
            &ActivityUpdate {
                done_at: Patch::Set(None),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(a.done_at, None);
    assert_eq!(
        ids(&crm.due_reminders(&nora, now).unwrap()),
        [a.id, b.id, exact.id]
    );

    // A reminder after the due time is refused, on create and on update.
    let before = fingerprint(&t.env);
    expect_invalid(
        crm.create_activity(
            &nora,
            &NewActivity {
                due_at: Some(now),
                remind_at: Some(now + Duration::seconds(1)),
                ..task("late reminder", Some(acme.id), None)
            },
        ),
        "remind_at",
    );
    expect_invalid(
        crm.update_activity(
            &nora,
            a.id,
            a.version,
            &ActivityUpdate {
                remind_at: Patch::Set(Some(now + Duration::days(2))),
                ..Default::default()
            },
        ),
        "remind_at",
    );
    assert_same_db(&before, &fingerprint(&t.env), "refused reminder times");
}

#[test]
fn overdue_lists_pending_activities_of_one_user_due_before_now() {
    let t = Team::new();
    let crm = t.crm();
    let nora = t.ctx(&t.nora);
    let now = ms(Utc::now());
    let acme = crm
        .create_client(&nora, &NewClient::organization("Acme"))
        .unwrap();
    let mk = |subject: &str, due: Option<i64>, done: bool| {
        crm.create_activity(
            &nora,
            &NewActivity {
                due_at: due.map(|h| now + Duration::hours(h)),
                done_at: done.then_some(now - Duration::hours(1)),
                ..task(subject, Some(acme.id), None)
            },
        )
        .unwrap()
    };
    let b = mk("yesterday", Some(-24), false);
    let a = mk("two days ago", Some(-48), false);
    let _future = mk("tomorrow", Some(24), false);
    let _done = mk("done", Some(-72), true);
    let _undated = mk("no due date", None, false);
    let at_now = mk("due right now", Some(0), false);

    assert_eq!(
        ids(&crm.overdue_activities(&nora, t.nora.id, now).unwrap()),
        [a.id, b.id]
    );
    assert_eq!(
        ids(&crm
            .overdue_activities(&nora, t.nora.id, now + Duration::milliseconds(1))
            .unwrap()),
        [a.id, b.id, at_now.id],
        "due exactly now is overdue a moment later"
    );
    // Someone who reads Nora's activities sees the same list; others see nothing.
    assert_eq!(
        ids(&crm
            .overdue_activities(&t.ctx(&t.nick), t.nora.id, now)
            .unwrap()),
        [a.id, b.id]
    );
    assert!(crm
        .overdue_activities(&t.ctx(&t.sam), t.nora.id, now)
        .unwrap()
        .is_empty());
    // Only the named user's activities.
    assert!(crm
        .overdue_activities(&t.ctx(&t.diana), t.sam.id, now)
        .unwrap()
        .is_empty());
    // Reassigned to Nick, the task leaves Nora's list and joins his.
    let a = crm
        .assign_activity(&t.ctx(&t.nick), a.id, a.version, t.nick.id)
        .unwrap();
    assert_eq!(a.assignee_id, t.nick.id);
    assert_eq!(
        ids(&crm.overdue_activities(&nora, t.nora.id, now).unwrap()),
        [b.id]
    );
    assert_eq!(
        ids(&crm.overdue_activities(t.sys(), t.nick.id, now).unwrap()),
        [a.id]
    );
}

// ---------------------------------------------------------------------------------------------
// Links and permissions
// ---------------------------------------------------------------------------------------------

#[test]
fn an_activity_links_to_a_readable_client_and_deal_that_agree() {
    let t = Team::new();
    let crm = t.crm();
    let nora = t.ctx(&t.nora);
    let sam = t.ctx(&t.sam);
    let acme = crm
        .create_client(&nora, &NewClient::organization("Acme"))
        .unwrap();
    let birch = crm
        .create_client(&nora, &NewClient::organization("Birch"))
        .unwrap();
    let cedar = crm
        .create_client(&sam, &NewClient::organization("Cedar"))
        .unwrap();
    let deal = crm
        .create_deal(
            &nora,
            &with_client(new_deal("Acme deal", t.pipeline.id, "EUR", 10), acme.id),
        )
        .unwrap();
    let bare = crm
        .create_deal(&nora, &new_deal("No client", t.pipeline.id, "EUR", 10))
        .unwrap();
    let sams_deal = crm
        .create_deal(&sam, &new_deal("Sam's", t.pipeline.id, "EUR", 10))
        .unwrap();

    // A deal alone brings its client; the deal with its own client is fine.
    let a = crm
        .create_activity(&nora, &task("via deal", None, Some(deal.id)))
        .unwrap();
    assert_eq!((a.client_id, a.deal_id), (Some(acme.id), Some(deal.id)));
    assert_eq!(a.assignee_id, t.nora.id);
    assert_eq!(a.department_id, t.north.id);
    assert_eq!(a.rule_id, None);
    let b = crm
        .create_activity(&nora, &task("both", Some(acme.id), Some(deal.id)))
        .unwrap();
    assert_eq!((b.client_id, b.deal_id), (Some(acme.id), Some(deal.id)));
    let c = crm
        .create_activity(&nora, &task("bare deal", None, Some(bare.id)))
        .unwrap();
    assert_eq!((c.client_id, c.deal_id), (None, Some(bare.id)));

    // Refused, and nothing written: another client than the deal's, no link at all, a client or
    // deal the actor cannot read, a deal that does not exist.
    let before = fingerprint(&t.env);
    expect_invalid(
        crm.create_activity(&nora, &task("mismatch", Some(birch.id), Some(deal.id))),
        "client_id",
    );
    expect_invalid(
        crm.create_activity(&nora, &task("nothing", None, None)),
        "client_id",
    );
    expect_invalid(
        crm.create_activity(&nora, &task("not mine", Some(cedar.id), None)),
        "client_id",
    );
    expect_invalid(
        crm.create_activity(&nora, &task("not my deal", None, Some(sams_deal.id))),
        "deal_id",
    );
    expect_invalid(
        crm.create_activity(&nora, &task("no such deal", None, Some(DealId(999_999)))),
        "deal_id",
    );
    expect_invalid(
        crm.create_activity(&nora, &task("  ", Some(acme.id), None)),
        "subject",
    );
    assert_same_db(&before, &fingerprint(&t.env), "refused links");
}

#[test]
fn activities_follow_the_activity_grants() {
    let t = Team::new();
    let crm = t.crm();
    let (nora, nick, sam, diana) = (
        t.ctx(&t.nora),
        t.ctx(&t.nick),
        t.ctx(&t.sam),
        t.ctx(&t.diana),
    );
    let acme = crm
        .create_client(
            &nick,
            &NewClient {
                owner_id: Some(t.nora.id),
                ..NewClient::organization("Acme")
            },
        )
        .unwrap();
    let for_sam = NewActivity {
        assignee_id: Some(t.sam.id),
        ..task("for Sam", Some(acme.id), None)
    };
    expect_denied(crm.create_activity(&nora, &for_sam));
    expect_denied(crm.create_activity(&nick, &for_sam));
    let a = crm
        .create_activity(
            &nick,
            &NewActivity {
                assignee_id: Some(t.nora.id),
                ..task("for Nora", Some(acme.id), None)
            },
        )
        .unwrap();
    assert_eq!((a.assignee_id, a.department_id), (t.nora.id, t.north.id));
    assert_eq!(crm.get_activity(&nora, a.id).unwrap(), a);
    expect_not_found(crm.get_activity(&sam, a.id));
    let touch = ActivityUpdate {
        subject: Patch::Set("touched".into()),
        ..Default::default()
    };
    expect_not_found(crm.update_activity(&sam, a.id, a.version, &touch));
    let a = crm.update_activity(&nora, a.id, a.version, &touch).unwrap();
    assert_eq!(a.subject, "touched");
    expect_conflict(crm.update_activity(&nora, a.id, a.version - 1, &touch));

    // Assign: reps cannot, the lead only inside North, the director anywhere below Sales.
    expect_denied(crm.assign_activity(&nora, a.id, a.version, t.nick.id));
    expect_denied(crm.assign_activity(&nick, a.id, a.version, t.sam.id));
    let a = crm
        .assign_activity(&diana, a.id, a.version, t.sam.id)
        .unwrap();
    assert_eq!((a.assignee_id, a.department_id), (t.sam.id, t.south.id));
    expect_not_found(crm.get_activity(&nora, a.id));
    assert_eq!(crm.get_activity(&sam, a.id).unwrap(), a);

    // Delete: only with the delete grant.
    expect_denied(crm.delete_activity(&sam, a.id, a.version));
    crm.delete_activity(&diana, a.id, a.version).unwrap();
    expect_not_found(crm.get_activity(t.sys(), a.id));
    let audit = t.env.audit_of("activity", a.id.0);
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert!(actions.contains(&("activity.create", "ok")));
    assert!(actions.contains(&("activity.assign", "denied")));
    assert!(actions.contains(&("activity.delete", "denied")));
    assert_eq!(actions.last(), Some(&("activity.delete", "ok")));
}

#[test]
fn moving_a_user_restamps_the_department_of_their_activities() {
    // DESIGN.md §4: "a user's move re-stamps their records' department in the same transaction".
    let t = Team::new();
    let crm = t.crm();
    let nora = t.ctx(&t.nora);
    let acme = crm
        .create_client(&nora, &NewClient::organization("Acme"))
        .unwrap();
    let a = crm
        .create_activity(&nora, &task("follows Nora", Some(acme.id), None))
        .unwrap();
    assert_eq!(a.department_id, t.north.id);
    crm.move_user(t.sys(), t.nora.id, t.south.id).unwrap();
    assert_eq!(
        crm.get_client(t.sys(), acme.id).unwrap().department_id,
        t.south.id,
        "clients are re-stamped"
    );
    assert_eq!(
        crm.get_activity(t.sys(), a.id).unwrap().department_id,
        t.south.id,
        "the activity of a moved user keeps the stamp of their old department"
    );
}

// ---------------------------------------------------------------------------------------------
// The client timeline
// ---------------------------------------------------------------------------------------------

/// A stable identity of a timeline entry.
fn key(e: &TimelineEntry) -> (u8, i64) {
    match &e.item {
        TimelineItem::Activity { activity } => (0, activity.id.0),
        TimelineItem::StageChange { event, .. } => (1, event.id),
        TimelineItem::Change { entry } => (2, entry.id.0),
    }
}

#[test]
fn the_timeline_is_newest_first_and_its_pages_concatenate_without_gaps_or_duplicates() {
    let t = Team::new();
    let crm = t.crm();
    let nora = t.ctx(&t.nora);
    let acme = crm
        .create_client(&nora, &NewClient::organization("Acme"))
        .unwrap();
    let other = crm
        .create_client(&nora, &NewClient::organization("Other"))
        .unwrap();
    let base = ms(Utc::now() - Duration::days(40));
    let mut deal_ids = Vec::new();
    for i in 0..4i64 {
        let d = crm
            .create_deal(
                &nora,
                &NewDeal {
                    created_at: Some(base + Duration::days(i)),
                    ..with_client(
                        new_deal(&format!("Deal {i}"), t.pipeline.id, "EUR", 100),
                        acme.id,
                    )
                },
            )
            .unwrap();
        // Several deals move at the very same instants, so many entries tie on time.
        let mut d = d;
        for (step, name) in ["Qualified", "Proposal", "Won"].iter().enumerate() {
            if (step as i64) > i {
                break;
            }
            let when = base + Duration::days(10 + step as i64);
            d = crm
                .move_deal(&nora, d.id, d.version, &to_at(t.stage(name), when))
                .unwrap();
        }
        deal_ids.push(d.id);
    }
    crm.create_deal(
        &nora,
        &with_client(new_deal("Elsewhere", t.pipeline.id, "EUR", 1), other.id),
    )
    .unwrap();
    let mut version = acme.version;
    for (i, deal) in deal_ids.iter().take(3).enumerate() {
        let c = crm
            .update_client(
                &nora,
                acme.id,
                version,
                &ClientUpdate {
                    name: Patch::Set(format!("Acme {i}")),
                    ..Default::default()
                },
            )
            .unwrap();
        version = c.version;
        crm.create_activity(
            &nora,
            &NewActivity {
                kind: ActivityKind::Call,
                done_at: Some(Utc::now()),
                ..task(&format!("Call {i}"), Some(acme.id), None)
            },
        )
        .unwrap();
        crm.create_activity(&nora, &task(&format!("Deal task {i}"), None, Some(*deal)))
            .unwrap();
    }
    crm.create_activity(&nora, &task("About the other client", Some(other.id), None))
        .unwrap();

    let full = all_timeline(crm, &nora, acme.id, 500);
    assert!(
        full.windows(2).all(|w| w[0].at >= w[1].at),
        "the timeline is not newest first"
    );
    let keys: Vec<(u8, i64)> = full.iter().map(key).collect();
    assert_eq!(
        keys.iter().collect::<BTreeSet<_>>().len(),
        keys.len(),
        "an entry appears twice"
    );
    // What it holds: every stage event of Acme's deals, its activities and its changes.
    let events: usize = deal_ids
        .iter()
        .map(|d| crm.deal_history(&nora, *d).unwrap().len())
        .sum();
    let count = |k: u8| keys.iter().filter(|(kind, _)| *kind == k).count();
    assert_eq!(count(1), events);
    assert_eq!(count(0), 6);
    let client_changes = t
        .env
        .audit_of("client", acme.id.0)
        .into_iter()
        .filter(|e| e.outcome == "ok")
        .count();
    let deal_changes: usize = deal_ids
        .iter()
        .map(|d| t.env.audit_of("deal", d.0).len())
        .sum();
    assert_eq!(count(2), client_changes + deal_changes);
    for e in &full {
        match &e.item {
            TimelineItem::Activity { activity } => {
                assert_eq!(activity.client_id, Some(acme.id));
                assert_eq!(e.at, activity.created_at);
            }
            TimelineItem::StageChange { event, deal_title } => {
                assert!(deal_ids.contains(&event.deal_id));
                assert!(deal_title.starts_with("Deal "));
                assert_eq!(e.at, event.at);
            }
            TimelineItem::Change { entry } => {
                assert!(
                    (entry.entity == "client" && entry.entity_id == Some(acme.id.0))
                        || (entry.entity == "deal"
                            && deal_ids.iter().any(|d| Some(d.0) == entry.entity_id)),
                    "{entry:?}"
                );
                assert_eq!(e.at.timestamp_millis(), entry.at_ms);
            }
        }
    }

    // Every page size gives the same sequence.
    for page in [1, 2, 3, 5, 7, 50] {
        let paged = all_timeline(crm, &nora, acme.id, page);
        assert_eq!(
            paged.iter().map(key).collect::<Vec<_>>(),
            keys,
            "pages of {page} differ from the full timeline"
        );
    }
    expect_invalid(
        crm.client_timeline(
            &nora,
            acme.id,
            &TimelineQuery {
                limit: Some(5),
                after: Some("not-a-cursor".into()),
            },
        ),
        "after",
    );
    expect_invalid(
        crm.client_timeline(
            &nora,
            acme.id,
            &TimelineQuery {
                limit: Some(0),
                after: None,
            },
        ),
        "limit",
    );
}

#[test]
fn the_timeline_leaves_out_what_the_user_may_not_read() {
    let env = Env::new();
    let sales = env.dept("Sales", None);
    let olga = env.user("Olga", &sales);
    let pete = env.user("Pete", &sales);
    let outsider = env.user("Outsider", &sales);
    use Action::*;
    let rep = [
        grant(EntityType::Client, Read, AccessLevel::Own, true),
        grant(EntityType::Client, Create, AccessLevel::Own, false),
        grant(EntityType::Deal, Read, AccessLevel::Own, false),
        grant(EntityType::Deal, Create, AccessLevel::Own, false),
        grant(EntityType::Deal, ChangeStage, AccessLevel::Own, false),
        grant(EntityType::Activity, Read, AccessLevel::Own, false),
        grant(EntityType::Activity, Create, AccessLevel::Own, false),
    ];
    let role = env.crm.create_role(&env.sys, "Rep", &rep).unwrap();
    for u in [&olga, &pete] {
        env.crm
            .assign_role(
                &env.sys,
                role.id,
                &crm_core::model::RoleSubject::User { user_id: u.id },
            )
            .unwrap();
    }
    let p = env.pipeline("Shared", &["Lead", "Qualified"]);
    let crm = &env.crm;
    let (as_olga, as_pete) = (env.ctx(&olga), env.ctx(&pete));
    let shared = crm
        .create_client(
            &as_olga,
            &NewClient {
                open: true,
                ..NewClient::organization("Shared Inc")
            },
        )
        .unwrap();
    let mk_deal = |ctx: &Ctx, title: &str| {
        let d = crm
            .create_deal(
                ctx,
                &with_client(new_deal(title, p.id, "EUR", 10), shared.id),
            )
            .unwrap();
        crm.move_deal(ctx, d.id, d.version, &to(stage(&p, "Qualified")))
            .unwrap()
    };
    let olgas = mk_deal(&as_olga, "Olga's deal");
    let petes = mk_deal(&as_pete, "Pete's deal");
    let olga_act = crm
        .create_activity(&as_olga, &task("Olga's call", None, Some(olgas.id)))
        .unwrap();
    let pete_act = crm
        .create_activity(&as_pete, &task("Pete's call", Some(shared.id), None))
        .unwrap();

    let seen = |ctx: &Ctx| all_timeline(crm, ctx, shared.id, 3);
    let deal_of = |e: &TimelineEntry| match &e.item {
        TimelineItem::Activity { activity } => activity.deal_id,
        TimelineItem::StageChange { event, .. } => Some(event.deal_id),
        TimelineItem::Change { entry } if entry.entity == "deal" => entry.entity_id.map(DealId),
        TimelineItem::Change { .. } => None,
    };
    for (ctx, mine, theirs, my_act, their_act) in [
        (&as_pete, &petes, &olgas, &pete_act, &olga_act),
        (&as_olga, &olgas, &petes, &olga_act, &pete_act),
    ] {
        let items = seen(ctx);
        // Nothing of the other's deal or activity: absent, not blanked out.
        for e in &items {
            assert_ne!(deal_of(e), Some(theirs.id), "{e:?}");
            match &e.item {
                TimelineItem::Activity { activity } => {
                    assert_ne!(activity.id, their_act.id);
                    assert_eq!(crm.get_activity(ctx, activity.id).unwrap(), *activity);
                }
                TimelineItem::StageChange { event, deal_title } => {
                    let d = crm.get_deal(ctx, event.deal_id).unwrap();
                    assert_eq!(&d.title, deal_title);
                }
                TimelineItem::Change { entry } => {
                    if entry.entity == "deal" {
                        crm.get_deal(ctx, DealId(entry.entity_id.unwrap())).unwrap();
                    } else {
                        assert_eq!(
                            (entry.entity.as_str(), entry.entity_id),
                            ("client", Some(shared.id.0))
                        );
                    }
                }
            }
        }
        // Everything of one's own is there.
        let stage_events = items
            .iter()
            .filter(|e| matches!(&e.item, TimelineItem::StageChange { event, .. } if event.deal_id == mine.id))
            .count();
        assert_eq!(stage_events, 2);
        assert!(items.iter().any(
            |e| matches!(&e.item, TimelineItem::Activity { activity } if activity.id == my_act.id)
        ));
        assert!(items.iter().any(|e| matches!(
            &e.item,
            TimelineItem::Change { entry } if entry.entity == "client" && entry.action == "client.create"
        )));
    }
    // The system context sees both sides; the pages of each user are a subset of it.
    let all: BTreeSet<(u8, i64)> = seen(&env.sys).iter().map(key).collect();
    let pete_keys: BTreeSet<(u8, i64)> = seen(&as_pete).iter().map(key).collect();
    let olga_keys: BTreeSet<(u8, i64)> = seen(&as_olga).iter().map(key).collect();
    assert!(pete_keys.is_subset(&all) && olga_keys.is_subset(&all));
    assert_eq!(
        pete_keys.union(&olga_keys).count(),
        all.len(),
        "each entry is readable by one of the two"
    );
    assert!(pete_keys.len() < all.len() && olga_keys.len() < all.len());
    // A user who cannot read the client gets no timeline at all.
    expect_not_found(crm.client_timeline(
        &env.ctx(&outsider),
        shared.id,
        &TimelineQuery::default(),
    ));
}
