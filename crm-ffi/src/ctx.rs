//! `crm_ctx`: the acting context, i.e. who performs a call.
//!
//! Every data call takes one. A context is made for a user (bound by their roles) or, for
//! bootstrap and maintenance, for the audited system context. It remembers its database, so the
//! data calls take only the context.

use crate::db::{crm_db, db_arg, Shared};
use crate::error::{crm_status, FfiError};
use crate::handle::{self, Kind};
use crate::strings::{arg_str, Out};
use crm_core::ids::UserId;
use crm_core::{Crm, Ctx};
use std::ffi::c_char;
use std::sync::Arc;

/// An acting context: a user of one database, or the system context of one database. Immutable
/// and thread-safe: one context may be used by several threads at once. Free it with
/// `crm_ctx_free`; it may outlive its `crm_db` (calls then fail with CRM_STATUS_DB_CLOSED).
pub struct crm_ctx {
    pub(crate) inner: Arc<CtxInner>,
}

/// What a call needs from a context: the database and the actor.
pub struct CtxInner {
    db: Arc<Shared>,
    ctx: Ctx,
}

impl CtxInner {
    /// Runs `f` with the engine and the actor, or fails with `CRM_STATUS_DB_CLOSED`.
    pub fn run<R>(&self, f: impl FnOnce(&Crm, &Ctx) -> crm_core::Result<R>) -> Result<R, FfiError> {
        self.db.with(|crm| f(crm, &self.ctx))
    }
}

/// Looks up a live `crm_ctx` argument.
///
/// # Safety
/// `ctx` is NULL or any pointer (only a live handle is dereferenced).
pub unsafe fn ctx_arg(ctx: *const crm_ctx) -> Result<Arc<CtxInner>, FfiError> {
    // SAFETY: forwarded contract.
    unsafe { handle::with_live(ctx, Kind::Ctx, "ctx", |h| h.inner.clone()) }
}

fn new_ctx(
    db: Arc<Shared>,
    make: impl FnOnce(&Crm) -> crm_core::Result<Ctx>,
) -> Result<*mut crm_ctx, FfiError> {
    let ctx = db.with(make)?;
    Ok(handle::register(
        crm_ctx {
            inner: Arc::new(CtxInner { db, ctx }),
        },
        Kind::Ctx,
    ))
}

/// Makes a context acting as user `user_id` and writes it to `*out_ctx` (free it with
/// `crm_ctx_free`). Fails with CRM_STATUS_NOT_FOUND for an unknown user. A deactivated user
/// gets a context, but every call with it fails with CRM_STATUS_INACTIVE_USER.
#[no_mangle]
pub unsafe extern "C" fn crm_ctx_new_user(
    db: *const crm_db,
    user_id: i64,
    out_ctx: *mut *mut crm_ctx,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let db = unsafe { db_arg(db) }?;
        let out = Out::new(out_ctx, "out_ctx")?;
        let ctx = new_ctx(db, |crm| crm.user_context(UserId(user_id)))?;
        unsafe { out.write(ctx) };
        Ok(())
    })
}

/// Makes the system context, for bootstrap and maintenance by the host, and writes it to
/// `*out_ctx` (free it with `crm_ctx_free`). It may do anything. `reason` (1-200 characters,
/// e.g. "nightly import") is written to the audit log now and with every change made through
/// this context.
#[no_mangle]
pub unsafe extern "C" fn crm_ctx_new_system(
    db: *const crm_db,
    reason: *const c_char,
    out_ctx: *mut *mut crm_ctx,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let db = unsafe { db_arg(db) }?;
        let reason = unsafe { arg_str(reason, "reason") }?;
        let out = Out::new(out_ctx, "out_ctx")?;
        let ctx = new_ctx(db, |crm| crm.system_context(reason))?;
        unsafe { out.write(ctx) };
        Ok(())
    })
}

/// Writes who acts through this context to `*out_json`: `{"kind":"user","user_id":7}` or
/// `{"kind":"system","reason":"nightly import"}`. Free it with `crm_string_free`.
#[no_mangle]
pub unsafe extern "C" fn crm_ctx_actor(
    ctx: *const crm_ctx,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let actor = ctx.run(|_, c| Ok(c.actor().clone()))?;
        unsafe { out.write_json(&actor) }
    })
}

/// Frees a context. NULL is ignored. Safe from any thread, before or after `crm_db_close`;
/// cursors made from the context keep working.
#[no_mangle]
pub unsafe extern "C" fn crm_ctx_free(ctx: *mut crm_ctx) {
    ffi_boundary!(on_panic = (), {
        // SAFETY: only a live handle is taken back.
        unsafe { handle::destroy(ctx, Kind::Ctx, "ctx", drop) }
    })
}
