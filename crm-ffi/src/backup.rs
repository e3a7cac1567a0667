//! Backups: online copies while other threads keep working, checks of a copy, restores, and
//! rotation for hosts that back up from their own timer. Administrators and the system context
//! only.

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::progress::{crm_progress_fn, Progress};
use crate::strings::{arg_json, arg_str, to_c_string, Out};
use crm_core::{CopyProgress, RestoreTarget};
use serde::Serialize;
use std::ffi::{c_char, c_void};
use std::path::Path;

/// The progress closure of a copy: pages done and pages in all.
fn pages(progress: Progress) -> impl FnMut(CopyProgress) -> bool {
    move |p: CopyProgress| progress.report(p.done, p.total)
}

/// Copies the open database to a new file at `path` (which must not exist, else
/// CRM_STATUS_IO) with SQLite's online backup API. Other threads keep reading and writing
/// meanwhile; the copy is the consistent state of the moment the backup started. The file
/// appears under `path` only once complete: a failed or cancelled backup leaves nothing.
/// `progress` (NULL for none) gets the database pages copied and the total after each step;
/// returning 0 cancels (CRM_STATUS_CANCELLED). Administrators and the system context only;
/// audited.
#[no_mangle]
pub unsafe extern "C" fn crm_backup_create(
    ctx: *const crm_ctx,
    path: *const c_char,
    progress: crm_progress_fn,
    user_data: *mut c_void,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let path = Path::new(unsafe { arg_str(path, "path") }?);
        let mut report = pages(Progress::new(progress, user_data));
        ctx.run(|crm, c| crm.backup(c, path, &mut report))?;
        Ok(())
    })
}

/// Checks a database file (a backup) without changing it and writes the result to
/// `*out_json`: `{"path":"...","schema_version":7,"integrity_problems":[],"audit":{"entries":
/// 120,"ok":true,"problems":[]},"ok":true}`. `ok` is true when SQLite finds the file sound, its
/// audit chain is intact and this library can read its schema; a damaged file is a successful
/// call with `"ok":false` (CRM_STATUS_IO only when the file does not exist, CRM_STATUS_STORAGE
/// when it is not a database at all). Administrators and the system context only.
#[no_mangle]
pub unsafe extern "C" fn crm_backup_verify(
    ctx: *const crm_ctx,
    path: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let path = Path::new(unsafe { arg_str(path, "path") }?);
        let out = Out::new(out_json, "out_json")?;
        let check = ctx.run(|crm, c| crm.verify_backup(c, path))?;
        unsafe { out.write_json(&check) }
    })
}

/// What `crm_backup_restore` reports.
#[derive(Serialize)]
struct Restored {
    safety_copy: Option<String>,
}

/// Restores the backup file at `path`, after checking it as `crm_backup_verify` does
/// (CRM_STATUS_VALIDATION if the check fails), and writes `{"safety_copy":null}` or
/// `{"safety_copy":"/data/crm.db.pre-restore-20261125T093000123Z.db"}` to `*out_json`.
///
/// `target_json` says where to: `{"kind":"new_file","path":"/data/restored.db"}` copies it to a
/// new database file (which must not exist; the open database is untouched), and
/// `{"kind":"current"}` restores it over the open database, after first copying the current
/// state to the safety copy beside the database file (its path is returned). Other threads see
/// either the old or the restored state. `progress` (NULL for none) gets the pages copied and
/// the total; returning 0 cancels (CRM_STATUS_CANCELLED; a new file is then not created).
/// Administrators and the system context only; audited in the restored database.
#[no_mangle]
pub unsafe extern "C" fn crm_backup_restore(
    ctx: *const crm_ctx,
    path: *const c_char,
    target_json: *const c_char,
    progress: crm_progress_fn,
    user_data: *mut c_void,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let path = Path::new(unsafe { arg_str(path, "path") }?);
        let target: RestoreTarget = unsafe { arg_json(target_json, "target_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let mut report = pages(Progress::new(progress, user_data));
        let safety = ctx.run(|crm, c| crm.restore(c, path, &target, &mut report))?;
        let restored = Restored {
            safety_copy: safety.map(|p| p.to_string_lossy().into_owned()),
        };
        unsafe { out.write_json(&restored) }
    })
}

/// Writes a new backup into folder `dir` (created if needed), named
/// `crm-backup-<UTC time>.db`, then deletes the oldest such files beyond the newest `keep`
/// (>= 1; other files are left alone), and writes the new file's path to `*out_path` (free it
/// with `crm_string_free`). For hosts that back up from their own timer. `progress` as for
/// `crm_backup_create`.
#[no_mangle]
pub unsafe extern "C" fn crm_backup_rotate(
    ctx: *const crm_ctx,
    dir: *const c_char,
    keep: u32,
    progress: crm_progress_fn,
    user_data: *mut c_void,
    out_path: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let dir = Path::new(unsafe { arg_str(dir, "dir") }?);
        let out = Out::new(out_path, "out_path")?;
        let mut report = pages(Progress::new(progress, user_data));
        let file = ctx.run(|crm, c| crm.backup_rotate(c, dir, keep as usize, &mut report))?;
        unsafe { out.write(to_c_string(file.to_string_lossy().into_owned())?) };
        Ok(())
    })
}
