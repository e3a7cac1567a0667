//! The audit log: verify its hash chain, read its entries (administrators and system only).

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::strings::{arg_json, Out};
use crm_core::AuditQuery;
use std::ffi::c_char;

/// Re-computes the audit log's whole hash chain and writes the report to `*out_json`:
/// `{"entries":120,"ok":true,"problems":[]}`. Each problem is `{"kind":"edited","id":7}`,
/// `{"kind":"removed","id":9}` or `{"kind":"tail_removed","last_present":118,"expected_last":120}`.
/// A broken chain is a successful call with `"ok":false`. Administrators and the system context
/// only.
#[no_mangle]
pub unsafe extern "C" fn crm_audit_verify(
    ctx: *const crm_ctx,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let report = ctx.run(|crm, c| crm.verify_audit(c))?;
        unsafe { out.write_json(&report) }
    })
}

/// Writes one page of audit entries, newest first, to `*out_json` as a JSON array of
/// `{"id":12,"at_ms":1732000000000,"actor_kind":"user","actor_id":3,"actor_note":null,
/// "action":"client.update","entity":"client","entity_id":5,"outcome":"ok","detail":"{...}"}`
/// (`detail` is itself a JSON document in a string: the field-level diff
/// `{"field":[old,new]}` or the reason of a denial).
///
/// `query_json`, every key optional: `{"entity":"client","entity_id":5,"before":100,"limit":50}`;
/// `before` is an entry id (pass the last id of a page to get the next one). Administrators and
/// the system context only.
#[no_mangle]
pub unsafe extern "C" fn crm_audit_entries(
    ctx: *const crm_ctx,
    query_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let query: AuditQuery = unsafe { arg_json(query_json, "query_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let entries = ctx.run(|crm, c| crm.audit_entries(c, &query))?;
        unsafe { out.write_json(&entries) }
    })
}
