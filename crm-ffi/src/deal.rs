//! Deals: opportunities moving through the stages of a pipeline. Writes, reads, pages and the
//! stage history. (The cursor over deals, `crm_deal_list_cursor`, is in the cursor module.)

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::strings::{arg_json, Out};
use crm_core::ids::{DealId, UserId};
use crm_core::model::{DealQuery, DealUpdate, NewDeal, StageMove};
use std::ffi::c_char;

/// Creates a deal and writes the stored record to `*out_json`:
/// `{"id":5,"title":"Nordwind: 40 licences","client_id":7,"contact_id":null,"pipeline_id":1,
/// "stage_id":1,"status":"open","amount_minor":1200000,"currency":"EUR",
/// "probability_override":null,"probability":10,"expected_close_date":"2027-03-31",
/// "owner_id":3,"department_id":2,"open":false,"custom":{},"lost_reason":null,
/// "closed_at":null,"stage_entered_at":"2026-11-25T09:30:00.123Z","version":1,
/// "created_at":"...","updated_at":"...","external_id":null}`.
///
/// `deal_json` needs `title`, `pipeline_id` and `currency` (ISO 4217); optional:
/// `client_id`, `contact_id` (a person who is the client's contact), `stage_id` (an open stage;
/// default the pipeline's first open stage), `amount_minor` (minor units, default 0),
/// `probability_override` (0-100), `expected_close_date` ("YYYY-MM-DD"), `owner_id` (default
/// the acting user; required with the system context), `open`, `custom`, `external_id`,
/// `created_at` (RFC 3339, for importing history). The stage's required fields must be present
/// and the deal must lie inside the actor's create level.
#[no_mangle]
pub unsafe extern "C" fn crm_deal_create(
    ctx: *const crm_ctx,
    deal_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let new: NewDeal = unsafe { arg_json(deal_json, "deal_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let deal = ctx.run(|crm, c| crm.create_deal(c, &new))?;
        unsafe { out.write_json(&deal) }
    })
}

/// Reads one deal and writes it to `*out_json` (see `crm_deal_create`). CRM_STATUS_NOT_FOUND
/// if it does not exist or the acting user may not read it.
#[no_mangle]
pub unsafe extern "C" fn crm_deal_get(
    ctx: *const crm_ctx,
    deal_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let deal = ctx.run(|crm, c| crm.get_deal(c, DealId(deal_id)))?;
        unsafe { out.write_json(&deal) }
    })
}

/// Changes fields of a deal (not its stage: `crm_deal_move`; not its owner: `crm_deal_assign`)
/// and writes the new record to `*out_json`.
///
/// `expected_version` is the `version` the caller read (CRM_STATUS_CONFLICT if it is stale).
/// `update_json` holds only the fields to change: `title`, `client_id`, `contact_id`,
/// `amount_minor`, `currency`, `probability_override`, `expected_close_date`, `open`,
/// `external_id` (null clears a nullable field) and `custom` (merged; a key set to null removes
/// it), e.g. `{"amount_minor":1500000,"expected_close_date":"2027-04-30"}`. The current stage's
/// required fields must stay present.
#[no_mangle]
pub unsafe extern "C" fn crm_deal_update(
    ctx: *const crm_ctx,
    deal_id: i64,
    expected_version: i64,
    update_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let update: DealUpdate = unsafe { arg_json(update_json, "update_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let deal =
            ctx.run(|crm, c| crm.update_deal(c, DealId(deal_id), expected_version, &update))?;
        unsafe { out.write_json(&deal) }
    })
}

/// Moves a deal to another stage of its pipeline and writes the new record to `*out_json`.
///
/// `move_json`: `{"stage_id":4}`, or for a lost stage `{"stage_id":6,"lost_reason":"price"}`
/// (required there); `"at"` (RFC 3339, not in the future) backdates the move when importing
/// history. Needs the change-stage permission; the stage's `allowed_next` rules and required
/// fields apply (else CRM_STATUS_VALIDATION naming `stage_id`). Entering a won or lost stage
/// closes the deal, entering an open stage from a closed one reopens it; every move is
/// recorded in `crm_deal_history`. CRM_STATUS_CONFLICT if `expected_version` is stale.
#[no_mangle]
pub unsafe extern "C" fn crm_deal_move(
    ctx: *const crm_ctx,
    deal_id: i64,
    expected_version: i64,
    move_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let stage_move: StageMove = unsafe { arg_json(move_json, "move_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let deal =
            ctx.run(|crm, c| crm.move_deal(c, DealId(deal_id), expected_version, &stage_move))?;
        unsafe { out.write_json(&deal) }
    })
}

/// Gives a deal to another owner and writes the new record to `*out_json`. Needs the assign
/// permission; the deal with its new owner must stay inside the actor's assign level. The
/// department stamp follows the owner.
#[no_mangle]
pub unsafe extern "C" fn crm_deal_assign(
    ctx: *const crm_ctx,
    deal_id: i64,
    expected_version: i64,
    new_owner_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let deal = ctx.run(|crm, c| {
            crm.assign_deal(c, DealId(deal_id), expected_version, UserId(new_owner_id))
        })?;
        unsafe { out.write_json(&deal) }
    })
}

/// Deletes a deal for good, with its stage history (needs the delete permission). Its
/// activities stay, unlinked from it. CRM_STATUS_CONFLICT if `expected_version` is stale.
#[no_mangle]
pub unsafe extern "C" fn crm_deal_delete(
    ctx: *const crm_ctx,
    deal_id: i64,
    expected_version: i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        ctx.run(|crm, c| crm.delete_deal(c, DealId(deal_id), expected_version))?;
        Ok(())
    })
}

/// Writes one page of the deals the actor may read, newest first, to `*out_json`:
/// `{"items":[deal, ...],"next":"cursor"}`; `next` is null on the last page, otherwise pass it
/// as `"after"` to get the following page (or use `crm_deal_list_cursor`).
///
/// `query_json`, every key optional (`{}` lists everything): `{"pipeline_id":1,"stage_id":3,
/// "status":"open","client_id":7,"owner_id":3,"limit":50,"after":null}`; `status` is "open",
/// "won" or "lost"; `limit` is 1-500 (default 50).
#[no_mangle]
pub unsafe extern "C" fn crm_deal_list(
    ctx: *const crm_ctx,
    query_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let query: DealQuery = unsafe { arg_json(query_json, "query_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let page = ctx.run(|crm, c| crm.list_deals(c, &query))?;
        unsafe { out.write_json(&page) }
    })
}

/// Writes the stage history of a deal the actor may read to `*out_json`, oldest first, as a
/// JSON array of `{"id":9,"deal_id":5,"from_stage_id":1,"to_stage_id":2,
/// "at":"2026-11-25T09:30:00.123Z","actor_id":3}` (`from_stage_id` is null for the creation,
/// `actor_id` null for the system context).
#[no_mangle]
pub unsafe extern "C" fn crm_deal_history(
    ctx: *const crm_ctx,
    deal_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let events = ctx.run(|crm, c| crm.deal_history(c, DealId(deal_id)))?;
        unsafe { out.write_json(&events) }
    })
}
