//! Activities: tasks, calls, meetings, e-mails and notes, with reminders and overdue lists.

use super::{assign_target, check_version, create_target, diff, past_instant, to_json, Via};
use crate::access::{Action, EntityType, RecordAcl, SqlAccess};
use crate::crm::{Access, Crm, WriteCx};
use crate::error::{CrmError, Result};
use crate::ids::{ActivityId, ClientId, DealId, UserId};
use crate::model::{
    optional_long_text, optional_text, require_text, Activity, ActivityUpdate, NewActivity,
};
use crate::store::activities::{self, ActivityRow};
use crate::store::{clients, deals};
use crate::Ctx;
use chrono::{DateTime, Utc};
use serde_json::Value;

const ACTIVITY: EntityType = EntityType::Activity;
const MAX_LIST: usize = 500;

fn acl_of(a: &Activity) -> RecordAcl {
    RecordAcl {
        owner_id: a.assignee_id,
        department_id: a.department_id,
        open: a.open,
    }
}

fn ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

fn check_times(due: Option<i64>, remind: Option<i64>) -> Result<()> {
    if let (Some(d), Some(r)) = (due, remind) {
        if r > d {
            return Err(CrmError::invalid("remind_at", "must not be after due_at"));
        }
    }
    Ok(())
}

/// The read plan of activities rendered to SQL; `None` when nothing is readable.
pub(crate) fn activity_read_access(access: &Access) -> Option<SqlAccess> {
    SqlAccess::render(
        &access.plan(ACTIVITY, Action::Read),
        activities::ACL_COLUMNS,
    )
}

/// Resolves the client and deal an activity links to: both must exist and be readable; a deal
/// given alone brings its client.
fn resolve_links(
    cx: &WriteCx<'_>,
    client: Option<ClientId>,
    deal: Option<DealId>,
) -> Result<(Option<ClientId>, Option<DealId>)> {
    let mut client = client;
    if let Some(c) = client {
        let readable = clients::acl(cx.tx, c)?.is_some_and(|(acl, _)| {
            cx.access
                .plan(EntityType::Client, Action::Read)
                .allows(&acl)
        });
        if !readable {
            return Err(CrmError::invalid("client_id", format!("no client {c}")));
        }
    }
    if let Some(d) = deal {
        let found = deals::get(cx.tx, d)?.filter(|deal| {
            cx.access
                .plan(EntityType::Deal, Action::Read)
                .allows(&RecordAcl {
                    owner_id: deal.owner_id,
                    department_id: deal.department_id,
                    open: deal.open,
                })
        });
        let Some(found) = found else {
            return Err(CrmError::invalid("deal_id", format!("no deal {d}")));
        };
        match (client, found.client_id) {
            (None, c) => client = c,
            (Some(a), Some(b)) if a != b => {
                return Err(CrmError::invalid(
                    "client_id",
                    format!("deal {d} belongs to client {b}, not {a}"),
                ))
            }
            _ => {}
        }
    }
    if client.is_none() && deal.is_none() {
        return Err(CrmError::invalid(
            "client_id",
            "an activity needs a client or a deal",
        ));
    }
    Ok((client, deal))
}

fn load_for(cx: &WriteCx<'_>, id: ActivityId, action: Action) -> Result<Activity> {
    let a = activities::get(cx.tx, id)?.ok_or(CrmError::NotFound {
        entity: "activity",
        id: id.0,
    })?;
    cx.check(ACTIVITY, action, id.0, &acl_of(&a))?;
    Ok(a)
}

fn finish(cx: &WriteCx<'_>, action: &str, old: &Activity, id: ActivityId) -> Result<Activity> {
    let new = activities::get(cx.tx, id)?.ok_or(CrmError::NotFound {
        entity: "activity",
        id: id.0,
    })?;
    cx.changed(
        action,
        ACTIVITY,
        id.0,
        &acl_of(&new),
        &diff(&to_json(old), &to_json(&new)),
    )?;
    Ok(new)
}

/// Validates and inserts an activity in the caller's transaction; used by the API, by
/// automation rules (`rule_id`) and by imports.
pub(crate) fn insert_activity(
    cx: &WriteCx<'_>,
    new: &NewActivity,
    rule_id: Option<i64>,
    via: Via,
) -> Result<Activity> {
    let subject = require_text("subject", &new.subject, 300)?;
    let external_id = optional_text("external_id", new.external_id.as_deref(), 200)?;
    if let Some(x) = &external_id {
        if let Some(other) = activities::by_external_id(cx.tx, x)? {
            return Err(CrmError::invalid(
                "external_id",
                format!("{x:?} is already used by activity {other}"),
            ));
        }
    }
    let body = optional_long_text("body", new.body.as_deref(), 20_000)?;
    check_times(ms(new.due_at), ms(new.remind_at))?;
    let (client_id, deal_id) = resolve_links(cx, new.client_id, new.deal_id)?;
    let (owner, _) = create_target(cx, ACTIVITY, via, new.assignee_id, new.open, "assignee_id")?;
    let row = ActivityRow {
        kind: new.kind,
        subject: &subject,
        body: body.as_deref(),
        client_id,
        deal_id,
        owner_id: owner.id,
        dept_id: owner.department_id,
        due_at: ms(new.due_at),
        remind_at: ms(new.remind_at),
        done_at: ms(new.done_at),
        open: new.open,
        rule_id,
        external_id: external_id.as_deref(),
    };
    let created_at = past_instant(new.created_at, cx.now, "created_at")?;
    let id = activities::insert(cx.tx, &row, created_at, cx.now)?;
    let a = activities::get(cx.tx, id)?.ok_or(CrmError::NotFound {
        entity: "activity",
        id: id.0,
    })?;
    via.record(cx, "activity.create", ACTIVITY, id.0, &acl_of(&a), || {
        Ok(diff(&Value::Null, &to_json(&a)))
    })?;
    Ok(a)
}

impl Crm {
    /// Creates an activity linked to a client and/or a deal the actor can read. The assignee
    /// defaults to the acting user.
    pub fn create_activity(&self, ctx: &Ctx, new: &NewActivity) -> Result<Activity> {
        self.write(ctx, |cx| insert_activity(cx, new, None, Via::Api))
    }

    /// An activity the actor may read; `NotFound` otherwise (see `OpenOptions::hide_denied_records`).
    pub fn get_activity(&self, ctx: &Ctx, id: ActivityId) -> Result<Activity> {
        self.read(ctx, |c, access| {
            let a = activities::get(c, id)?;
            self.check_read(access, ACTIVITY, id.0, a.as_ref().map(acl_of))?;
            a.ok_or(CrmError::NotFound {
                entity: "activity",
                id: id.0,
            })
        })
    }

    /// Changes an activity: subject, text, times, done (set `done_at`) or reopen (`null`).
    pub fn update_activity(
        &self,
        ctx: &Ctx,
        id: ActivityId,
        expected_version: i64,
        u: &ActivityUpdate,
    ) -> Result<Activity> {
        self.write(ctx, |cx| {
            let old = load_for(cx, id, Action::Update)?;
            check_version("activity", id.0, old.version, expected_version)?;
            let subject = require_text("subject", &u.subject.or_keep(old.subject.clone()), 300)?;
            let body =
                optional_long_text("body", u.body.or_keep(old.body.clone()).as_deref(), 20_000)?;
            let due_at = ms(u.due_at.or_keep(old.due_at));
            let remind_at = ms(u.remind_at.or_keep(old.remind_at));
            check_times(due_at, remind_at)?;
            let open = u.open.or_keep(old.open);
            cx.check(
                ACTIVITY,
                Action::Update,
                id.0,
                &RecordAcl {
                    open,
                    ..acl_of(&old)
                },
            )?;
            let row = ActivityRow {
                kind: old.kind,
                subject: &subject,
                body: body.as_deref(),
                client_id: old.client_id,
                deal_id: old.deal_id,
                owner_id: old.assignee_id,
                dept_id: old.department_id,
                due_at,
                remind_at,
                done_at: ms(u.done_at.or_keep(old.done_at)),
                open,
                rule_id: old.rule_id,
                external_id: old.external_id.as_deref(),
            };
            if !activities::update(cx.tx, id, expected_version, &row, cx.now)? {
                return Err(CrmError::Conflict {
                    entity: "activity",
                    id: id.0,
                    expected: expected_version,
                    actual: old.version,
                });
            }
            finish(cx, "activity.update", &old, id)
        })
    }

    /// Gives an activity to another assignee (assign permission; the new assignee must lie
    /// inside the actor's assign level).
    pub fn assign_activity(
        &self,
        ctx: &Ctx,
        id: ActivityId,
        expected_version: i64,
        assignee: UserId,
    ) -> Result<Activity> {
        self.write(ctx, |cx| {
            let old = load_for(cx, id, Action::Assign)?;
            check_version("activity", id.0, old.version, expected_version)?;
            let owner = assign_target(
                cx,
                ACTIVITY,
                Action::Assign,
                id.0,
                old.open,
                assignee,
                "assignee_id",
            )?;
            activities::set_owner(
                cx.tx,
                id,
                expected_version,
                owner.id,
                owner.department_id,
                cx.now,
            )?;
            finish(cx, "activity.assign", &old, id)
        })
    }

    /// Deletes an activity (delete permission).
    pub fn delete_activity(&self, ctx: &Ctx, id: ActivityId, expected_version: i64) -> Result<()> {
        self.write(ctx, |cx| {
            let old = load_for(cx, id, Action::Delete)?;
            check_version("activity", id.0, old.version, expected_version)?;
            activities::delete(cx.tx, id)?;
            cx.changed(
                "activity.delete",
                ACTIVITY,
                id.0,
                &acl_of(&old),
                &diff(&to_json(&old), &Value::Null),
            )
        })
    }

    /// Pending activities the actor may read whose reminder time is at or before `now`, soonest
    /// first (at most 500). Hosts poll this from their own timer.
    pub fn due_reminders(&self, ctx: &Ctx, now: DateTime<Utc>) -> Result<Vec<Activity>> {
        self.read(ctx, |c, access| match activity_read_access(access) {
            Some(sql) => activities::due_reminders(c, &sql, now.timestamp_millis(), MAX_LIST),
            None => Ok(vec![]),
        })
    }

    /// Pending activities of `user` due before `now` that the actor may read, oldest due first
    /// (at most 500).
    pub fn overdue_activities(
        &self,
        ctx: &Ctx,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Activity>> {
        self.read(ctx, |c, access| match activity_read_access(access) {
            Some(sql) => activities::overdue(c, &sql, user, now.timestamp_millis(), MAX_LIST),
            None => Ok(vec![]),
        })
    }
}
