//! Activities: tasks, calls, meetings, e-mails and notes about a client or a deal, with their
//! reminders.

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::strings::{arg_json, arg_time, Out};
use crm_core::ids::{ActivityId, UserId};
use crm_core::model::{ActivityUpdate, NewActivity};
use std::ffi::c_char;

/// Creates an activity and writes the stored record to `*out_json`:
/// `{"id":4,"kind":"call","subject":"Follow-up","body":null,"client_id":7,"deal_id":5,
/// "assignee_id":3,"department_id":2,"due_at":"2026-12-01T09:00:00Z","remind_at":null,
/// "done_at":null,"open":false,"rule_id":null,"version":1,"created_at":"...",
/// "updated_at":"...","external_id":null}`.
///
/// `activity_json` needs `kind` ("task", "call", "meeting", "email" or "note"), `subject`, and
/// at least one of `client_id` and `deal_id` (records the actor can read); optional: `body`,
/// `assignee_id` (default the acting user; required with the system context), `due_at`,
/// `remind_at` (not after `due_at`), `done_at` (RFC 3339 timestamps), `open`, `external_id`,
/// `created_at`.
#[no_mangle]
pub unsafe extern "C" fn crm_activity_create(
    ctx: *const crm_ctx,
    activity_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let new: NewActivity = unsafe { arg_json(activity_json, "activity_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let activity = ctx.run(|crm, c| crm.create_activity(c, &new))?;
        unsafe { out.write_json(&activity) }
    })
}

/// Reads one activity and writes it to `*out_json` (see `crm_activity_create`).
/// CRM_STATUS_NOT_FOUND if it does not exist or the acting user may not read it.
#[no_mangle]
pub unsafe extern "C" fn crm_activity_get(
    ctx: *const crm_ctx,
    activity_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let activity = ctx.run(|crm, c| crm.get_activity(c, ActivityId(activity_id)))?;
        unsafe { out.write_json(&activity) }
    })
}

/// Changes an activity and writes the new record to `*out_json`. `expected_version` is the
/// `version` the caller read (CRM_STATUS_CONFLICT if it is stale).
///
/// `update_json` holds only the fields to change: `subject`, `body`, `due_at`, `remind_at`,
/// `done_at`, `open`; null clears a time. Mark a task done with
/// `{"done_at":"2026-11-25T10:00:00Z"}`, reopen it with `{"done_at":null}`.
#[no_mangle]
pub unsafe extern "C" fn crm_activity_update(
    ctx: *const crm_ctx,
    activity_id: i64,
    expected_version: i64,
    update_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let update: ActivityUpdate = unsafe { arg_json(update_json, "update_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let activity = ctx.run(|crm, c| {
            crm.update_activity(c, ActivityId(activity_id), expected_version, &update)
        })?;
        unsafe { out.write_json(&activity) }
    })
}

/// Gives an activity to another assignee and writes the new record to `*out_json`. Needs the
/// assign permission; the new assignee must lie inside the actor's assign level.
#[no_mangle]
pub unsafe extern "C" fn crm_activity_assign(
    ctx: *const crm_ctx,
    activity_id: i64,
    expected_version: i64,
    new_assignee_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let activity = ctx.run(|crm, c| {
            crm.assign_activity(
                c,
                ActivityId(activity_id),
                expected_version,
                UserId(new_assignee_id),
            )
        })?;
        unsafe { out.write_json(&activity) }
    })
}

/// Deletes an activity for good (needs the delete permission). CRM_STATUS_CONFLICT if
/// `expected_version` is stale.
#[no_mangle]
pub unsafe extern "C" fn crm_activity_delete(
    ctx: *const crm_ctx,
    activity_id: i64,
    expected_version: i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        ctx.run(|crm, c| crm.delete_activity(c, ActivityId(activity_id), expected_version))?;
        Ok(())
    })
}

/// Writes the pending activities the actor may read whose reminder time is at or before `now`
/// to `*out_json`, soonest first (at most 500), as a JSON array of activities. `now` is an
/// RFC 3339 timestamp such as "2026-11-25T09:30:00Z" (the host's clock; hosts poll this from
/// their own timer).
#[no_mangle]
pub unsafe extern "C" fn crm_activity_due_reminders(
    ctx: *const crm_ctx,
    now: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let now = unsafe { arg_time(now, "now") }?;
        let out = Out::new(out_json, "out_json")?;
        let due = ctx.run(|crm, c| crm.due_reminders(c, now))?;
        unsafe { out.write_json(&due) }
    })
}

/// Writes the pending activities assigned to `user_id` that were due before `now` (RFC 3339)
/// and that the actor may read to `*out_json`, oldest due first (at most 500), as a JSON array
/// of activities.
#[no_mangle]
pub unsafe extern "C" fn crm_activity_overdue(
    ctx: *const crm_ctx,
    user_id: i64,
    now: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let now = unsafe { arg_time(now, "now") }?;
        let out = Out::new(out_json, "out_json")?;
        let overdue = ctx.run(|crm, c| crm.overdue_activities(c, UserId(user_id), now))?;
        unsafe { out.write_json(&overdue) }
    })
}
