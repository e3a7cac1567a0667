//! `crm_cursor`: walks a paginated list page by page.
//!
//! A cursor remembers its query and where the last page ended; each `crm_cursor_next` fetches
//! the next page with one call into the engine and returns it as one JSON array. It holds its
//! context (and so its database) alive: after `crm_db_close` it answers `CRM_STATUS_DB_CLOSED`.

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg, CtxInner};
use crate::error::FfiError;
use crate::handle::{self, Kind};
use crate::strings::{arg_json, to_c_json, Out};
use crm_core::ids::ClientId;
use crm_core::model::{ClientQuery, DealQuery, SearchQuery};
use crm_core::{AuditQuery, TimelineQuery};
use std::ffi::c_char;
use std::ptr;
use std::sync::{Arc, Mutex, PoisonError};

/// A position in a paginated list: the clients of a query, the hits of a search, the audit
/// log, the deals of a query or a client's timeline. Use it from one thread at a time (it may
/// move between threads). Free it with `crm_cursor_free`, before or after its context and
/// database.
pub struct crm_cursor {
    state: Arc<Mutex<State>>,
}

struct State {
    ctx: Arc<CtxInner>,
    source: Source,
    done: bool,
}

enum Source {
    Clients(ClientQuery),
    Search(SearchQuery),
    Audit(AuditQuery),
    Deals(DealQuery),
    Timeline(ClientId, TimelineQuery),
}

impl State {
    /// Fetches the next page as a JSON string, or `None` at the end.
    fn next(&mut self) -> Result<Option<*mut c_char>, FfiError> {
        if self.done {
            return Ok(None);
        }
        let json = match &mut self.source {
            Source::Clients(q) => {
                let page = self.ctx.run(|crm, c| crm.list_clients(c, q))?;
                if page.items.is_empty() {
                    self.done = true;
                    return Ok(None);
                }
                let json = to_c_json(&page.items)?;
                self.done = page.next.is_none();
                q.after = page.next;
                json
            }
            Source::Search(q) => {
                let page = self.ctx.run(|crm, c| crm.search_clients(c, q))?;
                if page.items.is_empty() {
                    self.done = true;
                    return Ok(None);
                }
                let json = to_c_json(&page.items)?;
                self.done = page.next.is_none();
                q.after = page.next;
                json
            }
            Source::Audit(q) => {
                let entries = self.ctx.run(|crm, c| crm.audit_entries(c, q))?;
                let Some(last) = entries.last() else {
                    self.done = true;
                    return Ok(None);
                };
                let json = to_c_json(&entries)?;
                self.done = entries.len() < q.limit.unwrap_or(50) as usize;
                q.before = Some(last.id.0);
                json
            }
            Source::Deals(q) => {
                let page = self.ctx.run(|crm, c| crm.list_deals(c, q))?;
                if page.items.is_empty() {
                    self.done = true;
                    return Ok(None);
                }
                let json = to_c_json(&page.items)?;
                self.done = page.next.is_none();
                q.after = page.next;
                json
            }
            Source::Timeline(client, q) => {
                let page = self.ctx.run(|crm, c| crm.client_timeline(c, *client, q))?;
                if page.items.is_empty() {
                    self.done = true;
                    return Ok(None);
                }
                let json = to_c_json(&page.items)?;
                self.done = page.next.is_none();
                q.after = page.next;
                json
            }
        };
        Ok(Some(json))
    }
}

unsafe fn new_cursor(
    ctx: *const crm_ctx,
    out_cursor: *mut *mut crm_cursor,
    source: impl FnOnce() -> Result<Source, FfiError>,
) -> Result<(), FfiError> {
    // SAFETY (all blocks below): arguments are valid for the call by the C contract.
    let ctx = unsafe { ctx_arg(ctx) }?;
    let source = source()?;
    let out = Out::new(out_cursor, "out_cursor")?;
    // Fail now, not at the first page, if the database is already closed.
    ctx.run(|_, _| Ok(()))?;
    let state = State {
        ctx,
        source,
        done: false,
    };
    let cursor = crm_cursor {
        state: Arc::new(Mutex::new(state)),
    };
    unsafe { out.write(handle::register(cursor, Kind::Cursor)) };
    Ok(())
}

/// Makes a cursor over the clients that `query_json` selects (the same query object as
/// `crm_client_list`; its `"limit"` is the page size, its `"after"` where to start) and writes
/// it to `*out_cursor`. Fetch pages with `crm_cursor_next`; free it with `crm_cursor_free`.
#[no_mangle]
pub unsafe extern "C" fn crm_client_list_cursor(
    ctx: *const crm_ctx,
    query_json: *const c_char,
    out_cursor: *mut *mut crm_cursor,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        unsafe {
            new_cursor(ctx, out_cursor, || {
                Ok(Source::Clients(arg_json(query_json, "query_json")?))
            })
        }
    })
}

/// Makes a cursor over the hits of a full-text search (the same query object as
/// `crm_client_search`) and writes it to `*out_cursor`.
#[no_mangle]
pub unsafe extern "C" fn crm_client_search_cursor(
    ctx: *const crm_ctx,
    query_json: *const c_char,
    out_cursor: *mut *mut crm_cursor,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        unsafe {
            new_cursor(ctx, out_cursor, || {
                Ok(Source::Search(arg_json(query_json, "query_json")?))
            })
        }
    })
}

/// Makes a cursor over the audit log, newest entries first (the same query object as
/// `crm_audit_entries`), and writes it to `*out_cursor`. Administrators and the system context
/// only (checked at each page).
#[no_mangle]
pub unsafe extern "C" fn crm_audit_entries_cursor(
    ctx: *const crm_ctx,
    query_json: *const c_char,
    out_cursor: *mut *mut crm_cursor,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        unsafe {
            new_cursor(ctx, out_cursor, || {
                Ok(Source::Audit(arg_json(query_json, "query_json")?))
            })
        }
    })
}

/// Makes a cursor over the deals that `query_json` selects (the same query object as
/// `crm_deal_list`; its `"limit"` is the page size, its `"after"` where to start) and writes it
/// to `*out_cursor`. Each `crm_cursor_next` gives a JSON array of deals, newest first. Since
/// ABI 1.1.
#[no_mangle]
pub unsafe extern "C" fn crm_deal_list_cursor(
    ctx: *const crm_ctx,
    query_json: *const c_char,
    out_cursor: *mut *mut crm_cursor,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        unsafe {
            new_cursor(ctx, out_cursor, || {
                Ok(Source::Deals(arg_json(query_json, "query_json")?))
            })
        }
    })
}

/// Makes a cursor over the timeline of client `client_id`, newest first (the same query
/// object as `crm_client_timeline`), and writes it to `*out_cursor`. Each `crm_cursor_next`
/// gives a JSON array of timeline entries. Since ABI 1.1.
#[no_mangle]
pub unsafe extern "C" fn crm_client_timeline_cursor(
    ctx: *const crm_ctx,
    client_id: i64,
    query_json: *const c_char,
    out_cursor: *mut *mut crm_cursor,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        unsafe {
            new_cursor(ctx, out_cursor, || {
                Ok(Source::Timeline(
                    ClientId(client_id),
                    arg_json(query_json, "query_json")?,
                ))
            })
        }
    })
}

/// Fetches the next page. On success `*out_json` is either a JSON array holding the page's
/// records (never empty; free it with `crm_string_free`), or NULL when the list is exhausted;
/// every later call gives NULL too. A typical loop:
///
/// ```c
/// char *page;
/// while ((st = crm_cursor_next(cur, &page)) == CRM_STATUS_OK && page != NULL) {
///     use(page);
///     crm_string_free(page);
/// }
/// ```
///
/// On failure nothing is written and the cursor stays where it was, so the call may be retried.
/// After `crm_db_close` it fails with CRM_STATUS_DB_CLOSED.
#[no_mangle]
pub unsafe extern "C" fn crm_cursor_next(
    cursor: *mut crm_cursor,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let state =
            unsafe { handle::with_live(cursor, Kind::Cursor, "cursor", |c| c.state.clone()) }?;
        let out = Out::new(out_json, "out_json")?;
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        let page = state.next()?;
        unsafe { out.write(page.unwrap_or(ptr::null_mut())) };
        Ok(())
    })
}

/// Frees a cursor. NULL is ignored. Safe before or after its context and database are freed.
#[no_mangle]
pub unsafe extern "C" fn crm_cursor_free(cursor: *mut crm_cursor) {
    ffi_boundary!(on_panic = (), {
        // SAFETY: only a live handle is taken back.
        unsafe { handle::destroy(cursor, Kind::Cursor, "cursor", drop) }
    })
}
