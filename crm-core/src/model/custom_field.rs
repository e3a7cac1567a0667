//! Admin-defined custom fields: their definitions and the validation of their values.

use crate::access::EntityType;
use crate::error::{CrmError, Result};
use crate::ids::CustomFieldId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The type of a custom field; values are validated against it on every write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomFieldType {
    /// A string of at most 2,000 characters.
    Text,
    /// A finite JSON number.
    Number,
    /// `{"amount_minor": 12345, "currency": "EUR"}`: integer minor units and an ISO 4217 code.
    Money,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// `true` or `false`.
    Bool,
    /// One of the field's `options`.
    Enum,
}

/// A custom field definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomField {
    /// Its id.
    pub id: CustomFieldId,
    /// The entity type it belongs to.
    pub entity: EntityType,
    /// Key used in records and filters: lower-case ASCII letters, digits and `_`, starting with a letter.
    pub key: String,
    /// Label shown to users.
    pub label: String,
    /// Value type.
    pub field_type: CustomFieldType,
    /// Allowed values of an enum field.
    pub options: Vec<String>,
    /// Whether every record must carry a value.
    pub required: bool,
}

/// Input for defining a custom field.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomField {
    /// The entity type it belongs to.
    pub entity: EntityType,
    /// Key (see [`CustomField::key`]).
    pub key: String,
    /// Label shown to users.
    pub label: String,
    /// Value type.
    pub field_type: CustomFieldType,
    /// Allowed values, for enum fields only (at least one, no duplicates).
    #[serde(default)]
    pub options: Vec<String>,
    /// Whether every record must carry a value. A required field can only be added while no
    /// record of the entity type exists, so no stored record breaks the rule.
    #[serde(default)]
    pub required: bool,
}

const MAX_TEXT: usize = 2_000;

impl CustomField {
    /// Checks `value` against the field's type; `field` is the path used in the error.
    pub fn validate(&self, value: &Value, field: &str) -> Result<()> {
        let bad = |msg: &str| Err(CrmError::invalid(field, msg.to_string()));
        match self.field_type {
            CustomFieldType::Text => match value.as_str() {
                Some(s) if s.chars().count() <= MAX_TEXT => Ok(()),
                Some(_) => bad("text longer than 2000 characters"),
                None => bad("expected a string"),
            },
            CustomFieldType::Number => match value.as_f64() {
                Some(n) if n.is_finite() => Ok(()),
                _ => bad("expected a number"),
            },
            CustomFieldType::Money => validate_money(value, field),
            CustomFieldType::Date => match value.as_str() {
                Some(s) if parse_date(s).is_some() => Ok(()),
                _ => bad("expected a date as YYYY-MM-DD"),
            },
            CustomFieldType::Bool => match value {
                Value::Bool(_) => Ok(()),
                _ => bad("expected true or false"),
            },
            CustomFieldType::Enum => match value.as_str() {
                Some(s) if self.options.iter().any(|o| o == s) => Ok(()),
                _ => bad(&format!("expected one of {:?}", self.options)),
            },
        }
    }

    /// Whether values of this field have an order that `lt`/`gt` filters can use.
    pub fn is_ordered(&self) -> bool {
        matches!(
            self.field_type,
            CustomFieldType::Number | CustomFieldType::Money | CustomFieldType::Date
        )
    }
}

fn validate_money(value: &Value, field: &str) -> Result<()> {
    let obj = value.as_object().ok_or_else(|| {
        CrmError::invalid(
            field,
            "expected {\"amount_minor\": int, \"currency\": \"ISO\"}",
        )
    })?;
    if obj.keys().any(|k| k != "amount_minor" && k != "currency") {
        return Err(CrmError::invalid(
            field,
            "money has only amount_minor and currency",
        ));
    }
    if !obj.get("amount_minor").is_some_and(Value::is_i64) {
        return Err(CrmError::invalid(
            format!("{field}.amount_minor"),
            "expected an integer number of minor units",
        ));
    }
    let currency_field = format!("{field}.currency");
    match obj.get("currency").and_then(Value::as_str) {
        Some(c) => crate::money::Currency::parse(c, &currency_field).map(drop),
        None => Err(CrmError::invalid(
            currency_field,
            "expected an ISO 4217 code such as EUR",
        )),
    }
}

/// Parses `YYYY-MM-DD` into a real calendar date.
pub fn parse_date(s: &str) -> Option<chrono::NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

impl NewCustomField {
    /// Checks the definition itself.
    pub fn validate(&self) -> Result<()> {
        let key = &self.key;
        let key_ok = key.len() <= 64
            && key.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok {
            return Err(CrmError::invalid(
                "key",
                "use 1-64 lower-case letters, digits and _, starting with a letter",
            ));
        }
        crate::model::require_text("label", &self.label, 200)?;
        match (self.field_type, self.options.is_empty()) {
            (CustomFieldType::Enum, true) => {
                return Err(CrmError::invalid(
                    "options",
                    "an enum field needs at least one option",
                ))
            }
            (CustomFieldType::Enum, false) => {}
            (_, false) => {
                return Err(CrmError::invalid(
                    "options",
                    "only enum fields take options",
                ))
            }
            (_, true) => {}
        }
        for (i, opt) in self.options.iter().enumerate() {
            crate::model::require_text(&format!("options[{i}]"), opt, 200)?;
            if self.options[..i].contains(opt) {
                return Err(CrmError::invalid(
                    format!("options[{i}]"),
                    "duplicate option",
                ));
            }
        }
        Ok(())
    }
}
