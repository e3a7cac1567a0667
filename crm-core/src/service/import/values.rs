//! Turning the text of an import cell into typed values. Each parser accepts the forms an
//! export writes and the forms people type.

use crate::model::{
    Address, AddressKind, CustomField, CustomFieldType, Email, EmailKind, Phone, PhoneKind,
};
use crate::money::Currency;
use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `true`/`false`, `yes`/`no`, `1`/`0`.
pub fn boolean(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Ok(true),
        "false" | "no" | "n" | "0" => Ok(false),
        _ => Err(format!("{s:?} is not true or false")),
    }
}

/// An RFC 3339 time, or a date (`YYYY-MM-DD`, taken as midnight UTC).
pub fn instant(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    date(s).map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// A date `YYYY-MM-DD`.
pub fn date(s: &str) -> Result<NaiveDate, String> {
    crate::model::parse_date(s).ok_or_else(|| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

/// A JSON document of type `T`, when the cell starts like one (custom money values).
fn json<T: DeserializeOwned>(s: &str) -> Option<Result<T, String>> {
    let t = s.trim_start();
    (t.starts_with('[') || t.starts_with('{'))
        .then(|| serde_json::from_str(t).map_err(|e| format!("bad JSON: {e}")))
}

/// A list cell written as a JSON array: `Some` when the cell is one (it starts with `[` and
/// parses as JSON), with its items or what is wrong with them; `None` for any other cell,
/// which is a `;` list (so `[VIP]; x` is two tags). Exports write a list this way when an item
/// would not survive the `;` form.
fn json_list<T: DeserializeOwned>(s: &str) -> Option<Result<Vec<T>, String>> {
    let t = s.trim_start();
    if !t.starts_with('[') {
        return None;
    }
    let v: Value = serde_json::from_str(t).ok()?;
    Some(serde_json::from_value(v).map_err(|e| format!("bad JSON list: {e}")))
}

/// Items of a list cell: `a; b; c` (also newline-separated).
fn items(s: &str) -> impl Iterator<Item = &str> {
    s.split([';', '\n'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
}

/// `kind:value` or just `value`.
fn labelled(item: &str) -> (Option<&str>, &str) {
    match item.split_once(':') {
        Some((k, v))
            if !k.contains('@')
                && !k.trim().is_empty()
                && k.chars().all(|c| c.is_ascii_alphabetic() || c == '_') =>
        {
            (Some(k.trim()), v.trim())
        }
        _ => (None, item),
    }
}

fn kind_of<K: DeserializeOwned>(label: Option<&str>, default: K) -> Result<K, String> {
    match label {
        None => Ok(default),
        Some(l) => serde_json::from_value(Value::String(l.to_ascii_lowercase()))
            .map_err(|_| format!("unknown kind {l:?}")),
    }
}

/// E-mails as a JSON list or `work:a@x.com; billing:b@x.com` (see `json_list`).
pub fn emails(s: &str) -> Result<Vec<Email>, String> {
    if let Some(parsed) = json_list(s) {
        return parsed;
    }
    items(s)
        .map(|item| {
            let (label, address) = labelled(item);
            Ok(Email {
                kind: kind_of(label, EmailKind::Work)?,
                address: address.to_string(),
            })
        })
        .collect()
}

/// Phones as a JSON list or `mobile:+49 170 1; work:030 2` (see `json_list`).
pub fn phones(s: &str) -> Result<Vec<Phone>, String> {
    if let Some(parsed) = json_list(s) {
        return parsed;
    }
    items(s)
        .map(|item| {
            let (label, number) = labelled(item);
            Ok(Phone {
                kind: kind_of(label, PhoneKind::Work)?,
                number: number.to_string(),
            })
        })
        .collect()
}

/// Addresses as a JSON list.
pub fn addresses(s: &str) -> Result<Vec<Address>, String> {
    json_list(s).unwrap_or_else(|| Err("expected a JSON list of addresses".into()))
}

/// One address from `address.*` fields; `None` when the row has none of them.
pub fn address_parts(get: impl Fn(&str) -> Option<String>) -> Option<Address> {
    let a = Address {
        kind: AddressKind::Legal,
        street: get("address.street"),
        city: get("address.city"),
        region: get("address.region"),
        postal_code: get("address.postal_code"),
        country: get("address.country"),
    };
    (a.street.is_some()
        || a.city.is_some()
        || a.region.is_some()
        || a.postal_code.is_some()
        || a.country.is_some())
    .then_some(a)
}

/// Tags as a JSON list or `a; b` (see `json_list`).
pub fn tags(s: &str) -> Result<Vec<String>, String> {
    if let Some(parsed) = json_list(s) {
        return parsed;
    }
    Ok(items(s).map(str::to_string).collect())
}

/// A custom value typed by its definition.
pub fn custom(def: &CustomField, s: &str) -> Result<Value, String> {
    let v = match def.field_type {
        // Exports write empty text, or text with surrounding white space, as a JSON string.
        CustomFieldType::Text => Value::String(crate::model::decode_text_cell(s)),
        CustomFieldType::Enum | CustomFieldType::Date => Value::String(s.to_string()),
        CustomFieldType::Bool => Value::Bool(boolean(s)?),
        CustomFieldType::Number => {
            let n: serde_json::Number = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
            Value::Number(n)
        }
        CustomFieldType::Money => match json::<Value>(s) {
            Some(v) => v?,
            None => {
                let (amount, currency) = money_text(s)?;
                serde_json::json!({ "amount_minor": amount, "currency": currency.as_str() })
            }
        },
    };
    def.validate(&v, &format!("custom.{}", def.key))
        .map_err(|e| e.to_string())?;
    Ok(v)
}

/// `EUR 123.45` or `123.45 EUR` as minor units and currency.
fn money_text(s: &str) -> Result<(i64, Currency), String> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let (amount, code) = match parts.as_slice() {
        [a, c] if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()) => (*a, *c),
        [c, a] if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()) => (*a, *c),
        _ => return Err(format!("{s:?} is not money such as \"EUR 12.50\"")),
    };
    let currency = Currency::parse(code, "currency").map_err(|e| e.to_string())?;
    Ok((decimal_to_minor(amount, &currency)?, currency))
}

/// A decimal amount such as `1054`, `1054.5` or `1,054.50` in minor units of `currency`
/// (exactly: more decimals than the currency has are refused, never rounded).
pub fn decimal_to_minor(s: &str, currency: &Currency) -> Result<i64, String> {
    let bad = || {
        format!(
            "{s:?} is not an amount in {currency} (at most {} decimals)",
            currency.minor_digits()
        )
    };
    let cleaned: String = s
        .chars()
        .filter(|c| *c != ',' && *c != '_' && *c != ' ')
        .collect();
    let (neg, digits) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cleaned.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let places = currency.minor_digits() as usize;
    if int.is_empty()
        || frac.len() > places
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let scale = 10_i64.pow(places as u32);
    let int: i64 = int.parse().map_err(|_| bad())?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<places$}").parse().map_err(|_| bad())?
    };
    let v = int
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac))
        .ok_or_else(bad)?;
    Ok(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_parse_in_export_and_typed_forms() {
        let e = emails("work:a@x.com; billing:b@y.com").unwrap();
        assert_eq!(e[1].kind, EmailKind::Billing);
        assert_eq!(emails("plain@x.com").unwrap()[0].kind, EmailKind::Work);
        assert_eq!(
            emails(r#"[{"kind":"personal","address":"p@x.com"}]"#).unwrap()[0].kind,
            EmailKind::Personal
        );
        assert_eq!(
            phones("mobile:+49 170 1").unwrap()[0].kind,
            PhoneKind::Mobile
        );
        assert!(phones("pager:1234567").is_err());
        assert_eq!(tags("a; b").unwrap(), vec!["a", "b"]);
        let usd = Currency::parse("USD", "c").unwrap();
        assert_eq!(decimal_to_minor("1,054.5", &usd), Ok(105_450));
        assert!(decimal_to_minor("1.005", &usd).is_err());
        assert_eq!(decimal_to_minor("-3", &usd), Ok(-300));
        assert_eq!(
            instant("2017-03-01").unwrap().to_rfc3339(),
            "2017-03-01T00:00:00+00:00"
        );
        assert!(boolean("maybe").is_err());
    }

    #[test]
    fn a_list_cell_is_json_only_when_it_parses_as_a_json_array() {
        assert_eq!(tags("[VIP]; x").unwrap(), vec!["[VIP]", "x"]);
        assert_eq!(tags("{draft}").unwrap(), vec!["{draft}"]);
        assert_eq!(
            tags(r#"["R&D; Sales", "[VIP]"]"#).unwrap(),
            vec!["R&D; Sales", "[VIP]"]
        );
        assert_eq!(tags(" [] ").unwrap(), Vec::<String>::new());
        // A JSON array of the wrong items is a mistake in JSON, not two tags.
        assert!(tags("[1, 2]").unwrap_err().contains("JSON"));
        let e = emails(r#"[{"kind":"work","address":"a;b@x.com"}]"#).unwrap();
        assert_eq!(e[0].address, "a;b@x.com");
        assert!(emails(r#"[{"kind":"pager","address":"a@x.com"}]"#).is_err());
        assert!(addresses("{}").is_err());
    }
}
