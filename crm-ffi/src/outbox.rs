//! The transactional outbox: every change to a client, deal or activity, in commit order, for
//! hosts that forward changes to other systems (and for plugins). Consumers keep their position
//! with `crm_outbox_ack`.

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::strings::{arg_json, arg_str, Out};
use std::ffi::c_char;

/// Writes up to `limit` (1-10000) events after event id `after` (0 for the start) to
/// `*out_json`, in commit order, as a JSON array of `{"id":41,"at":"2026-11-25T09:30:00.123Z",
/// "event_type":"deal.change_stage","entity":"deal","entity_id":5,"payload":{"actor":{...},
/// "changes":{"stage_id":[1,2]}}}`. Only events of records the actor may read are listed.
///
/// `types_json` is a JSON array of event types to keep, e.g. `["client.create",
/// "deal.change_stage"]`, or `[]` for every type. Pass the last id of a page as `after` to get
/// the next one; an empty array means the consumer is up to date.
#[no_mangle]
pub unsafe extern "C" fn crm_outbox_events(
    ctx: *const crm_ctx,
    after: i64,
    types_json: *const c_char,
    limit: u32,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let types: Vec<String> = unsafe { arg_json(types_json, "types_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let events = ctx.run(|crm, c| crm.outbox_events(c, after, &types, limit as usize))?;
        unsafe { out.write_json(&events) }
    })
}

/// Writes the id of the newest event to `*out_event_id` (0 when there is none).
#[no_mangle]
pub unsafe extern "C" fn crm_outbox_head(
    ctx: *const crm_ctx,
    out_event_id: *mut i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_event_id, "out_event_id")?;
        let head = ctx.run(|crm, c| crm.outbox_head(c))?;
        unsafe { out.write(head) };
        Ok(())
    })
}

/// Writes the id of the last event that `consumer` (a name of the host's choosing, 1-200
/// characters, e.g. "erp-sync") acknowledged to `*out_event_id` (0 if it never did).
/// Administrators and the system context only.
#[no_mangle]
pub unsafe extern "C" fn crm_outbox_acked(
    ctx: *const crm_ctx,
    consumer: *const c_char,
    out_event_id: *mut i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let consumer = unsafe { arg_str(consumer, "consumer") }?;
        let out = Out::new(out_event_id, "out_event_id")?;
        let acked = ctx.run(|crm, c| crm.outbox_cursor(c, consumer))?;
        unsafe { out.write(acked) };
        Ok(())
    })
}

/// Records that `consumer` has processed every event up to `event_id` and writes its stored
/// position to `*out_event_id`: the position never moves back, so acknowledging an older id
/// leaves it (and writes the newer one). Administrators and the system context only; not
/// audited (delivery bookkeeping).
#[no_mangle]
pub unsafe extern "C" fn crm_outbox_ack(
    ctx: *const crm_ctx,
    consumer: *const c_char,
    event_id: i64,
    out_event_id: *mut i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let consumer = unsafe { arg_str(consumer, "consumer") }?;
        let out = Out::new(out_event_id, "out_event_id")?;
        let acked = ctx.run(|crm, c| crm.outbox_ack(c, consumer, event_id))?;
        unsafe { out.write(acked) };
        Ok(())
    })
}

/// Deletes the events that every known consumer has acknowledged (always keeping the newest,
/// so event ids are never handed out twice) and writes how many to `*out_deleted`.
/// Administrators and the system context only; audited.
#[no_mangle]
pub unsafe extern "C" fn crm_outbox_prune(
    ctx: *const crm_ctx,
    out_deleted: *mut u64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_deleted, "out_deleted")?;
        let n = ctx.run(|crm, c| crm.outbox_prune(c))?;
        unsafe { out.write(n as u64) };
        Ok(())
    })
}
