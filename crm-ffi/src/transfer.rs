//! Import and export: a company's old data in (CSV or JSON lines, mapped, matched, validated row
//! by row), and every record the actor may export out, in the columns the importer reads.

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg, CtxInner};
use crate::error::FfiError;
use crate::progress::{crm_progress_fn, Progress};
use crate::strings::{arg_bytes, arg_json, arg_str, to_c_string, Out};
use crm_core::model::{ExportSpec, ImportProgress, ImportReport, ImportSpec};
use crm_core::CrmError;
use std::ffi::{c_char, c_void};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Runs an import of `input` (of `size` bytes, when known).
fn import(
    inner: &CtxInner,
    spec: &ImportSpec,
    input: impl Read,
    size: Option<u64>,
    progress: Progress,
) -> Result<ImportReport, FfiError> {
    inner.run(|crm, c| {
        crm.import(c, spec, input, size, &mut |p: ImportProgress| {
            progress.report(p.bytes_done, p.bytes_total.unwrap_or(0))
        })
    })
}

/// Imports the file at `path` as described by `spec_json` and writes the report to
/// `*out_report_json`:
/// `{"rows":120,"created":100,"updated":15,"unchanged":3,"invalid":2,"errors":[{"row":7,
/// "column":"E-Mail","message":"email: ..."}],"dry_run":false,"batches_committed":1}`
/// (`errors` holds the first 1,000 row errors; rows are numbered from 1 after the header).
///
/// `spec_json` describes the job; only `records` is required:
/// `{"records":"clients","format":"csv","columns":{"Firma":"name","USt-IdNr":"tax_id",
/// "E-Mail":"email","Kundennr":["external_id","custom.erp_no"]},"defaults":{"kind":
/// "organization"},"match_on":["external_id","tax_id"],"on_match":"update",
/// "mode":"all_or_nothing","dry_run":false}`.
/// `records`: "clients", "contacts", "deals" or "activities"; `format`: "csv" (UTF-8, header
/// row; default) or "json_lines"; `columns` maps a source column to a target field (or a list
/// of fields); without `columns` each column maps to the field of its own name. `match_on`
/// (default `["external_id"]`): "external_id", "tax_id", "email", "phone", "name". `on_match`:
/// "update" (default) or "skip". `mode`: "all_or_nothing" (default: one transaction; if any row
/// is invalid nothing is written and the report says why) or "skip_invalid" (invalid rows are
/// reported and skipped, the rest committed in batches of `batch_size`, default 5000). Deals
/// also take `"pipeline"` (its name) and `"stage_names"`; `"value_map"` fixes spellings per
/// field. `dry_run` validates everything and writes nothing. docs/c-api.md lists the target
/// fields of each record kind.
///
/// `progress` (NULL for none) is called about every 1,000 rows and at the end with the bytes
/// read so far and the file's size; returning 0 cancels: CRM_STATUS_CANCELLED, and an
/// all-or-nothing import writes nothing (a skip_invalid import keeps the batches committed
/// before). `user_data` is passed to it unchanged. Needs the import permission; each record
/// must lie inside the actor's import level. CRM_STATUS_IO if the file cannot be read.
#[no_mangle]
pub unsafe extern "C" fn crm_import_file(
    ctx: *const crm_ctx,
    spec_json: *const c_char,
    path: *const c_char,
    progress: crm_progress_fn,
    user_data: *mut c_void,
    out_report_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let inner = unsafe { ctx_arg(ctx) }?;
        let spec: ImportSpec = unsafe { arg_json(spec_json, "spec_json") }?;
        let path = Path::new(unsafe { arg_str(path, "path") }?);
        let out = Out::new(out_report_json, "out_report_json")?;
        let file = File::open(path).map_err(|e| CrmError::io(path, e))?;
        let size = file.metadata().ok().map(|m| m.len());
        let progress = Progress::new(progress, user_data);
        let report = import(&inner, &spec, file, size, progress)?;
        unsafe { out.write_json(&report) }
    })
}

/// Like `crm_import_file`, reading the `len` bytes at `data` instead of a file (the progress
/// total is `len`). `data` may be NULL only when `len` is 0. The library does not keep the
/// buffer after the call returns.
#[no_mangle]
pub unsafe extern "C" fn crm_import_buffer(
    ctx: *const crm_ctx,
    spec_json: *const c_char,
    data: *const u8,
    len: usize,
    progress: crm_progress_fn,
    user_data: *mut c_void,
    out_report_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let inner = unsafe { ctx_arg(ctx) }?;
        let spec: ImportSpec = unsafe { arg_json(spec_json, "spec_json") }?;
        let bytes = unsafe { arg_bytes(data, len, "data") }?;
        let out = Out::new(out_report_json, "out_report_json")?;
        let progress = Progress::new(progress, user_data);
        let report = import(&inner, &spec, bytes, Some(len as u64), progress)?;
        unsafe { out.write_json(&report) }
    })
}

/// The engine names its output "export output" in I/O errors; for a file, name the file.
fn name_output(e: CrmError, path: &Path) -> CrmError {
    match e {
        CrmError::Io { path: p, message } if p == "export output" => CrmError::io(path, message),
        other => other,
    }
}

/// A new, empty temporary file beside `path`, invisible to the usual globs.
fn temp_beside(path: &Path) -> Result<(PathBuf, File), CrmError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| CrmError::invalid("path", "names no file"))?;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}-{n}.crm-partial", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CrmError::io(path, e)),
        }
    }
}

/// Exports into a temporary file beside `path` and renames it into place once complete.
fn export_to_file(
    inner: &CtxInner,
    spec: &ExportSpec,
    path: &Path,
    progress: Progress,
) -> Result<u64, FfiError> {
    let (tmp, file) = temp_beside(path)?;
    let result = (|| {
        let mut writer = BufWriter::new(file);
        let n = inner.run(|crm, c| {
            crm.export(c, spec, &mut writer, &mut |n| progress.report(n, 0))
                .map_err(|e| name_output(e, path))
        })?;
        let file = writer
            .into_inner()
            .map_err(|e| CrmError::io(path, e.error()))?;
        file.sync_all().map_err(|e| CrmError::io(path, e))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| CrmError::io(path, e))?;
        Ok(n)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Exports every record of one kind that the actor may export to the file at `path`, in the
/// columns `crm_import_file` reads (references by external id, or `#<id>` for records without
/// one; users by e-mail; stages by name; custom fields as `custom.<key>`), and writes the
/// number of records to `*out_count`.
///
/// `spec_json`: `{"records":"clients","format":"csv","neutralize_formulas":true,
/// "include_archived":true}`; only `records` ("clients", "contacts", "deals", "activities") is
/// required; `format` is "csv" (default) or "json_lines"; `neutralize_formulas` (default true)
/// puts a `'` before CSV values a spreadsheet would run as a formula.
///
/// The export is written to a temporary file in the same folder and renamed to `path` only
/// when complete, so a failed or cancelled export leaves no partial file (and an existing file
/// at `path` is replaced only on success). `progress` (NULL for none) is called every 1,000
/// records with the number written so far (total 0: unknown); returning 0 cancels
/// (CRM_STATUS_CANCELLED). CRM_STATUS_IO if the file cannot be written. Audited.
#[no_mangle]
pub unsafe extern "C" fn crm_export_file(
    ctx: *const crm_ctx,
    spec_json: *const c_char,
    path: *const c_char,
    progress: crm_progress_fn,
    user_data: *mut c_void,
    out_count: *mut u64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let inner = unsafe { ctx_arg(ctx) }?;
        let spec: ExportSpec = unsafe { arg_json(spec_json, "spec_json") }?;
        let path = Path::new(unsafe { arg_str(path, "path") }?);
        let out = Out::new(out_count, "out_count")?;
        let n = export_to_file(&inner, &spec, path, Progress::new(progress, user_data))?;
        unsafe { out.write(n) };
        Ok(())
    })
}

/// Like `crm_export_file`, but writes the whole export to `*out_data` as one NUL-terminated
/// string (CSV or JSON lines, UTF-8; free it with `crm_string_free`) and its length in bytes,
/// without the terminating NUL, to `*out_len`. Meant for exports that fit in memory comfortably;
/// use `crm_export_file` for large ones.
#[no_mangle]
pub unsafe extern "C" fn crm_export_buffer(
    ctx: *const crm_ctx,
    spec_json: *const c_char,
    progress: crm_progress_fn,
    user_data: *mut c_void,
    out_data: *mut *mut c_char,
    out_len: *mut usize,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let inner = unsafe { ctx_arg(ctx) }?;
        let spec: ExportSpec = unsafe { arg_json(spec_json, "spec_json") }?;
        let out_data = Out::new(out_data, "out_data")?;
        let out_len = Out::new(out_len, "out_len")?;
        let progress = Progress::new(progress, user_data);
        let mut buf = Vec::new();
        inner.run(|crm, c| crm.export(c, &spec, &mut buf, &mut |n| progress.report(n, 0)))?;
        let text = String::from_utf8(buf).map_err(|_| {
            FfiError::new(
                crm_status::CRM_STATUS_ERROR,
                "the export is not valid UTF-8 and cannot be returned as a C string",
            )
        })?;
        let len = text.len();
        let data = to_c_string(text)?;
        unsafe {
            out_data.write(data);
            out_len.write(len);
        }
        Ok(())
    })
}
