//! Permission questions: may the actor do this, and why (not)?

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::enums;
use crate::strings::Out;
use crm_core::ids::{ClientId, UserId};
use std::ffi::c_char;

/// Explains whether user `user_id` may perform `action` (a CRM_ACTION_* constant) on client
/// `client_id`, and writes the decision with its reason to `*out_json`, one of:
/// `{"decision":"allowed","role_id":2,"role_name":"Team lead","via":{"kind":"head_of","department_id":3},"level":"department","matched_by":"department"}`,
/// `{"decision":"forbidden","forbid_id":4}`, `{"decision":"no_grant","best_level":"own"}`,
/// `{"decision":"inactive_user"}`, `{"decision":"system_context"}`.
///
/// Administrators and the system context may ask about any user; a user may ask only about
/// themselves and only for records they can read (otherwise CRM_STATUS_NOT_FOUND).
#[no_mangle]
pub unsafe extern "C" fn crm_access_explain(
    ctx: *const crm_ctx,
    user_id: i64,
    action: i32,
    client_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let action = enums::action(action, "action")?;
        let out = Out::new(out_json, "out_json")?;
        let why = ctx.run(|crm, c| crm.explain(c, UserId(user_id), action, ClientId(client_id)))?;
        unsafe { out.write_json(&why) }
    })
}

/// Writes to `*out_allowed` 1 if the acting context may perform `action` (a CRM_ACTION_*
/// constant) on client `client_id`, else 0. CRM_STATUS_NOT_FOUND when it may not even read it.
#[no_mangle]
pub unsafe extern "C" fn crm_access_can(
    ctx: *const crm_ctx,
    action: i32,
    client_id: i64,
    out_allowed: *mut i32,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let action = enums::action(action, "action")?;
        let out = Out::new(out_allowed, "out_allowed")?;
        let allowed = ctx.run(|crm, c| crm.can(c, action, ClientId(client_id)))?;
        unsafe { out.write(i32::from(allowed)) };
        Ok(())
    })
}
