//! A corpus of bad import files, written by the test into a temporary directory and imported
//! from there: wrong encodings, ragged rows, stray quotes, a huge field, a byte order mark,
//! formulas, empty and header-only files, bad JSON lines. Each gives per-row errors or one clear
//! file-level error, never a panic; in skip-invalid mode the good rows of a mixed file are
//! imported. A property test feeds random bytes as CSV and as JSON lines.

mod data_common;

use crm_core::model::{FileFormat, ImportMode, ImportReport, ImportSpec, RecordKind};
use crm_core::CrmError;
use data_common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// What a file must give.
#[derive(Debug)]
enum Expect {
    /// One file-level validation error whose message contains the text.
    FileError(&'static str),
    /// A report: rows read, records created, and the row errors as (row, column, text).
    Rows {
        rows: u64,
        created: u64,
        errors: Vec<(u64, Option<&'static str>, &'static str)>,
    },
}

fn job(format: FileFormat) -> ImportSpec {
    let mut s = spec(RecordKind::Clients, format);
    s.mode = ImportMode::SkipInvalid;
    s.batch_size = 2;
    s.defaults
        .insert("owner_email".into(), "ann@corp.example".into());
    s
}

/// Imports the file at `path`, turning a panic into a test failure that names the case.
fn import_file(
    db: &Db,
    name: &str,
    path: &Path,
    format: FileFormat,
) -> crm_core::Result<ImportReport> {
    let size = std::fs::metadata(path).expect("metadata").len();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        db.crm.import(
            &db.sys,
            &job(format),
            File::open(path).expect("open corpus file"),
            Some(size),
            &mut |_| true,
        )
    }));
    match outcome {
        Ok(r) => r,
        Err(_) => panic!("{name}: the import panicked"),
    }
}

/// The counts of a report add up, and every error names a row that was read.
#[track_caller]
fn assert_consistent(name: &str, r: &ImportReport) {
    assert_eq!(
        r.rows,
        r.created + r.updated + r.unchanged + r.invalid,
        "{name}: counts do not add up: {r:#?}"
    );
    assert_eq!(
        r.errors.len() as u64,
        r.invalid.min(1_000),
        "{name}: one error per invalid row"
    );
    for e in &r.errors {
        assert!(
            (1..=r.rows).contains(&e.row),
            "{name}: error for row {} of {}: {e:?}",
            e.row,
            r.rows
        );
    }
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for unit in text.encode_utf16() {
        let b = if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        out.extend(b);
    }
    out
}

fn corpus() -> Vec<(&'static str, FileFormat, Vec<u8>, Expect)> {
    use Expect::*;
    use FileFormat::{Csv, JsonLines};
    let huge = "x".repeat((1 << 20) + 10);
    let huge_line = format!("{{\"name\": \"{}\"}}\n", "y".repeat(9 << 20));
    vec![
        (
            "utf8_bom",
            Csv,
            b"\xEF\xBB\xBFexternal_id,name\nBOM1,Bom Client\n".to_vec(),
            Rows {
                rows: 1,
                created: 1,
                errors: vec![],
            },
        ),
        (
            "latin1_value",
            Csv,
            b"external_id,name\nL1,M\xFCller GmbH\nL2,Good\n".to_vec(),
            Rows {
                rows: 2,
                created: 1,
                errors: vec![(1, Some("name"), "not UTF-8")],
            },
        ),
        (
            "latin1_header",
            Csv,
            b"external_id,n\xE4me\nH1,x\n".to_vec(),
            FileError("not UTF-8"),
        ),
        (
            "utf16le_bom",
            Csv,
            utf16("external_id,name\nU1,Utf16\n", false),
            FileError("UTF-16"),
        ),
        (
            "utf16be_bom",
            Csv,
            utf16("external_id,name\nU2,Utf16\n", true),
            FileError("UTF-16"),
        ),
        (
            "too_few_fields",
            Csv,
            b"external_id,name,tax_id\nR1,Short\nR2,Good,\n".to_vec(),
            Rows {
                rows: 2,
                created: 1,
                errors: vec![(1, None, "expected 3 fields")],
            },
        ),
        (
            "too_many_fields",
            Csv,
            b"external_id,name\nR3,Long,extra,more\nR4,Good\n".to_vec(),
            Rows {
                rows: 2,
                created: 1,
                errors: vec![(1, None, "expected 2 fields")],
            },
        ),
        (
            "quote_inside_a_field",
            Csv,
            b"external_id,name\nQ1,Ac\"me\nQ2,Good\n".to_vec(),
            Rows {
                rows: 2,
                created: 2,
                errors: vec![],
            },
        ),
        (
            "huge_field",
            Csv,
            format!("external_id,name\nBIG,{huge}\nSMALL,Small\n").into_bytes(),
            Rows {
                rows: 2,
                created: 1,
                errors: vec![(1, Some("name"), "longer than")],
            },
        ),
        (
            "formulas",
            Csv,
            b"external_id,name,custom.note\nF1,=1+2,'=SUM(A1)\nF2,'@cmd,+x\n".to_vec(),
            Rows {
                rows: 2,
                created: 2,
                errors: vec![],
            },
        ),
        ("empty_file", Csv, Vec::new(), FileError("empty")),
        (
            "header_only",
            Csv,
            b"external_id,name\n".to_vec(),
            Rows {
                rows: 0,
                created: 0,
                errors: vec![],
            },
        ),
        (
            "header_only_without_newline",
            Csv,
            b"external_id,name".to_vec(),
            Rows {
                rows: 0,
                created: 0,
                errors: vec![],
            },
        ),
        (
            "crlf_line_ends",
            Csv,
            b"external_id,name\r\nC1,Crlf\r\nC2,\"Two\r\n\"\r\n".to_vec(),
            Rows {
                rows: 2,
                created: 2,
                errors: vec![],
            },
        ),
        (
            "nul_byte_in_a_value",
            Csv,
            b"external_id,name\nN1,Nu\0ll\nN2,Good\n".to_vec(),
            Rows {
                rows: 2,
                created: 1,
                errors: vec![(1, Some("name"), "control")],
            },
        ),
        (
            "no_known_column",
            Csv,
            b"foo,bar\n1,2\n".to_vec(),
            Rows {
                rows: 1,
                created: 0,
                errors: vec![(1, None, "name")],
            },
        ),
        (
            "json_lines_mixed",
            JsonLines,
            b"{\"external_id\":\"J1\",\"name\":\"Json\"}\n[1,2]\n\"text\"\n42\nnull\n{bad json\n\xff\xfe{\"name\":\"x\"}\n{\"external_id\":\"J2\",\"name\":\"Two\",\"open\":true,\"tags\":[\"a\"]}\r\n"
                .to_vec(),
            Rows {
                rows: 8,
                created: 2,
                errors: vec![
                    (2, None, "expected a JSON object"),
                    (3, None, "expected a JSON object"),
                    (4, None, "expected a JSON object"),
                    (5, None, "expected a JSON object"),
                    (6, None, "not JSON"),
                    (7, None, "not UTF-8"),
                ],
            },
        ),
        (
            "json_lines_bad_values",
            JsonLines,
            b"{\"external_id\":\"J3\",\"name\":\"Bad open\",\"open\":\"maybe\"}\n{\"external_id\":\"J4\",\"name\":{\"nested\":1}}\n{\"external_id\":5,\"name\":\"Number id\"}\n"
                .to_vec(),
            Rows {
                rows: 3,
                created: 2,
                errors: vec![(1, Some("open"), "not true or false")],
            },
        ),
        (
            "json_lines_huge_line",
            JsonLines,
            format!("{huge_line}{{\"external_id\":\"J6\",\"name\":\"After\"}}\n").into_bytes(),
            Rows {
                rows: 2,
                created: 1,
                errors: vec![(1, None, "longer than")],
            },
        ),
        (
            "json_lines_empty",
            JsonLines,
            Vec::new(),
            Rows {
                rows: 0,
                created: 0,
                errors: vec![],
            },
        ),
    ]
}

#[test]
fn every_bad_file_gives_row_errors_or_one_file_error_and_never_panics() {
    let db = Db::new();
    let dir = tempfile::tempdir().expect("corpus dir");
    let mut failures = Vec::new();
    for (name, format, bytes, expect) in corpus() {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).expect("write corpus file");
        let before = client_count(&db.crm, &db.sys);
        let outcome = import_file(&db, name, &path, format);
        let created = client_count(&db.crm, &db.sys) - before;
        match (&expect, outcome) {
            (Expect::FileError(text), Err(e)) => {
                let ok = matches!(&e, CrmError::Validation { field, message }
                    if field == "file" && message.contains(text));
                if !ok {
                    failures.push(format!(
                        "{name}: expected a file error with {text:?}, got {e:?}"
                    ));
                }
                if created != 0 {
                    failures.push(format!("{name}: a file error wrote {created} clients"));
                }
            }
            (Expect::FileError(text), Ok(r)) => failures.push(format!(
                "{name}: expected a file error with {text:?}, got {r:#?}"
            )),
            (Expect::Rows { .. }, Err(e)) => {
                failures.push(format!("{name}: expected a report, got {e:?}"))
            }
            (
                Expect::Rows {
                    rows,
                    created: want_created,
                    errors,
                },
                Ok(r),
            ) => {
                assert_consistent(name, &r);
                let mut got: Vec<(u64, Option<String>, String)> = r
                    .errors
                    .iter()
                    .map(|e| (e.row, e.column.clone(), e.message.clone()))
                    .collect();
                got.sort();
                let matches = got.len() == errors.len()
                    && got
                        .iter()
                        .zip(errors)
                        .all(|(g, w)| g.0 == w.0 && g.1.as_deref() == w.1 && g.2.contains(w.2));
                if r.rows != *rows || r.created != *want_created || !matches {
                    failures.push(format!(
                        "{name}: expected rows {rows}, created {want_created}, errors {errors:?}; got rows {}, created {}, errors {got:?}",
                        r.rows, r.created
                    ));
                }
                if created != r.created {
                    failures.push(format!(
                        "{name}: the report says {} created, the database has {created} more",
                        r.created
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // What the good rows became.
    let clients = all_clients(&db.crm, &db.sys);
    let name_of = |x: &str| {
        clients
            .iter()
            .find(|c| c.external_id.as_deref() == Some(x))
            .map(|c| c.name.clone())
            .unwrap_or_else(|| panic!("no client {x}"))
    };
    assert_eq!(
        name_of("BOM1"),
        "Bom Client",
        "the BOM is not part of the first column"
    );
    assert_eq!(name_of("Q1"), "Ac\"me");
    assert_eq!(name_of("F1"), "=1+2");
    assert_eq!(name_of("F2"), "@cmd");
    assert_eq!(name_of("C1"), "Crlf");
    assert_eq!(name_of("5"), "Number id");
    assert_eq!(name_of("J4"), "{\"nested\":1}");
    let f1 = clients
        .iter()
        .find(|c| c.external_id.as_deref() == Some("F1"))
        .expect("F1");
    assert_eq!(f1.custom["note"], serde_json::json!("=SUM(A1)"));
}

/// A stray opening quote swallows the rest of the file into one field: the import reports it
/// (a ragged row, a control character or an over-long value), never panics, and writes only
/// what it reports as created.
#[test]
fn a_stray_opening_quote_is_reported_not_fatal() {
    let db = Db::new();
    for (name, text) in [
        (
            "unclosed",
            "external_id,name\nQ1,\"Unclosed\nQ2,Good\nQ3,Also\n",
        ),
        (
            "closed_then_text",
            "external_id,name\nQ4,\"Ac\"me\nQ5,Good\n",
        ),
        ("quote_at_end", "external_id,name\nQ6,Good\nQ7,\""),
    ] {
        let before = client_count(&db.crm, &db.sys);
        let r = import(&db.crm, &db.sys, &job(FileFormat::Csv), text.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_consistent(name, &r);
        assert_eq!(client_count(&db.crm, &db.sys) - before, r.created, "{name}");
    }
}

/// Mixed good and bad rows in skip-invalid mode: every good row is imported, every bad one
/// reported once with its row number.
#[test]
fn good_rows_of_a_mixed_file_are_imported() {
    let db = Db::new();
    let mut bytes = b"external_id,name,emails\n".to_vec();
    let mut bad = Vec::new();
    for i in 1..=31u64 {
        match i % 5 {
            0 => bytes.extend(format!("M{i},Ragged\n").as_bytes()),
            1 => {
                // "Café" in Latin-1.
                bytes.extend(format!("M{i},Caf").as_bytes());
                bytes.push(0xE9);
                bytes.extend(b",\n");
            }
            2 => bytes.extend(format!("M{i},Bad mail,not-an-address\n").as_bytes()),
            _ => bytes.extend(format!("M{i},Good {i},a{i}@x.example\n").as_bytes()),
        }
        if i % 5 <= 2 {
            bad.push(i);
        }
    }
    let r = import(&db.crm, &db.sys, &job(FileFormat::Csv), &bytes).expect("import");
    assert_consistent("mixed", &r);
    let mut rows: Vec<u64> = r.errors.iter().map(|e| e.row).collect();
    rows.sort();
    assert_eq!(rows, bad, "{:#?}", r.errors);
    assert_eq!(r.created, 31 - bad.len() as u64);
    assert_eq!(client_count(&db.crm, &db.sys), r.created);
    assert_eq!(r.batches_committed, 16, "31 rows in batches of 2");
}

/// FINDING: blank lines in a JSON lines file are skipped without counting, so the row numbers
/// of later errors are not the line numbers the documentation promises ("in JSON lines, the
/// line number").
#[test]
fn json_lines_errors_carry_their_line_numbers() {
    let db = Db::new();
    let text = "{\"external_id\":\"B1\",\"name\":\"One\"}\n\n   \n{broken\n";
    let r = import(
        &db.crm,
        &db.sys,
        &job(FileFormat::JsonLines),
        text.as_bytes(),
    )
    .expect("import");
    assert_eq!(r.invalid, 1, "{r:#?}");
    assert_eq!(
        r.errors[0].row, 4,
        "the broken line is line 4: {:?}",
        r.errors[0]
    );
}

/// FINDING: a UTF-8 byte order mark is skipped in CSV files but not in JSON lines, whose first
/// line is then reported as not JSON.
#[test]
fn json_lines_with_a_byte_order_mark_import() {
    let db = Db::new();
    let text = b"\xEF\xBB\xBF{\"external_id\":\"BOM\",\"name\":\"Bom\"}\n";
    let r = import(&db.crm, &db.sys, &job(FileFormat::JsonLines), text).expect("import");
    assert_eq!((r.created, r.invalid), (1, 0), "{:#?}", r.errors);
}

/// A UTF-16 file without a byte order mark is not UTF-8 either: it gives a clear error, or
/// row errors, but no client with a garbled name.
#[test]
fn utf16_without_a_byte_order_mark_writes_no_garbage() {
    let db = Db::new();
    let bytes: Vec<u8> = utf16("external_id,name\nW1,Wide\n", false)[2..].to_vec();
    let r = import(&db.crm, &db.sys, &job(FileFormat::Csv), &bytes);
    match r {
        Err(CrmError::Validation { field, .. }) => assert_eq!(field, "file"),
        Err(e) => panic!("{e:?}"),
        Ok(r) => {
            assert_consistent("utf16 without BOM", &r);
            assert_eq!(r.created, 0, "garbled rows were imported: {r:#?}");
        }
    }
}

fn check_random(db: &Db, bytes: &[u8], format: FileFormat) -> Result<(), TestCaseError> {
    let before = client_count(&db.crm, &db.sys);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        import(&db.crm, &db.sys, &job(format), bytes)
    }));
    let r = match outcome {
        Err(_) => return Err(TestCaseError::fail(format!("{format:?}: panic"))),
        Ok(r) => r,
    };
    let created = client_count(&db.crm, &db.sys) - before;
    match r {
        Ok(r) => {
            prop_assert_eq!(
                r.rows,
                r.created + r.updated + r.unchanged + r.invalid,
                "{:?}: {:#?}",
                format,
                r
            );
            prop_assert_eq!(r.errors.len() as u64, r.invalid.min(1_000));
            // Row numbers are data-row numbers in CSV and line numbers (blank lines counted) in
            // JSON lines.
            let last_row = match format {
                FileFormat::Csv => r.rows,
                _ => bytes.split(|b| *b == b'\n').count() as u64,
            };
            prop_assert!(
                r.errors.iter().all(|e| (1..=last_row).contains(&e.row)),
                "{:?}",
                r.errors
            );
            prop_assert_eq!(created, r.created);
        }
        Err(CrmError::Validation { field, .. }) => {
            prop_assert_eq!(field, "file");
            prop_assert_eq!(created, 0);
        }
        Err(e) => return Err(TestCaseError::fail(format!("{format:?}: {e:?}"))),
    }
    Ok(())
}

/// Bytes that look a little like CSV or JSON: header-ish prefixes, separators, quotes, line
/// ends, braces, high bytes.
fn noisy_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b",".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"[".to_vec()),
        Just(b":".to_vec()),
        Just(b"\"name\":".to_vec()),
        Just(b"\"external_id\":\"x\"".to_vec()),
        Just(b"'=".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\xFF\xFE".to_vec()),
        "[a-z ]{1,6}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 1..4),
    ];
    (
        prop_oneof![
            Just(Vec::new()),
            Just(b"external_id,name,tax_id,emails,open\n".to_vec()),
            Just(b"name\n".to_vec()),
        ],
        prop::collection::vec(token, 0..80),
    )
        .prop_map(|(head, tokens)| {
            let mut out = head;
            for t in tokens {
                out.extend(t);
            }
            out
        })
}

#[test]
fn random_bytes_never_panic_and_the_counts_add_up() {
    let db = Db::new();
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = prop_oneof![prop::collection::vec(any::<u8>(), 0..600), noisy_bytes()];
    runner
        .run(&strategy, |bytes| {
            check_random(&db, &bytes, FileFormat::Csv)?;
            check_random(&db, &bytes, FileFormat::JsonLines)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let report = db.crm.verify_audit(&db.sys).expect("verify");
    assert!(report.ok, "{report:?}");
}
