//! Reading the accounting system's export files: invoices and payments as CSV or JSON.
//!
//! CSV files need a header row; columns are found by name, in any order, and unknown columns
//! are ignored. Which kind a CSV file holds is told by its name (`invoices*.csv`,
//! `payments*.csv`). A JSON file holds `{"invoices": [...], "payments": [...]}` with the same
//! field names.
//!
//! Invoice fields: `invoice_no`, `tax_id`, `client_name`, `issue_date`, `due_date` (YYYY-MM-DD),
//! `amount` (a decimal such as `1200.50`), `currency` (ISO 4217), `deal_id` (optional: the CRM
//! deal the invoice bills).
//! Payment fields: `payment_id`, `invoice_no`, `date`, `amount`, `currency`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An invoice (a receivable) from the export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// Invoice number, unique in the accounting system.
    pub invoice_no: String,
    /// The customer's tax id.
    pub tax_id: String,
    /// The customer's name.
    pub client_name: String,
    /// Issue date, YYYY-MM-DD.
    pub issue_date: String,
    /// Due date, YYYY-MM-DD.
    pub due_date: String,
    /// Amount, decimal.
    pub amount: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// The CRM deal it bills, when the accounting system knows it.
    #[serde(default, deserialize_with = "opt_id")]
    pub deal_id: Option<i64>,
}

/// A payment against an invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Payment id, unique in the accounting system.
    pub payment_id: String,
    /// The invoice paid.
    pub invoice_no: String,
    /// Payment date, YYYY-MM-DD.
    pub date: String,
    /// Amount, decimal.
    pub amount: String,
    /// ISO 4217 currency.
    pub currency: String,
}

fn opt_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        N(i64),
        S(String),
    }
    match Option::<Id>::deserialize(d)? {
        None => Ok(None),
        Some(Id::N(n)) => Ok(Some(n)),
        Some(Id::S(s)) if s.trim().is_empty() => Ok(None),
        Some(Id::S(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("deal_id {s:?} is not a number"))),
    }
}

#[derive(Deserialize, Default)]
struct JsonExport {
    #[serde(default)]
    invoices: Vec<Invoice>,
    #[serde(default)]
    payments: Vec<Payment>,
}

/// Everything read from a drop folder.
#[derive(Debug, Default)]
pub struct Export {
    /// Invoices by number (a later file overrides an earlier one).
    pub invoices: BTreeMap<String, Invoice>,
    /// Payments by id.
    pub payments: BTreeMap<String, Payment>,
    /// Files read.
    pub files: Vec<PathBuf>,
}

/// Reads every `*.csv` and `*.json` file of `dir`, in name order.
pub fn read_dir(dir: &Path) -> Result<Export, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("csv") | Some("json")
                )
        })
        .collect();
    paths.sort();
    let mut out = Export::default();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let at = |e: String| format!("{}: {e}", p.display());
        if name.ends_with(".json") {
            let j: JsonExport = serde_json::from_str(&text).map_err(|e| at(e.to_string()))?;
            for i in j.invoices {
                out.invoices.insert(i.invoice_no.clone(), i);
            }
            for pay in j.payments {
                out.payments.insert(pay.payment_id.clone(), pay);
            }
        } else if name.starts_with("invoices") {
            for i in csv_records::<Invoice>(&text).map_err(at)? {
                out.invoices.insert(i.invoice_no.clone(), i);
            }
        } else if name.starts_with("payments") {
            for pay in csv_records::<Payment>(&text).map_err(at)? {
                out.payments.insert(pay.payment_id.clone(), pay);
            }
        } else {
            continue;
        }
        out.files.push(p);
    }
    Ok(out)
}

/// Parses CSV text (RFC 4180: quotes, doubled quotes, CRLF) into rows of fields.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                line += 1;
                row.push(std::mem::take(&mut field));
                if !(row.len() == 1 && row[0].trim().is_empty()) {
                    rows.push(std::mem::take(&mut row));
                }
                row.clear();
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(format!("line {line}: unterminated quoted field"));
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// Parses CSV with a header row into records of `T` (by column name).
fn csv_records<T: serde::de::DeserializeOwned>(text: &str) -> Result<Vec<T>, String> {
    let rows = parse_csv(text.trim_start_matches('\u{feff}'))?;
    let Some((header, body)) = rows.split_first() else {
        return Ok(vec![]);
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    body.iter()
        .enumerate()
        .map(|(i, r)| {
            let obj: serde_json::Map<String, serde_json::Value> = header
                .iter()
                .zip(r)
                .map(|(h, v)| (h.clone(), serde_json::Value::String(v.trim().to_string())))
                .collect();
            serde_json::from_value(serde_json::Value::Object(obj))
                .map_err(|e| format!("row {}: {e}", i + 2))
        })
        .collect()
}

/// Digits after the decimal point of a currency's minor unit.
pub fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// A decimal amount (`1200.5`, `1,200.50`) in minor units of `currency`.
pub fn to_minor(amount: &str, currency: &str) -> Result<i64, String> {
    let digits = minor_digits(currency);
    let clean: String = amount
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != ' ')
        .collect();
    let (neg, clean) = match clean.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, clean),
    };
    let (int, frac) = clean.split_once('.').unwrap_or((&clean, ""));
    let bad = || format!("amount {amount:?} is not a decimal number");
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if frac.len() > digits as usize || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "amount {amount:?} has more than {digits} decimals for {currency}"
        ));
    }
    let mut frac = frac.to_string();
    while frac.len() < digits as usize {
        frac.push('0');
    }
    let v: i64 = format!("{int}{frac}").parse().map_err(|_| bad())?;
    Ok(if neg { -v } else { v })
}

/// Minor units as a decimal string.
pub fn format_minor(minor: i64, currency: &str) -> String {
    let digits = minor_digits(currency);
    if digits == 0 {
        return minor.to_string();
    }
    let p = 10i64.pow(digits);
    let sign = if minor < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:0width$}",
        (minor / p).abs(),
        (minor % p).abs(),
        width = digits as usize
    )
}

/// Checks a YYYY-MM-DD date.
pub fn check_date(field: &str, d: &str) -> Result<(), String> {
    let b = d.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&d[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&d[8..10].parse::<u32>().unwrap_or(0));
    if ok {
        Ok(())
    } else {
        Err(format!("{field} {d:?} is not a date YYYY-MM-DD"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes() {
        let rows = parse_csv("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\n1,2").unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["a".to_string(), "b".into()],
                vec!["x, y".into(), "say \"hi\"".into()],
                vec!["1".into(), "2".into()],
            ]
        );
        assert!(parse_csv("\"open").is_err());
    }

    #[test]
    fn money() {
        assert_eq!(to_minor("1,200.5", "EUR").unwrap(), 120050);
        assert_eq!(to_minor("1200", "JPY").unwrap(), 1200);
        assert!(to_minor("1.234", "EUR").is_err());
        assert!(to_minor("abc", "EUR").is_err());
        assert_eq!(format_minor(120050, "EUR"), "1200.50");
        assert_eq!(format_minor(5, "KWD"), "0.005");
    }

    #[test]
    fn dates() {
        assert!(check_date("d", "2024-02-29").is_ok());
        assert!(check_date("d", "2024-13-01").is_err());
        assert!(check_date("d", "24-1-1").is_err());
    }
}
