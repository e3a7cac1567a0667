//! Automation rules: conditions that create follow-up tasks when the host runs them.

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::enums;
use crate::strings::{arg_json, arg_time, Out};
use crm_core::ids::RuleId;
use crm_core::model::NewAutomationRule;
use std::ffi::c_char;

/// Stores an automation rule (administrators only) and writes it to `*out_json`:
/// `{"id":1,"trigger":{"kind":"client_idle","days":30},"task_subject":"Call them",
/// "due_in_days":1,"active":true}`.
///
/// `rule_json`: `{"trigger":{...},"task_subject":"Call them","due_in_days":1}` (`due_in_days`
/// 0-365, default 1). Triggers: `{"kind":"client_idle","days":30}` (a client with no activity
/// for that many days: a task for its owner), `{"kind":"deal_rotting"}` (an open deal longer
/// in its stage than the stage's `rotting_days`), `{"kind":"stage_entered","stage_id":4}` (a
/// deal entered that stage after the rule was created). Tasks are created by
/// `crm_automation_run_due`.
#[no_mangle]
pub unsafe extern "C" fn crm_automation_rule_create(
    ctx: *const crm_ctx,
    rule_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let new: NewAutomationRule = unsafe { arg_json(rule_json, "rule_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let rule = ctx.run(|crm, c| crm.create_automation_rule(c, &new))?;
        unsafe { out.write_json(&rule) }
    })
}

/// Writes every automation rule to `*out_json`, as a JSON array (see
/// `crm_automation_rule_create`).
#[no_mangle]
pub unsafe extern "C" fn crm_automation_rule_list(
    ctx: *const crm_ctx,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let rules = ctx.run(|crm, c| crm.automation_rules(c))?;
        unsafe { out.write_json(&rules) }
    })
}

/// Activates (`active` 1) or deactivates (`active` 0) an automation rule (administrators
/// only); an inactive rule does nothing. Any other `active` is CRM_STATUS_UNKNOWN_ENUM.
#[no_mangle]
pub unsafe extern "C" fn crm_automation_rule_set_active(
    ctx: *const crm_ctx,
    rule_id: i64,
    active: i32,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let active = enums::flag(active, "active")?;
        ctx.run(|crm, c| crm.set_automation_rule_active(c, RuleId(rule_id), active))?;
        Ok(())
    })
}

/// Deletes an automation rule (administrators only). Tasks it created stay.
#[no_mangle]
pub unsafe extern "C" fn crm_automation_rule_delete(
    ctx: *const crm_ctx,
    rule_id: i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        ctx.run(|crm, c| crm.delete_automation_rule(c, RuleId(rule_id)))?;
        Ok(())
    })
}

/// Runs every active rule as of `now` (RFC 3339, the host's clock) and creates the tasks that
/// are due, in one transaction, then writes what it did to `*out_json`:
/// `{"created":[{"rule_id":1,"tasks":2},{"rule_id":3,"tasks":1}],"total":3}` (tasks created
/// per rule). Idempotent:
/// each occasion of a rule acts once, so a second run creates nothing new. System context only
/// (hosts call it from their own timer; CRM_STATUS_PERMISSION_DENIED for a user context).
#[no_mangle]
pub unsafe extern "C" fn crm_automation_run_due(
    ctx: *const crm_ctx,
    now: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let now = unsafe { arg_time(now, "now") }?;
        let out = Out::new(out_json, "out_json")?;
        let report = ctx.run(|crm, c| crm.run_due(c, now))?;
        unsafe { out.write_json(&report) }
    })
}
