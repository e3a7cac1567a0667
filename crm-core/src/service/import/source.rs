//! Reading import files row by row, with bounded memory: CSV or JSON lines in, mapped target
//! fields out. Problems with one row (bad UTF-8, a ragged row, bad JSON) are row errors; the
//! reader goes on with the next row.

use crate::error::{CrmError, Result};
use crate::model::{FileFormat, ImportSpec, RowError};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

/// A field value longer than this is refused (a CSV with a runaway quote swallows the file).
const MAX_FIELD: usize = 1 << 20;
/// A JSON line longer than this is refused.
const MAX_LINE: usize = 8 << 20;

/// Counts the bytes read through it, for progress reports.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// One mapped row: target field → value (blank values are left out), and the source column
/// each field came from (for error messages).
#[derive(Clone)]
pub(crate) struct Row {
    pub number: u64,
    pub fields: BTreeMap<String, String>,
    pub columns: BTreeMap<String, String>,
}

impl Row {
    /// The value of a target field.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// A row error about `field`, naming its source column.
    pub fn error(&self, field: &str, message: impl std::fmt::Display) -> RowError {
        RowError {
            row: self.number,
            column: self.column_of(field),
            message: format!("{field}: {message}"),
        }
    }

    /// The source column behind an error path: the field itself, the list it indexes
    /// (`emails[0].address` → `emails`, or the single-value field `email`), or the reference
    /// fields behind an id (`client_id` → `client_external_id` or `client_name`).
    fn column_of(&self, field: &str) -> Option<String> {
        let base = field.split(['[', '.']).next().unwrap_or(field);
        let base = if field.starts_with("custom.") {
            field
        } else {
            base
        };
        let stem = base.strip_suffix("_id").unwrap_or(base);
        let candidates = [
            base.to_string(),
            base.strip_suffix('s').unwrap_or(base).to_string(),
            format!("{base}.street"),
            format!("{stem}_external_id"),
            format!("{stem}_name"),
            format!("{stem}_email"),
            format!("address.{}", field.rsplit('.').next().unwrap_or(field)),
        ];
        candidates.iter().find_map(|c| self.columns.get(c).cloned())
    }

    /// A row error about the row as a whole.
    pub fn error_row(&self, message: impl std::fmt::Display) -> RowError {
        RowError {
            row: self.number,
            column: None,
            message: message.to_string(),
        }
    }
}

enum Inner<R: Read> {
    Csv {
        reader: csv::Reader<Counting<R>>,
        headers: Vec<String>,
        record: csv::ByteRecord,
    },
    Lines {
        reader: BufReader<Counting<R>>,
        line: Vec<u8>,
    },
}

/// Rows of an import file.
pub(crate) struct Source<R: Read> {
    inner: Inner<R>,
    spec_columns: BTreeMap<String, crate::model::Targets>,
    defaults: BTreeMap<String, String>,
    value_map: BTreeMap<String, BTreeMap<String, String>>,
    formula_guard: bool,
    bytes: Rc<Cell<u64>>,
    number: u64,
}

impl<R: Read> Source<R> {
    /// Opens the file: reads the CSV header (refusing UTF-16 and a header that is not UTF-8).
    pub fn new(input: R, spec: &ImportSpec) -> Result<Self> {
        let bytes = Rc::new(Cell::new(0));
        let counting = Counting {
            inner: input,
            count: bytes.clone(),
        };
        let inner = match spec.format {
            FileFormat::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .flexible(true)
                    .has_headers(false)
                    .from_reader(counting);
                let mut header = csv::ByteRecord::new();
                if !reader.read_byte_record(&mut header).map_err(csv_fatal)? {
                    return Err(CrmError::invalid(
                        "file",
                        "the file is empty: a CSV import needs a header row",
                    ));
                }
                let mut headers = Vec::with_capacity(header.len());
                for (i, h) in header.iter().enumerate() {
                    let h = if i == 0 { strip_bom(h)? } else { h };
                    let text = std::str::from_utf8(h).map_err(|e| {
                        CrmError::invalid(
                            "file",
                            format!(
                                "header column {} is not UTF-8 (byte {})",
                                i + 1,
                                e.valid_up_to()
                            ),
                        )
                    })?;
                    headers.push(text.trim().to_string());
                }
                Inner::Csv {
                    reader,
                    headers,
                    record: csv::ByteRecord::new(),
                }
            }
            FileFormat::JsonLines => Inner::Lines {
                reader: BufReader::new(counting),
                line: Vec::new(),
            },
        };
        Ok(Source {
            inner,
            spec_columns: spec.columns.clone(),
            defaults: spec.defaults.clone(),
            value_map: spec.value_map.clone(),
            formula_guard: spec.formula_guard && spec.format == FileFormat::Csv,
            bytes,
            number: 0,
        })
    }

    /// Bytes consumed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.get()
    }

    /// The next row: `None` at the end, `Some(Err)` for a row that cannot be read (the source
    /// goes on after it), `Err` for a failure of the input itself.
    pub fn next_row(&mut self) -> Result<Option<std::result::Result<Row, RowError>>> {
        self.number += 1;
        let mut number = self.number;
        let raw: std::result::Result<Vec<(String, String)>, RowError> = match &mut self.inner {
            Inner::Csv {
                reader,
                headers,
                record,
            } => {
                if !reader.read_byte_record(record).map_err(csv_fatal)? {
                    return Ok(None);
                }
                csv_row(number, headers, record)
            }
            Inner::Lines { reader, line } => loop {
                line.clear();
                let n = (&mut *reader)
                    .take(MAX_LINE as u64 + 1)
                    .read_until(b'\n', line)
                    .map_err(|e| CrmError::invalid("file", e.to_string()))?;
                if n == 0 {
                    return Ok(None);
                }
                if line.len() > MAX_LINE {
                    // Skip the rest of the overlong line.
                    let mut rest = Vec::new();
                    reader
                        .read_until(b'\n', &mut rest)
                        .map_err(|e| CrmError::invalid("file", e.to_string()))?;
                    break Err(RowError {
                        row: number,
                        column: None,
                        message: format!("line longer than {MAX_LINE} bytes"),
                    });
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    // A blank line still counts, so row numbers are line numbers.
                    self.number += 1;
                    number = self.number;
                    continue;
                }
                if number == 1 && line.starts_with(&[0xEF, 0xBB, 0xBF]) {
                    line.drain(..3);
                }
                break json_row(number, line);
            },
        };
        Ok(Some(raw.map(|pairs| self.map(number, pairs))))
    }

    /// Maps source columns to target fields, applies the formula guard and the defaults.
    fn map(&self, number: u64, pairs: Vec<(String, String)>) -> Row {
        let mut fields = BTreeMap::new();
        let mut columns = BTreeMap::new();
        for (column, value) in pairs {
            let targets: Vec<String> = if self.spec_columns.is_empty() {
                vec![column.clone()]
            } else {
                self.spec_columns
                    .get(&column)
                    .map(|t| t.fields().to_vec())
                    .unwrap_or_default()
            };
            let mut value = value.trim().to_string();
            if self.formula_guard && value.starts_with('\'') {
                value.remove(0);
            }
            for field in targets {
                let mut value = value.clone();
                if let Some(v) = self.value_map.get(&field).and_then(|m| m.get(&value)) {
                    value = v.clone();
                }
                // The column is remembered even for a blank value, so "is required" errors name it.
                columns.insert(field.clone(), column.clone());
                if !value.is_empty() {
                    fields.insert(field, value);
                }
            }
        }
        for (field, value) in &self.defaults {
            fields.entry(field.clone()).or_insert_with(|| value.clone());
        }
        Row {
            number,
            fields,
            columns,
        }
    }
}

fn strip_bom(h: &[u8]) -> Result<&[u8]> {
    if h.starts_with(&[0xFF, 0xFE]) || h.starts_with(&[0xFE, 0xFF]) {
        return Err(CrmError::invalid(
            "file",
            "the file is UTF-16: save it as UTF-8",
        ));
    }
    Ok(h.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(h))
}

fn csv_fatal(e: csv::Error) -> CrmError {
    CrmError::invalid("file", format!("cannot read the CSV: {e}"))
}

fn csv_row(
    number: u64,
    headers: &[String],
    record: &csv::ByteRecord,
) -> std::result::Result<Vec<(String, String)>, RowError> {
    if record.len() != headers.len() {
        return Err(RowError {
            row: number,
            column: None,
            message: format!(
                "expected {} fields as in the header, found {}",
                headers.len(),
                record.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(headers.len());
    for (h, v) in headers.iter().zip(record.iter()) {
        if v.len() > MAX_FIELD {
            return Err(RowError {
                row: number,
                column: Some(h.clone()),
                message: format!("value longer than {MAX_FIELD} bytes"),
            });
        }
        let text = std::str::from_utf8(v).map_err(|e| RowError {
            row: number,
            column: Some(h.clone()),
            message: format!(
                "not UTF-8 (invalid byte at offset {} of the value)",
                e.valid_up_to()
            ),
        })?;
        out.push((h.clone(), text.to_string()));
    }
    Ok(out)
}

fn json_row(number: u64, line: &[u8]) -> std::result::Result<Vec<(String, String)>, RowError> {
    let err = |message: String| RowError {
        row: number,
        column: None,
        message,
    };
    let text = std::str::from_utf8(line).map_err(|e| {
        err(format!(
            "not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| err(format!("not JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(err("expected a JSON object".into()));
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| {
            let text = match v {
                serde_json::Value::Null => return None,
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            Some((k, text))
        })
        .collect())
}
