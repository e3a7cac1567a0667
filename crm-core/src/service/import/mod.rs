//! Importing a company's old data: CSV or JSON lines, mapped column by column, matched against
//! what is already there, validated row by row, streamed with bounded memory.
//!
//! Modes: all-or-nothing (one transaction; any invalid row or a cancel writes nothing) or skip
//! invalid rows (committed in batches; a cancel or crash keeps only whole committed batches,
//! each recorded by an `import.batch` audit entry). A dry run validates everything inside a
//! transaction that is rolled back. Records go through the same validation and permission
//! checks as the API, authorised by the import action; the job is audited once (plus one entry
//! per batch), and every record still emits its outbox event.

mod activities;
mod clients;
mod contacts;
mod deals;
mod source;
mod values;

use crate::access::{Action, EntityType};
use crate::crm::{Crm, WriteCx};
use crate::error::{CrmError, Result};
use crate::ids::UserId;
use crate::model::{
    normalize, CustomField, ImportMode, ImportProgress, ImportReport, ImportSpec, Pipeline,
    RecordKind, RowError,
};
use crate::store::{clients as client_store, custom_fields, org, pipelines};
use crate::Ctx;
use source::{Row, Source};
use std::collections::HashMap;
use std::io::Read;

const MAX_ERRORS: usize = 1_000;
const PROGRESS_EVERY: u64 = 1_000;

/// What a row did.
pub(crate) enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// Why a row failed: its own fault (reported, the import goes on), a reference to a record
/// not there yet (the row is retried once after the others, so files need not be ordered
/// parents first), or the storage's (the import stops).
pub(crate) enum Failure {
    Row(RowError),
    Unresolved(RowError),
    Fatal(CrmError),
}

/// Turns an engine error about a row into a row error (or a fatal one for storage failures).
pub(crate) fn fail(row: &Row, e: CrmError) -> Failure {
    match e {
        CrmError::Storage(_)
        | CrmError::Corrupt { .. }
        | CrmError::Io { .. }
        | CrmError::Cancelled => Failure::Fatal(e),
        CrmError::Validation { field, message } => Failure::Row(row.error(&field, message)),
        other => Failure::Row(row.error_row(other)),
    }
}

/// Everything a row handler needs that is loaded once per job.
pub(crate) struct Job<'a> {
    pub spec: &'a ImportSpec,
    users_by_email: HashMap<String, UserId>,
    users_by_name: HashMap<String, Vec<UserId>>,
    pub client_fields: Vec<CustomField>,
    pub deal_fields: Vec<CustomField>,
    pub pipeline: Option<Pipeline>,
    /// Every pipeline, for rows that name theirs.
    pub pipelines: Vec<Pipeline>,
}

impl Job<'_> {
    /// The user named by the row's `<prefix>_email` or `<prefix>_name` field, if it has one.
    pub fn user(&self, row: &Row, prefix: &str) -> std::result::Result<Option<UserId>, Failure> {
        let email_field = format!("{prefix}_email");
        if let Some(email) = row.get(&email_field) {
            return match self.users_by_email.get(&normalize::email_key(email)) {
                Some(u) => Ok(Some(*u)),
                None => Err(Failure::Row(
                    row.error(&email_field, format!("no user with e-mail {email:?}")),
                )),
            };
        }
        let name_field = format!("{prefix}_name");
        if let Some(name) = row.get(&name_field) {
            return match self
                .users_by_name
                .get(&name.trim().to_lowercase())
                .map(Vec::as_slice)
            {
                Some([u]) => Ok(Some(*u)),
                Some([]) | None => Err(Failure::Row(
                    row.error(&name_field, format!("no user named {name:?}")),
                )),
                Some(_) => Err(Failure::Row(row.error(
                    &name_field,
                    format!("several users are named {name:?}: use {email_field}"),
                ))),
            };
        }
        Ok(None)
    }
}

/// The target fields each record kind accepts (besides `custom.<key>` for clients and deals).
fn known_fields(kind: RecordKind) -> &'static [&'static str] {
    match kind {
        RecordKind::Clients => &[
            "external_id",
            "kind",
            "name",
            "parent_external_id",
            "parent_name",
            "tax_id",
            "registration_number",
            "email",
            "emails",
            "phone",
            "phones",
            "address.street",
            "address.city",
            "address.region",
            "address.postal_code",
            "address.country",
            "addresses",
            "tags",
            "owner_email",
            "owner_name",
            "open",
            "archived",
            "archived_at",
            "created_at",
        ],
        RecordKind::Contacts => &[
            "organization_external_id",
            "organization_name",
            "person_external_id",
            "person_name",
            "position",
        ],
        RecordKind::Deals => &[
            "external_id",
            "title",
            "pipeline",
            "client_external_id",
            "client_name",
            "contact_external_id",
            "stage",
            "amount",
            "amount_minor",
            "currency",
            "probability",
            "expected_close_date",
            "owner_email",
            "owner_name",
            "open",
            "lost_reason",
            "created_at",
            "stage_at",
            "history",
        ],
        RecordKind::Activities => &[
            "external_id",
            "kind",
            "subject",
            "body",
            "client_external_id",
            "deal_external_id",
            "assignee_email",
            "assignee_name",
            "due_at",
            "remind_at",
            "done_at",
            "open",
            "created_at",
        ],
    }
}

fn entity_of(kind: RecordKind) -> EntityType {
    match kind {
        RecordKind::Clients | RecordKind::Contacts => EntityType::Client,
        RecordKind::Deals => EntityType::Deal,
        RecordKind::Activities => EntityType::Activity,
    }
}

/// Checks the job description itself.
fn validate_spec(spec: &ImportSpec) -> Result<()> {
    if !(1..=100_000).contains(&spec.batch_size) {
        return Err(CrmError::invalid("batch_size", "must be 1-100000"));
    }
    let known = known_fields(spec.records);
    let custom_ok = matches!(spec.records, RecordKind::Clients | RecordKind::Deals);
    let check = |field: &str, place: String| {
        if known.contains(&field) || (custom_ok && field.starts_with("custom.")) {
            Ok(())
        } else {
            Err(CrmError::invalid(
                place,
                format!(
                    "unknown field {field:?} for {:?} (see ImportSpec)",
                    spec.records
                ),
            ))
        }
    };
    for (column, targets) in &spec.columns {
        for field in targets.fields() {
            check(field, format!("columns.{column}"))?;
        }
    }
    for field in spec.defaults.keys() {
        check(field, format!("defaults.{field}"))?;
    }
    let row_pipeline = spec
        .columns
        .values()
        .any(|t| t.fields().iter().any(|f| f == "pipeline"));
    if spec.records == RecordKind::Deals && spec.pipeline.is_none() && !row_pipeline {
        return Err(CrmError::invalid(
            "pipeline",
            "a deal import names its pipeline (or maps a pipeline column)",
        ));
    }
    Ok(())
}

/// Rows kept for a second try at the end; more than this and a forward reference is an error.
const MAX_DEFERRED: usize = 100_000;

/// Runs one row and counts what it did. A row with a forward reference goes to `deferred`
/// (when given and not full) instead of failing. Client rows take care of their own savepoints
/// (most need none); other rows run in one, so a failing row leaves nothing behind.
fn run_row(
    cx: &WriteCx<'_>,
    job: &Job<'_>,
    row: &Row,
    report: &mut ImportReport,
    deferred: Option<&mut Vec<Row>>,
) -> Result<()> {
    let outcome = match job.spec.records {
        RecordKind::Clients => clients::row(cx, job, row),
        RecordKind::Contacts => in_savepoint(cx, || contacts::row(cx, job, row)),
        RecordKind::Deals => in_savepoint(cx, || deals::row(cx, job, row)),
        RecordKind::Activities => in_savepoint(cx, || activities::row(cx, job, row)),
    };
    match outcome {
        Ok(Outcome::Created) => report.created += 1,
        Ok(Outcome::Updated) => report.updated += 1,
        Ok(Outcome::Unchanged) => report.unchanged += 1,
        Err(Failure::Row(e)) => add_error(report, e),
        Err(Failure::Unresolved(e)) => match deferred {
            Some(d) if d.len() < MAX_DEFERRED => d.push(row.clone()),
            _ => add_error(report, e),
        },
        Err(Failure::Fatal(e)) => return Err(e),
    }
    Ok(())
}

/// Runs `f` in a savepoint: when it fails with a row error, everything it wrote (deferred keys
/// included) is undone. Keys deferred before are written first, so an update that rewrites a
/// client's keys finds them in the table.
pub(crate) fn in_savepoint<T>(
    cx: &WriteCx<'_>,
    f: impl FnOnce() -> std::result::Result<T, Failure>,
) -> std::result::Result<T, Failure> {
    cx.flush_keys().map_err(Failure::Fatal)?;
    savepoint(cx, "SAVEPOINT import_row").map_err(Failure::Fatal)?;
    let out = f();
    // Inside the savepoint whatever happened, so a rollback takes the row's keys with it.
    cx.flush_keys().map_err(Failure::Fatal)?;
    let end = match &out {
        Ok(_) => savepoint(cx, "RELEASE import_row"),
        Err(Failure::Row(_) | Failure::Unresolved(_)) => savepoint(cx, "ROLLBACK TO import_row")
            .and_then(|_| savepoint(cx, "RELEASE import_row")),
        // The job stops and its transaction rolls back.
        Err(Failure::Fatal(_)) => Ok(()),
    };
    end.map_err(Failure::Fatal)?;
    out
}

/// Runs a savepoint statement through the statement cache (they run once per row).
fn savepoint(cx: &WriteCx<'_>, sql: &str) -> Result<()> {
    cx.tx.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn add_error(report: &mut ImportReport, e: RowError) {
    report.invalid += 1;
    if report.errors.len() < MAX_ERRORS {
        report.errors.push(e);
    }
}

/// Reads and runs rows until `limit` rows are done or the input ends; false at the end.
#[allow(clippy::too_many_arguments)]
fn run_rows<R: Read>(
    cx: &WriteCx<'_>,
    job: &Job<'_>,
    source: &mut Source<R>,
    limit: usize,
    report: &mut ImportReport,
    deferred: &mut Vec<Row>,
    size: Option<u64>,
    progress: &mut dyn FnMut(ImportProgress) -> bool,
) -> Result<bool> {
    for _ in 0..limit {
        let Some(next) = source.next_row()? else {
            // The end: retry the rows with forward references while each pass resolves some
            // (a hierarchy listed bottom-up needs one pass per level), then report the rest.
            loop {
                let waiting = std::mem::take(deferred);
                if waiting.is_empty() {
                    return Ok(false);
                }
                let before = waiting.len();
                for row in &waiting {
                    run_row(cx, job, row, report, Some(deferred))?;
                }
                if deferred.len() == before {
                    for row in std::mem::take(deferred) {
                        run_row(cx, job, &row, report, None)?;
                    }
                    return Ok(false);
                }
            }
        };
        report.rows += 1;
        match next {
            Ok(row) => run_row(cx, job, &row, report, Some(deferred))?,
            Err(e) => add_error(report, e),
        }
        if report.rows % PROGRESS_EVERY == 0
            && !progress(ImportProgress {
                rows_done: report.rows,
                bytes_done: source.bytes(),
                bytes_total: size,
            })
        {
            return Err(CrmError::Cancelled);
        }
    }
    Ok(true)
}

fn counts(report: &ImportReport) -> serde_json::Value {
    serde_json::json!({
        "rows": report.rows, "created": report.created, "updated": report.updated,
        "unchanged": report.unchanged, "invalid": report.invalid,
    })
}

impl Crm {
    /// Imports `input` as described by `spec` (see [`ImportSpec`] for the fields and modes).
    /// `size` is the input's length when known (for progress); `progress` is called every 1,000
    /// rows, where returning `false` cancels the import (the error is then `Cancelled`; what
    /// stays written is documented on [`ImportMode`]), and once more when the import is
    /// committed, where its answer no longer matters. Needs the import
    /// permission on the entity type; every record must also lie inside the import level.
    pub fn import(
        &self,
        ctx: &Ctx,
        spec: &ImportSpec,
        input: impl Read,
        size: Option<u64>,
        progress: &mut dyn FnMut(ImportProgress) -> bool,
    ) -> Result<ImportReport> {
        validate_spec(spec)?;
        let mut source = Source::new(input, spec)?;
        let entity = entity_of(spec.records);
        let mut report = ImportReport {
            dry_run: spec.dry_run,
            ..Default::default()
        };
        let whole = spec.dry_run || spec.mode == ImportMode::AllOrNothing;
        let mut rolled_back = false;
        let mut deferred: Vec<Row> = Vec::new();
        // Whether the job began on an empty client table (decided in its first transaction).
        let mut first_load: Option<bool> = None;
        loop {
            let result = self.write(ctx, |cx| {
                let job = load_job(cx, spec)?;
                if cx.access.plan(entity, Action::Import).is_empty() {
                    return Err(cx.deny(entity, Action::Import, None, true, "no import grant"));
                }
                let loading = spec.records == RecordKind::Clients
                    && match first_load {
                        Some(empty) => empty,
                        None => *first_load.insert(client_store::is_empty(cx.tx)?),
                    };
                // Keys of new clients are inserted in sorted runs. Search documents of a first
                // load are written as rows come (a row there rarely needs a savepoint, at which
                // FTS5 would flush its buffer); otherwise once per batch.
                if spec.records == RecordKind::Clients {
                    cx.defer_keys();
                }
                if !loading {
                    cx.defer_search();
                }
                let limit = if whole { usize::MAX } else { spec.batch_size };
                // A first load of clients in one transaction builds the list indexes once at
                // the end instead of row by row (the DDL is part of the transaction).
                let rebuild = if whole && loading {
                    client_store::drop_list_indexes(cx.tx)?
                } else {
                    Vec::new()
                };
                let before = report.clone();
                let more = run_rows(
                    cx,
                    &job,
                    &mut source,
                    limit,
                    &mut report,
                    &mut deferred,
                    size,
                    progress,
                )?;
                // Row denials are reported per row; the job's own entry records the counts.
                cx.clear_denial();
                cx.flush_keys()?;
                cx.flush_search()?;
                client_store::create_indexes(cx.tx, &rebuild)?;
                if whole {
                    if spec.dry_run || report.invalid > 0 {
                        rolled_back = true;
                        cx.clear_denial();
                        return Err(CrmError::Cancelled);
                    }
                    cx.audit("import.run", entity.as_str(), None, &counts(&report))?;
                } else {
                    let batch = ImportReport {
                        rows: report.rows - before.rows,
                        created: report.created - before.created,
                        updated: report.updated - before.updated,
                        unchanged: report.unchanged - before.unchanged,
                        invalid: report.invalid - before.invalid,
                        ..Default::default()
                    };
                    if batch == ImportReport::default() {
                        // The input ended exactly at the previous batch: nothing to commit.
                        return Ok((more, false));
                    }
                    cx.audit("import.batch", entity.as_str(), None, &counts(&batch))?;
                }
                Ok((more, true))
            });
            match result {
                Err(CrmError::Cancelled) if rolled_back => break,
                Err(e) => return Err(e),
                Ok((more, committed)) => {
                    report.batches_committed += u64::from(committed);
                    if !more || whole {
                        break;
                    }
                }
            }
        }
        if !whole {
            self.write(ctx, |cx| {
                cx.audit("import.run", entity.as_str(), None, &counts(&report))
            })?;
        }
        // The last call reports completion; the work is committed, so it can no longer cancel.
        progress(ImportProgress {
            rows_done: report.rows,
            bytes_done: source.bytes(),
            bytes_total: size,
        });
        Ok(report)
    }
}

fn load_job<'a>(cx: &WriteCx<'_>, spec: &'a ImportSpec) -> Result<Job<'a>> {
    let mut users_by_email = HashMap::new();
    let mut users_by_name: HashMap<String, Vec<UserId>> = HashMap::new();
    for u in org::users(cx.tx)? {
        users_by_email.insert(normalize::email_key(&u.email), u.id);
        users_by_name
            .entry(u.name.trim().to_lowercase())
            .or_default()
            .push(u.id);
    }
    let all: Vec<Pipeline> = pipelines::ids(cx.tx)?
        .into_iter()
        .filter_map(|id| pipelines::get(cx.tx, id).transpose())
        .collect::<Result<_>>()?;
    let pipeline = match &spec.pipeline {
        Some(name) => Some(
            all.iter()
                .find(|p| p.name == *name)
                .cloned()
                .ok_or_else(|| {
                    CrmError::invalid("pipeline", format!("no pipeline named {name:?}"))
                })?,
        ),
        None => None,
    };
    Ok(Job {
        spec,
        users_by_email,
        users_by_name,
        client_fields: custom_fields::list(cx.tx, EntityType::Client)?,
        deal_fields: custom_fields::list(cx.tx, EntityType::Deal)?,
        pipeline,
        pipelines: all,
    })
}
