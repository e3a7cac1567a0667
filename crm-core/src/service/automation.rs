//! Automation rules and `run_due`, which turns their conditions into tasks exactly once per
//! occasion.

use super::activities::insert_activity;
use super::Via;
use crate::crm::{Access, Crm, WriteCx};
use crate::error::{CrmError, Result};
use crate::ids::{ClientId, DealId, RuleId, UserId};
use crate::model::{
    require_text, ActivityKind, AutomationReport, AutomationRule, NewActivity, NewAutomationRule,
    RuleTasks, RuleTrigger,
};
use crate::store::{automation, org, pipelines};
use crate::Ctx;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

const DAY_MS: i64 = 86_400_000;

impl Crm {
    /// Stores an automation rule (administrators).
    pub fn create_automation_rule(
        &self,
        ctx: &Ctx,
        new: &NewAutomationRule,
    ) -> Result<AutomationRule> {
        self.write(ctx, |cx| {
            cx.require_admin("create_automation_rule")?;
            let subject = require_text("task_subject", &new.task_subject, 300)?;
            if new.due_in_days > 365 {
                return Err(CrmError::invalid("due_in_days", "must be 0-365"));
            }
            match new.trigger {
                RuleTrigger::ClientIdle { days } if !(1..=3650).contains(&days) => {
                    return Err(CrmError::invalid("trigger.days", "must be 1-3650"))
                }
                RuleTrigger::StageEntered { stage_id }
                    if !pipelines::stage_exists(cx.tx, stage_id)? =>
                {
                    return Err(CrmError::invalid(
                        "trigger.stage_id",
                        format!("no stage {stage_id}"),
                    ))
                }
                _ => {}
            }
            let id = automation::insert(cx.tx, &new.trigger, &subject, new.due_in_days, cx.now)?;
            let rule = AutomationRule {
                id,
                trigger: new.trigger,
                task_subject: subject,
                due_in_days: new.due_in_days,
                active: true,
            };
            cx.audit(
                "automation_rule.create",
                "automation_rule",
                Some(id.0),
                &json!({"rule": [null, &rule]}),
            )?;
            Ok(rule)
        })
    }

    /// Every automation rule.
    pub fn automation_rules(&self, ctx: &Ctx) -> Result<Vec<AutomationRule>> {
        self.read(ctx, |c, _| {
            Ok(automation::list(c)?.into_iter().map(|(r, _)| r).collect())
        })
    }

    /// Activates or deactivates a rule (administrators).
    pub fn set_automation_rule_active(&self, ctx: &Ctx, id: RuleId, active: bool) -> Result<()> {
        self.write(ctx, |cx| {
            cx.require_admin("set_automation_rule_active")?;
            if !automation::set_active(cx.tx, id, active)? {
                return Err(CrmError::NotFound {
                    entity: "automation_rule",
                    id: id.0,
                });
            }
            cx.audit(
                "automation_rule.update",
                "automation_rule",
                Some(id.0),
                &json!({"active": [!active, active]}),
            )
        })
    }

    /// Deletes a rule (administrators).
    pub fn delete_automation_rule(&self, ctx: &Ctx, id: RuleId) -> Result<()> {
        self.write(ctx, |cx| {
            cx.require_admin("delete_automation_rule")?;
            if !automation::delete(cx.tx, id)? {
                return Err(CrmError::NotFound {
                    entity: "automation_rule",
                    id: id.0,
                });
            }
            cx.audit(
                "automation_rule.delete",
                "automation_rule",
                Some(id.0),
                &json!({}),
            )
        })
    }

    /// Runs every active rule as of `now` and creates the tasks that are due, in one
    /// transaction. Idempotent: each (rule, occasion) acts once, so running it twice creates
    /// nothing new. Needs the system context (hosts call it from their own timer); the run and
    /// every task are audited. Occasions whose owner is deactivated are skipped and retried on a
    /// later run.
    pub fn run_due(&self, ctx: &Ctx, now: DateTime<Utc>) -> Result<AutomationReport> {
        self.write(ctx, |cx| {
            if !matches!(cx.access, Access::System) {
                return Err(cx.refuse("run_due", "automation runs in the system context only"));
            }
            let now_ms = now.timestamp_millis();
            let mut report = AutomationReport::default();
            for (rule, created_at) in automation::list(cx.tx)?
                .into_iter()
                .filter(|(r, _)| r.active)
            {
                let occasions: Vec<(String, Option<ClientId>, Option<DealId>, UserId)> = match rule
                    .trigger
                {
                    RuleTrigger::ClientIdle { days } => {
                        automation::idle_clients(cx.tx, rule.id, now_ms - i64::from(days) * DAY_MS)?
                            .into_iter()
                            .map(|(c, owner, last)| {
                                (format!("client:{c}:{last}"), Some(c), None, owner)
                            })
                            .collect()
                    }
                    RuleTrigger::DealRotting => automation::rotting_deals(cx.tx, now_ms)?
                        .into_iter()
                        .map(|(d, c, owner, entered)| {
                            (format!("deal:{d}:{entered}"), c, Some(d), owner)
                        })
                        .collect(),
                    RuleTrigger::StageEntered { stage_id } => {
                        automation::stage_entries(cx.tx, stage_id, created_at, now_ms)?
                            .into_iter()
                            .map(|(e, d, c, owner)| (format!("event:{e}"), c, Some(d), owner))
                            .collect()
                    }
                };
                let mut created = 0;
                for (occasion, client_id, deal_id, owner) in occasions {
                    if create_task(cx, &rule, &occasion, client_id, deal_id, owner, now)? {
                        created += 1;
                    }
                }
                if created > 0 {
                    report.created.push(RuleTasks {
                        rule_id: rule.id,
                        tasks: created,
                    });
                    report.total += created;
                }
            }
            cx.audit(
                "automation.run",
                "automation",
                None,
                &json!({"now": now, "created": report.total}),
            )?;
            Ok(report)
        })
    }
}

/// Creates the rule's task for one occasion unless it was handled before or its owner is
/// deactivated; returns whether a task was created.
fn create_task(
    cx: &WriteCx<'_>,
    rule: &AutomationRule,
    occasion: &str,
    client_id: Option<ClientId>,
    deal_id: Option<DealId>,
    owner: UserId,
    now: DateTime<Utc>,
) -> Result<bool> {
    if !org::user(cx.tx, owner)?.is_some_and(|u| u.active) {
        return Ok(false);
    }
    if !automation::claim(cx.tx, rule.id, occasion, cx.now)? {
        return Ok(false);
    }
    let task = NewActivity {
        client_id,
        deal_id,
        assignee_id: Some(owner),
        due_at: Some(now + Duration::days(i64::from(rule.due_in_days))),
        ..NewActivity::new(ActivityKind::Task, rule.task_subject.clone())
    };
    insert_activity(cx, &task, Some(rule.id.0), Via::Api)?;
    Ok(true)
}
