//! Merging duplicate clients, and undoing a merge.

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::strings::{arg_json, Out};
use crm_core::model::MergeRequest;
use std::ffi::c_char;

/// Merges a duplicate client into a survivor and writes what it did to `*out_json`:
/// `{"merge_id":3,"survivor":{client},"deals":2,"activities":5,"contacts":1,"subsidiaries":0}`.
/// Deals, activities, contact links and subsidiaries move to the survivor; the duplicate is
/// archived. Keep `merge_id` to undo it with `crm_client_merge_undo`.
///
/// `request_json`: `{"survivor_id":7,"duplicate_id":9,"choices":{"tax_id":"duplicate"}}`.
/// Fields are resolved one by one: equal values, or a value only one side has, need no choice;
/// a field where both sides hold different values needs a choice ("survivor" or "duplicate";
/// lists also "both", their default) keyed by field name: `name`, `parent_id`, `tax_id`,
/// `registration_number`, `external_id`, `open`, `owner_id`, `emails`, `phones`, `addresses`,
/// `tags`, `custom.<key>` (else CRM_STATUS_VALIDATION naming the fields). Needs update on the
/// survivor, delete on the duplicate and update on everything that moves. Audited.
#[no_mangle]
pub unsafe extern "C" fn crm_client_merge(
    ctx: *const crm_ctx,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let request: MergeRequest = unsafe { arg_json(request_json, "request_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let outcome = ctx.run(|crm, c| crm.merge_clients(c, &request))?;
        unsafe { out.write_json(&outcome) }
    })
}

/// Undoes merge `merge_id` (from `crm_client_merge`) and writes the survivor as it is now to
/// `*out_json`: the survivor's fields and owner go back to what they were before the merge
/// (later edits of those fields are overwritten), the duplicate is restored, and everything
/// that moved and still points at the survivor goes back. Same permissions as the merge;
/// CRM_STATUS_NOT_FOUND for an unknown or already undone merge. Audited.
#[no_mangle]
pub unsafe extern "C" fn crm_client_merge_undo(
    ctx: *const crm_ctx,
    merge_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let survivor = ctx.run(|crm, c| crm.undo_merge(c, merge_id))?;
        unsafe { out.write_json(&survivor) }
    })
}
