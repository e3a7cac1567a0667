//! Clients: organisations and persons. Writes, reads, lists, search, duplicates and contacts.
//!
//! Records cross as JSON: a client is the JSON of `crm_core::model::Client`, a new client of
//! `NewClient`, a change of `ClientUpdate`, a list query of `ClientQuery`, a search of
//! `SearchQuery` (docs/c-api.md shows each).

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::strings::{arg_json, arg_opt_str, Out};
use crm_core::ids::{ClientId, UserId};
use crm_core::model::{ClientQuery, ClientUpdate, NewClient, SearchQuery};
use std::ffi::c_char;

/// Creates a client and writes the stored record to `*out_json`.
///
/// `client_json` is a new client, e.g.
/// `{"kind":"organization","name":"Acme Ltd","tax_id":"DE123","emails":[{"address":"info@acme.example"}],"owner_id":3}`.
/// Only `kind` ("organization" or "person") and `name` are required. `owner_id` defaults to
/// the acting user (it is required with the system context). The new record must lie inside the
/// actor's create level, else CRM_STATUS_PERMISSION_DENIED.
#[no_mangle]
pub unsafe extern "C" fn crm_client_create(
    ctx: *const crm_ctx,
    client_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let new: NewClient = unsafe { arg_json(client_json, "client_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let client = ctx.run(|crm, c| crm.create_client(c, &new))?;
        unsafe { out.write_json(&client) }
    })
}

/// Creates many clients in one transaction, all or nothing, and writes the JSON array of their
/// new ids, in input order, to `*out_json`, e.g. `[41,42,43]`.
///
/// `clients_json` is a JSON array of new clients (as for `crm_client_create`). A validation
/// error names the item, e.g. `invalid [12].emails[0].address: ...`. Much faster than one call
/// per client.
#[no_mangle]
pub unsafe extern "C" fn crm_client_create_batch(
    ctx: *const crm_ctx,
    clients_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let batch: Vec<NewClient> = unsafe { arg_json(clients_json, "clients_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let ids = ctx.run(|crm, c| crm.create_clients(c, &batch))?;
        unsafe { out.write_json(&ids) }
    })
}

/// Reads one client and writes it to `*out_json`. CRM_STATUS_NOT_FOUND if it does not exist or
/// the acting user may not read it.
#[no_mangle]
pub unsafe extern "C" fn crm_client_get(
    ctx: *const crm_ctx,
    client_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let client = ctx.run(|crm, c| crm.get_client(c, ClientId(client_id)))?;
        unsafe { out.write_json(&client) }
    })
}

/// Changes fields of a client and writes the new record to `*out_json`.
///
/// `expected_version` is the `version` of the record as the caller read it; if the record has
/// changed since, the call fails with CRM_STATUS_CONFLICT and changes nothing. `update_json`
/// holds only the fields to change, e.g. `{"name":"Acme GmbH","tax_id":null,"tags":["key"]}`:
/// an absent field is kept, `null` clears a nullable field, lists are replaced whole, and
/// `"custom"` merges (a key set to null removes that value). The owner is changed with
/// `crm_client_assign`.
#[no_mangle]
pub unsafe extern "C" fn crm_client_update(
    ctx: *const crm_ctx,
    client_id: i64,
    expected_version: i64,
    update_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let update: ClientUpdate = unsafe { arg_json(update_json, "update_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let client =
            ctx.run(|crm, c| crm.update_client(c, ClientId(client_id), expected_version, &update))?;
        unsafe { out.write_json(&client) }
    })
}

/// Archives a client (hidden from lists and search by default, kept with its history) and
/// writes the new record to `*out_json`. CRM_STATUS_CONFLICT if `expected_version` is stale,
/// CRM_STATUS_CONSTRAINT if it is already archived.
#[no_mangle]
pub unsafe extern "C" fn crm_client_archive(
    ctx: *const crm_ctx,
    client_id: i64,
    expected_version: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let client =
            ctx.run(|crm, c| crm.archive_client(c, ClientId(client_id), expected_version))?;
        unsafe { out.write_json(&client) }
    })
}

/// Restores an archived client and writes the new record to `*out_json`.
/// CRM_STATUS_CONSTRAINT if it is not archived.
#[no_mangle]
pub unsafe extern "C" fn crm_client_restore(
    ctx: *const crm_ctx,
    client_id: i64,
    expected_version: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let client =
            ctx.run(|crm, c| crm.restore_client(c, ClientId(client_id), expected_version))?;
        unsafe { out.write_json(&client) }
    })
}

/// Deletes a client for good (needs the delete permission), with its contact links.
/// CRM_STATUS_CONSTRAINT while organisations name it as their parent.
#[no_mangle]
pub unsafe extern "C" fn crm_client_delete(
    ctx: *const crm_ctx,
    client_id: i64,
    expected_version: i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        ctx.run(|crm, c| crm.delete_client(c, ClientId(client_id), expected_version))?;
        Ok(())
    })
}

/// Gives a client to another owner and writes the new record to `*out_json`. Needs the assign
/// permission; the record with its new owner (and so the owner's department) must stay inside
/// the actor's assign level.
#[no_mangle]
pub unsafe extern "C" fn crm_client_assign(
    ctx: *const crm_ctx,
    client_id: i64,
    expected_version: i64,
    new_owner_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let client = ctx.run(|crm, c| {
            crm.assign_client(
                c,
                ClientId(client_id),
                expected_version,
                UserId(new_owner_id),
            )
        })?;
        unsafe { out.write_json(&client) }
    })
}

/// Makes person `person_id` a contact of organisation `organization_id`, or changes the
/// position of an existing link. `position` (e.g. "CFO") may be NULL for none. Needs update on
/// the organisation and read on the person.
#[no_mangle]
pub unsafe extern "C" fn crm_client_link_contact(
    ctx: *const crm_ctx,
    organization_id: i64,
    person_id: i64,
    position: *const c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let position = unsafe { arg_opt_str(position, "position") }?;
        ctx.run(|crm, c| {
            crm.link_contact(c, ClientId(organization_id), ClientId(person_id), position)
        })?;
        Ok(())
    })
}

/// Removes the link between an organisation and a contact person. Needs update on the
/// organisation. CRM_STATUS_VALIDATION if the person is not its contact.
#[no_mangle]
pub unsafe extern "C" fn crm_client_unlink_contact(
    ctx: *const crm_ctx,
    organization_id: i64,
    person_id: i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        ctx.run(|crm, c| crm.unlink_contact(c, ClientId(organization_id), ClientId(person_id)))?;
        Ok(())
    })
}

/// Writes the contact people of an organisation that the actor may read to `*out_json`, as a
/// JSON array of links: `[{"organization_id":1,"person_id":2,"position":"CFO"}]`.
#[no_mangle]
pub unsafe extern "C" fn crm_client_contacts(
    ctx: *const crm_ctx,
    organization_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let links = ctx.run(|crm, c| crm.contacts_of(c, ClientId(organization_id)))?;
        unsafe { out.write_json(&links) }
    })
}

/// Writes the organisations a person is a contact of (among those the actor may read) to
/// `*out_json`, as a JSON array of links like `crm_client_contacts`.
#[no_mangle]
pub unsafe extern "C" fn crm_client_organizations(
    ctx: *const crm_ctx,
    person_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let links = ctx.run(|crm, c| crm.organizations_of(c, ClientId(person_id)))?;
        unsafe { out.write_json(&links) }
    })
}

/// Writes one page of the clients the actor may read, in name order, to `*out_json`:
/// `{"items":[client, ...],"next":"cursor"}`; `next` is null on the last page, otherwise pass
/// it as `"after"` to get the following page (or use `crm_client_list_cursor`).
///
/// `query_json` selects and pages, every key optional (`{}` lists everything):
/// `{"kind":"organization","archive":"active","owner_id":3,"department_id":2,"parent_id":10,
/// "tag":"key account","custom":[{"key":"segment","op":"eq","value":"smb"}],"limit":50,
/// "after":null}`. `limit` is 1-500 (default 50); `archive` is "active" (default) or
/// "archived".
#[no_mangle]
pub unsafe extern "C" fn crm_client_list(
    ctx: *const crm_ctx,
    query_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let query: ClientQuery = unsafe { arg_json(query_json, "query_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let page = ctx.run(|crm, c| crm.list_clients(c, &query))?;
        unsafe { out.write_json(&page) }
    })
}

/// Counts the clients the actor may read that `query_json` selects (as for `crm_client_list`;
/// its `limit` and `after` are ignored), stopping at `cap` so counting a huge set stays cheap.
/// Writes the count (at most `cap`) to `*out_count`, and to `*out_exact` 1 if that is the exact
/// number or 0 if counting stopped at the cap.
#[no_mangle]
pub unsafe extern "C" fn crm_client_count(
    ctx: *const crm_ctx,
    query_json: *const c_char,
    cap: u64,
    out_count: *mut u64,
    out_exact: *mut i32,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let query: ClientQuery = unsafe { arg_json(query_json, "query_json") }?;
        let out_count = Out::new(out_count, "out_count")?;
        let out_exact = Out::new(out_exact, "out_exact")?;
        let n = ctx.run(|crm, c| crm.count_clients(c, &query, cap))?;
        unsafe {
            out_count.write(n.count);
            out_exact.write(i32::from(n.exact));
        }
        Ok(())
    })
}

/// Full-text search over names, e-mails, phones and tax ids: each word matches as a prefix and
/// all words must match; newest clients first. Writes one page to `*out_json` like
/// `crm_client_list`.
///
/// `query_json`: `{"text":"acme berlin","kind":"organization","archive":"active","limit":50,
/// "after":null}`; only `text` is required.
#[no_mangle]
pub unsafe extern "C" fn crm_client_search(
    ctx: *const crm_ctx,
    query_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let query: SearchQuery = unsafe { arg_json(query_json, "query_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let page = ctx.run(|crm, c| crm.search_clients(c, &query))?;
        unsafe { out.write_json(&page) }
    })
}

/// Writes the clients the actor may read that may be the same as client `client_id` (same tax
/// id, e-mail, phone or normalised name; at most 50) to `*out_json`:
/// `[{"client":{...},"reasons":["tax_id","name"]}]`.
#[no_mangle]
pub unsafe extern "C" fn crm_client_duplicates(
    ctx: *const crm_ctx,
    client_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let found = ctx.run(|crm, c| crm.duplicates_of(c, ClientId(client_id)))?;
        unsafe { out.write_json(&found) }
    })
}

/// Like `crm_client_duplicates`, for a client about to be created: `client_json` is a new
/// client as for `crm_client_create`. Nothing is written to the database.
#[no_mangle]
pub unsafe extern "C" fn crm_client_find_duplicates(
    ctx: *const crm_ctx,
    client_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let new: NewClient = unsafe { arg_json(client_json, "client_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let found = ctx.run(|crm, c| crm.find_duplicates(c, &new))?;
        unsafe { out.write_json(&found) }
    })
}
