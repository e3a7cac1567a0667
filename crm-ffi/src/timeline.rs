//! The client card's timeline: activities, deal stage changes and audited changes of a client
//! and its deals, newest first. (The cursor, `crm_client_timeline_cursor`, is in the cursor
//! module.)

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::strings::{arg_json, Out};
use crm_core::ids::ClientId;
use crm_core::TimelineQuery;
use std::ffi::c_char;

/// Writes one page of the timeline of client `client_id`, newest first, to `*out_json`:
/// `{"items":[entry, ...],"next":"cursor"}`; pass `next` as `"after"` for the following page
/// (null on the last one), or use `crm_client_timeline_cursor`.
///
/// Each entry has `"at"` (RFC 3339) and a `"type"`:
/// `{"at":"...","type":"activity","activity":{...}}` (an activity of the client or its deals),
/// `{"at":"...","type":"stage_change","event":{...},"deal_title":"..."}` (a deal created or
/// moved, the event as in `crm_deal_history`), or `{"at":"...","type":"change","entry":{...}}`
/// (an audited change, the entry as in `crm_audit_entries`). Only what the actor may read is
/// listed; CRM_STATUS_NOT_FOUND if the actor may not read the client.
///
/// `query_json`: `{"limit":50,"after":null}`, both optional; `limit` is 1-500 (default 50).
#[no_mangle]
pub unsafe extern "C" fn crm_client_timeline(
    ctx: *const crm_ctx,
    client_id: i64,
    query_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let query: TimelineQuery = unsafe { arg_json(query_json, "query_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let page = ctx.run(|crm, c| crm.client_timeline(c, ClientId(client_id), &query))?;
        unsafe { out.write_json(&page) }
    })
}
