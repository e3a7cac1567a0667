//! Validation of client input. Everything a caller supplies is checked here before any SQL runs;
//! the checks that need the database (parent exists, owner exists) live in the service.

use crate::error::{CrmError, Result};
use crate::ids::ClientId;
use crate::model::{
    normalize, Address, Client, ClientKind, ClientUpdate, CustomField, Email, NewClient, Phone,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// Trims `value` and checks it is non-empty and at most `max` characters.
pub(crate) fn require_text(field: &str, value: &str, max: usize) -> Result<String> {
    let t = value.trim();
    if t.is_empty() {
        return Err(CrmError::invalid(field, "must not be empty"));
    }
    check_len(field, t, max)?;
    if t.chars().any(char::is_control) {
        return Err(CrmError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(t.to_string())
}

/// Trims an optional multi-line text (notes, bodies): like [`optional_text`], but line breaks and
/// tabs are allowed.
pub(crate) fn optional_long_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => {
            check_len(field, t, max)?;
            if t.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            {
                return Err(CrmError::invalid(
                    field,
                    "must not contain control characters other than line breaks and tabs",
                ));
            }
            Ok(Some(t.to_string()))
        }
    }
}

/// Trims an optional value; blank becomes `None`.
pub(crate) fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => require_text(field, t, max).map(Some),
    }
}

fn check_len(field: &str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(CrmError::invalid(
            field,
            format!("longer than {max} characters"),
        ));
    }
    Ok(())
}

/// Checks an e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces.
pub(crate) fn validate_email_address(field: &str, address: &str) -> Result<String> {
    let a = require_text(field, address, 254)?;
    let ok = match a.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !a.contains(char::is_whitespace)
        }
        None => false,
    };
    if !ok {
        return Err(CrmError::invalid(
            field,
            format!("{a:?} is not an e-mail address"),
        ));
    }
    Ok(a)
}

fn validate_phone(field: &str, number: &str) -> Result<String> {
    let n = require_text(field, number, 40)?;
    if let Some(bad) = n
        .chars()
        .find(|c| !(c.is_ascii_digit() || " +-().".contains(*c)))
    {
        return Err(CrmError::invalid(
            field,
            format!("unexpected character {bad:?} in a phone number"),
        ));
    }
    if normalize::phone_key(&n).is_none() {
        return Err(CrmError::invalid(
            field,
            "a phone number needs at least 5 digits",
        ));
    }
    Ok(n)
}

fn validate_id_number(field: &str, value: Option<&str>) -> Result<Option<String>> {
    let Some(v) = optional_text(field, value, 40)? else {
        return Ok(None);
    };
    if let Some(bad) = v
        .chars()
        .find(|c| !(c.is_alphanumeric() || " -./".contains(*c)))
    {
        return Err(CrmError::invalid(
            field,
            format!("unexpected character {bad:?}"),
        ));
    }
    if normalize::tax_key(&v).is_none() {
        return Err(CrmError::invalid(
            field,
            "needs at least one letter or digit",
        ));
    }
    Ok(Some(v))
}

fn validate_address(field: &str, a: &Address) -> Result<Address> {
    let part = |name: &str, v: &Option<String>, max| {
        optional_text(&format!("{field}.{name}"), v.as_deref(), max)
    };
    let out = Address {
        kind: a.kind,
        street: part("street", &a.street, 300)?,
        city: part("city", &a.city, 120)?,
        region: part("region", &a.region, 120)?,
        postal_code: part("postal_code", &a.postal_code, 20)?,
        country: part("country", &a.country, 2)?,
    };
    if let Some(c) = &out.country {
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CrmError::invalid(
                format!("{field}.country"),
                "expected an ISO 3166-1 alpha-2 code such as DE",
            ));
        }
    }
    if out.street.is_none()
        && out.city.is_none()
        && out.region.is_none()
        && out.postal_code.is_none()
        && out.country.is_none()
    {
        return Err(CrmError::invalid(
            field,
            "an address needs at least one part",
        ));
    }
    Ok(out)
}

fn validate_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for (i, t) in tags.iter().enumerate() {
        let t = require_text(&format!("tags[{i}]"), t, 64)?;
        if !out
            .iter()
            .any(|o| normalize::tag_key(o) == normalize::tag_key(&t))
        {
            out.push(t);
        }
    }
    Ok(out)
}

const MAX_ITEMS: usize = 50;

fn check_count(field: &str, n: usize) -> Result<()> {
    if n > MAX_ITEMS {
        return Err(CrmError::invalid(
            field,
            format!("at most {MAX_ITEMS} entries"),
        ));
    }
    Ok(())
}

/// The editable fields of a client, validated and trimmed: what the storage layer writes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClientFields {
    pub kind: ClientKind,
    pub name: String,
    pub parent_id: Option<ClientId>,
    pub tax_id: Option<String>,
    pub registration_number: Option<String>,
    pub emails: Vec<Email>,
    pub phones: Vec<Phone>,
    pub addresses: Vec<Address>,
    pub tags: Vec<String>,
    pub custom: BTreeMap<String, Value>,
    pub open: bool,
    pub external_id: Option<String>,
}

impl ClientFields {
    /// The editable fields of a stored client.
    pub fn from_stored(c: &Client) -> Self {
        ClientFields {
            kind: c.kind,
            name: c.name.clone(),
            parent_id: c.parent_id,
            tax_id: c.tax_id.clone(),
            registration_number: c.registration_number.clone(),
            emails: c.emails.clone(),
            phones: c.phones.clone(),
            addresses: c.addresses.clone(),
            tags: c.tags.clone(),
            custom: c.custom.clone(),
            open: c.open,
            external_id: c.external_id.clone(),
        }
    }

    /// Fields of a client with nothing set yet but its kind (the base an import row fills in).
    pub fn empty(kind: ClientKind) -> Self {
        ClientFields {
            kind,
            name: String::new(),
            parent_id: None,
            tax_id: None,
            registration_number: None,
            emails: Vec::new(),
            phones: Vec::new(),
            addresses: Vec::new(),
            tags: Vec::new(),
            custom: BTreeMap::new(),
            open: false,
            external_id: None,
        }
    }

    /// Validates (and normalises) fields assembled by the caller.
    pub fn revalidated(self, defs: &[CustomField]) -> Result<Self> {
        self.validated(defs)
    }

    /// Validates a new client against the custom field definitions of clients.
    pub fn from_new(n: &NewClient, defs: &[CustomField]) -> Result<Self> {
        let fields = ClientFields {
            kind: n.kind,
            name: n.name.clone(),
            parent_id: n.parent_id,
            tax_id: n.tax_id.clone(),
            registration_number: n.registration_number.clone(),
            emails: n.emails.clone(),
            phones: n.phones.clone(),
            addresses: n.addresses.clone(),
            tags: n.tags.clone(),
            custom: n.custom.clone(),
            open: n.open,
            external_id: n.external_id.clone(),
        };
        fields.validated(defs)
    }

    /// Applies an update to these (stored) fields and validates the result.
    pub fn apply(&self, u: &ClientUpdate, defs: &[CustomField]) -> Result<Self> {
        let next = ClientFields {
            kind: self.kind,
            name: u.name.or_keep(self.name.clone()),
            parent_id: u.parent_id.or_keep(self.parent_id),
            tax_id: u.tax_id.or_keep(self.tax_id.clone()),
            registration_number: u
                .registration_number
                .or_keep(self.registration_number.clone()),
            emails: u.emails.or_keep(self.emails.clone()),
            phones: u.phones.or_keep(self.phones.clone()),
            addresses: u.addresses.or_keep(self.addresses.clone()),
            tags: u.tags.or_keep(self.tags.clone()),
            custom: merge_custom(&self.custom, &u.custom),
            open: u.open.or_keep(self.open),
            external_id: u.external_id.or_keep(self.external_id.clone()),
        };
        next.validated(defs)
    }

    fn validated(self, defs: &[CustomField]) -> Result<Self> {
        if self.kind == ClientKind::Person && self.parent_id.is_some() {
            return Err(CrmError::invalid(
                "parent_id",
                "only organisations have a parent",
            ));
        }
        check_count("emails", self.emails.len())?;
        check_count("phones", self.phones.len())?;
        check_count("addresses", self.addresses.len())?;
        check_count("tags", self.tags.len())?;
        let emails = self
            .emails
            .iter()
            .enumerate()
            .map(|(i, e)| {
                Ok(Email {
                    kind: e.kind,
                    address: validate_email_address(&format!("emails[{i}].address"), &e.address)?,
                })
            })
            .collect::<Result<_>>()?;
        let phones = self
            .phones
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(Phone {
                    kind: p.kind,
                    number: validate_phone(&format!("phones[{i}].number"), &p.number)?,
                })
            })
            .collect::<Result<_>>()?;
        let addresses = self
            .addresses
            .iter()
            .enumerate()
            .map(|(i, a)| validate_address(&format!("addresses[{i}]"), a))
            .collect::<Result<_>>()?;
        validate_custom(&self.custom, defs)?;
        Ok(ClientFields {
            kind: self.kind,
            name: require_text("name", &self.name, 300)?,
            parent_id: self.parent_id,
            tax_id: validate_id_number("tax_id", self.tax_id.as_deref())?,
            registration_number: validate_id_number(
                "registration_number",
                self.registration_number.as_deref(),
            )?,
            emails,
            phones,
            addresses,
            tags: validate_tags(&self.tags)?,
            custom: self.custom,
            open: self.open,
            external_id: optional_text("external_id", self.external_id.as_deref(), 200)?,
        })
    }
}

/// Applies a custom-value patch: a key set to a value overwrites, a key set to `null` removes.
pub(crate) fn merge_custom(
    old: &BTreeMap<String, Value>,
    patch: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    let mut out = old.clone();
    for (k, v) in patch {
        if v.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Checks custom values: every key defined, every value of its type, every required field set.
pub(crate) fn validate_custom(
    values: &BTreeMap<String, Value>,
    defs: &[CustomField],
) -> Result<()> {
    for (key, value) in values {
        let field = format!("custom.{key}");
        let def = defs
            .iter()
            .find(|d| &d.key == key)
            .ok_or_else(|| CrmError::invalid(&field, "no such custom field"))?;
        def.validate(value, &field)?;
    }
    if let Some(missing) = defs
        .iter()
        .find(|d| d.required && !values.contains_key(&d.key))
    {
        return Err(CrmError::invalid(
            format!("custom.{}", missing.key),
            "is required",
        ));
    }
    Ok(())
}
