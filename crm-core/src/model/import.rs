//! Import and export: the job description, the report, and the interchange columns.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an import or export carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Organisations and persons (the `kind` column says which; default organisation).
    Clients,
    /// Contact-person links between organisations and persons.
    Contacts,
    /// Deals with their pipeline and stage.
    Deals,
    /// Tasks, calls, meetings, e-mails and notes.
    Activities,
}

/// File format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Comma-separated values with a header row (UTF-8, an optional BOM is skipped).
    #[default]
    Csv,
    /// One JSON object per line.
    JsonLines,
}

/// Which existing record a row is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKey {
    /// The `external_id` column.
    ExternalId,
    /// Tax id or registration number (clients), after normalisation.
    TaxId,
    /// Any e-mail address (clients), case-insensitive.
    Email,
    /// Any phone number (clients), by digits.
    Phone,
    /// The name without case, punctuation and legal form (clients; the first match wins).
    Name,
}

/// What to do with a row that matches an existing record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMatch {
    /// Update the fields the row carries (nothing is written when they are already equal).
    #[default]
    Update,
    /// Leave the record alone.
    Skip,
}

/// How invalid rows are handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// One transaction: any invalid row (or a cancel) means nothing is written.
    #[default]
    AllOrNothing,
    /// Invalid rows are reported and skipped; the rest is committed in batches of
    /// `batch_size` rows. A cancel keeps the batches committed before it, and nothing else.
    SkipInvalid,
}

/// The target field(s) of a source column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Targets {
    /// One field.
    One(String),
    /// Several fields (e.g. an id that is also the title).
    Many(Vec<String>),
}

impl Targets {
    /// The fields, in order.
    pub fn fields(&self) -> &[String] {
        match self {
            Targets::One(f) => std::slice::from_ref(f),
            Targets::Many(v) => v,
        }
    }
}

impl From<&str> for Targets {
    fn from(f: &str) -> Self {
        Targets::One(f.to_string())
    }
}

/// An import job: the source format, how columns map to fields, and how rows are matched.
///
/// Target fields per record kind (a source column maps to one of them; unmapped columns are
/// ignored; with no `columns` at all, a column maps to the field of the same name):
/// - clients: `external_id`, `kind` (`organization`/`person`), `name`, `parent_external_id`,
///   `parent_name`, `tax_id`, `registration_number`, `email`, `emails`, `phone`, `phones`,
///   `address.street|city|region|postal_code|country`, `addresses`, `tags`, `custom.<key>`,
///   `owner_email`, `owner_name`, `open`, `archived`, `archived_at` (when it was archived;
///   implies `archived`), `created_at`;
/// - contacts: `organization_external_id`, `organization_name`, `person_external_id`,
///   `person_name`, `position`;
/// - deals: `external_id`, `title`, `pipeline` (by name; else the job's), `client_external_id`, `client_name`,
///   `contact_external_id`, `stage`, `amount` (decimal, in the currency's units) or
///   `amount_minor`, `currency`, `probability`, `expected_close_date`, `owner_email`,
///   `owner_name`, `open`, `custom.<key>`, `lost_reason`, `created_at`, `stage_at` (when the
///   deal entered its stage), `history` (JSON list of `{"stage": name, "at": time}`, a step
///   into a lost stage with its `"lost_reason"`, else the row's is used);
/// - activities: `external_id`, `kind`, `subject`, `body`, `client_external_id`,
///   `deal_external_id`, `assignee_email`, `assignee_name`, `due_at`, `remind_at`,
///   `done_at`, `open`, `created_at`.
///
/// Cells (a CSV field, or a value of a JSON line):
/// - A cell is trimmed, and a blank one means "no value": the field is left as it is (an
///   update does not clear it).
/// - Lists (`emails`, `phones`, `tags`) are either items separated by `;` or line breaks
///   (`work:a@x.com; billing:b@x.com`, `vip; key account`; each item trimmed, empty ones
///   ignored), or a JSON array (`["R&D; Sales", "[VIP]"]`, e-mails and phones as
///   `[{"kind": "work", "address": "a@x.com"}]`). A cell is read as JSON only when it starts
///   with `[` and parses as JSON, so `[VIP]; x` is two tags. Exports write the `;` form unless
///   an item would not survive it (it holds `;` or a line break, has surrounding white space,
///   or the first item starts with `[`); then the JSON form. `addresses` is always JSON.
/// - Custom text: a cell that is a JSON string literal (`""`, `"  padded  "`) is that text
///   exactly, empty or with its white space; any other cell is the text itself. Exports write
///   empty text, text with surrounding white space and text that is itself such a literal that
///   way, so they come back unchanged.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSpec {
    /// What the rows are.
    pub records: RecordKind,
    /// File format.
    #[serde(default)]
    pub format: FileFormat,
    /// Source column → target field, or a list of fields that all take the column's value.
    #[serde(default)]
    pub columns: BTreeMap<String, Targets>,
    /// Target field → value used when the row has none.
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
    /// Deals: the pipeline, by name, for rows that do not name theirs.
    #[serde(default)]
    pub pipeline: Option<String>,
    /// Deals: source stage name → pipeline stage name (unlisted names are used as they are).
    #[serde(default)]
    pub stage_names: BTreeMap<String, String>,
    /// Target field → (source value → value to use): fixes spellings that disagree between
    /// systems, e.g. `{"custom.product": {"GTXPro": "GTX Pro"}}`.
    #[serde(default)]
    pub value_map: BTreeMap<String, BTreeMap<String, String>>,
    /// Keys tried in order to find an existing record.
    #[serde(default = "default_match")]
    pub match_on: Vec<MatchKey>,
    /// What to do with a matched row.
    #[serde(default)]
    pub on_match: OnMatch,
    /// All-or-nothing or skip invalid rows.
    #[serde(default)]
    pub mode: ImportMode,
    /// Validate every row and report, writing nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Rows per transaction in `skip_invalid` mode (1–100,000, default 5,000).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Strip the `'` that exports put before values a spreadsheet would run as formulas.
    #[serde(default = "yes")]
    pub formula_guard: bool,
}

fn default_match() -> Vec<MatchKey> {
    vec![MatchKey::ExternalId]
}

fn default_batch() -> usize {
    5_000
}

fn yes() -> bool {
    true
}

impl ImportSpec {
    /// A job with defaults: CSV, identity mapping, match on external id, update, all or nothing.
    pub fn new(records: RecordKind) -> Self {
        ImportSpec {
            records,
            format: FileFormat::Csv,
            columns: BTreeMap::new(),
            defaults: BTreeMap::new(),
            pipeline: None,
            stage_names: BTreeMap::new(),
            value_map: BTreeMap::new(),
            match_on: default_match(),
            on_match: OnMatch::Update,
            mode: ImportMode::AllOrNothing,
            dry_run: false,
            batch_size: default_batch(),
            formula_guard: true,
        }
    }
}

/// One row that could not be imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// 1-based data row number (the header is row 0; in JSON lines, the line number).
    pub row: u64,
    /// The source column, when the error is about one.
    pub column: Option<String>,
    /// What is wrong (the target field is named in it).
    pub message: String,
}

/// What an import did (or, for a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: u64,
    /// Records created.
    pub created: u64,
    /// Records changed.
    pub updated: u64,
    /// Rows that matched a record already equal to them, or skipped by `on_match: skip`.
    pub unchanged: u64,
    /// Invalid rows (skipped in `skip_invalid` mode; in `all_or_nothing` mode nothing is written
    /// when this is not zero).
    pub invalid: u64,
    /// The first 1,000 row errors.
    pub errors: Vec<RowError>,
    /// True for a dry run: nothing was written.
    pub dry_run: bool,
    /// Batches committed (`skip_invalid` mode) or 1 for a committed all-or-nothing import.
    pub batches_committed: u64,
}

/// How far an import has come, for progress callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportProgress {
    /// Rows processed so far.
    pub rows_done: u64,
    /// Bytes of input consumed so far.
    pub bytes_done: u64,
    /// Total bytes, when the source size is known.
    pub bytes_total: Option<u64>,
}

/// An export job. The columns are the import's target fields, written in the cell forms
/// [`ImportSpec`] describes, so an export imports back unchanged; a CSV export always starts
/// with its header row, even when there is no record.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSpec {
    /// What to export.
    pub records: RecordKind,
    /// File format.
    #[serde(default)]
    pub format: FileFormat,
    /// Prefix values that start with `=`, `+`, `-`, `@`, a tab, a carriage return or `'` with `'`
    /// so spreadsheets do not run them as formulas (CSV only; default on).
    #[serde(default = "yes")]
    pub neutralize_formulas: bool,
    /// Include archived clients (default on: an export is complete).
    #[serde(default = "yes")]
    pub include_archived: bool,
}

impl ExportSpec {
    /// An export with defaults: CSV, formulas neutralised, archived records included.
    pub fn new(records: RecordKind) -> Self {
        ExportSpec {
            records,
            format: FileFormat::Csv,
            neutralize_formulas: true,
            include_archived: true,
        }
    }
}

/// Reads a custom text cell: a cell holding a JSON string literal (`""`, `"  padded  "`) is
/// that string exactly; any other cell is the text as it stands. See [`ImportSpec`].
pub(crate) fn decode_text_cell(cell: &str) -> String {
    if cell.len() >= 2 && cell.starts_with('"') && cell.ends_with('"') {
        if let Ok(text) = serde_json::from_str::<String>(cell) {
            return text;
        }
    }
    cell.to_string()
}

/// Writes a custom text cell that [`decode_text_cell`] reads back exactly: the text as it
/// stands, unless the importer would change it (it trims cells and takes a blank one as no
/// value) or decode it; then as a JSON string literal.
pub(crate) fn encode_text_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_empty() || text.trim() != text || decode_text_cell(text) != text {
        serde_json::Value::from(text).to_string().into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::{decode_text_cell, encode_text_cell};

    #[test]
    fn text_cells_read_back_exactly() {
        for text in [
            "",
            " ",
            "  padded  ",
            "\tstarts with a tab",
            "ends with a newline\n",
            "\"quoted\"",
            "\"",
            "\"\"",
            "plain",
            "say \"hi\"",
            "line one\nline two",
        ] {
            let cell = encode_text_cell(text);
            assert_eq!(
                cell.trim(),
                cell,
                "{text:?} encodes without surrounding space"
            );
            assert_eq!(decode_text_cell(&cell), text, "{text:?} via {cell:?}");
        }
        assert_eq!(encode_text_cell("plain"), "plain");
        assert_eq!(encode_text_cell(""), "\"\"");
        assert_eq!(decode_text_cell("\"unterminated"), "\"unterminated");
    }
}
