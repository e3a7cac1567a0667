//! Clients: organisations and persons, their contact details, and the queries that list them.

use crate::ids::{ClientId, DepartmentId, UserId};
use crate::model::Patch;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Whether a client is an organisation or a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// A company, a branch, a public body. Organisations form a parent/subsidiary hierarchy.
    Organization,
    /// A natural person; may be the contact person of several organisations.
    Person,
}

impl ClientKind {
    pub(crate) fn as_i64(self) -> i64 {
        match self {
            ClientKind::Organization => 1,
            ClientKind::Person => 2,
        }
    }

    pub(crate) fn from_i64(n: i64) -> Option<Self> {
        match n {
            1 => Some(ClientKind::Organization),
            2 => Some(ClientKind::Person),
            _ => None,
        }
    }
}

/// What an e-mail address is used for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    /// Work address.
    #[default]
    Work,
    /// Private address.
    Personal,
    /// Where invoices go.
    Billing,
    /// Anything else.
    Other,
}

/// What a phone number is used for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    /// Office line.
    #[default]
    Work,
    /// Mobile phone.
    Mobile,
    /// Home line.
    Home,
    /// Fax.
    Fax,
    /// Anything else.
    Other,
}

/// What a postal address is used for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    /// Registered (legal) address.
    #[default]
    Legal,
    /// Where letters go.
    Postal,
    /// Where invoices go.
    Billing,
    /// Where goods go.
    Shipping,
    /// Anything else.
    Other,
}

/// An e-mail address of a client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// What it is used for.
    #[serde(default)]
    pub kind: EmailKind,
    /// The address, e.g. `anna@example.com`.
    pub address: String,
}

/// A phone number of a client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    /// What it is used for.
    #[serde(default)]
    pub kind: PhoneKind,
    /// The number as written, e.g. `+49 30 1234-567`.
    pub number: String,
}

/// A postal address of a client. At least one part must be non-empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// What it is used for.
    #[serde(default)]
    pub kind: AddressKind,
    /// Street and number.
    #[serde(default)]
    pub street: Option<String>,
    /// City or town.
    #[serde(default)]
    pub city: Option<String>,
    /// State, province or region.
    #[serde(default)]
    pub region: Option<String>,
    /// Postal code.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. `DE`.
    #[serde(default)]
    pub country: Option<String>,
}

/// A stored client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Client {
    /// Its id.
    pub id: ClientId,
    /// Organisation or person.
    pub kind: ClientKind,
    /// Display name.
    pub name: String,
    /// The parent organisation (organisations only).
    pub parent_id: Option<ClientId>,
    /// Tax id as entered.
    pub tax_id: Option<String>,
    /// Company registration number as entered.
    pub registration_number: Option<String>,
    /// E-mail addresses.
    pub emails: Vec<Email>,
    /// Phone numbers.
    pub phones: Vec<Phone>,
    /// Postal addresses.
    pub addresses: Vec<Address>,
    /// Tags.
    pub tags: Vec<String>,
    /// Values of admin-defined custom fields, by field key.
    pub custom: BTreeMap<String, Value>,
    /// The responsible manager.
    pub owner_id: UserId,
    /// The owner's department, stamped on the record for permission checks.
    pub department_id: DepartmentId,
    /// Whether the record is open to everyone (roles decide per cell whether that counts).
    pub open: bool,
    /// When the client was archived; archived clients are hidden from lists by default.
    pub archived_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version, incremented by every change.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Time of the last change.
    pub updated_at: DateTime<Utc>,
    /// Identifier in another system (unique), used to match imports.
    pub external_id: Option<String>,
}

/// Input for creating a client.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// Organisation or person.
    pub kind: ClientKind,
    /// Display name (1–300 characters).
    pub name: String,
    /// The parent organisation (organisations only; must exist and be readable).
    #[serde(default)]
    pub parent_id: Option<ClientId>,
    /// Tax id.
    #[serde(default)]
    pub tax_id: Option<String>,
    /// Company registration number.
    #[serde(default)]
    pub registration_number: Option<String>,
    /// E-mail addresses.
    #[serde(default)]
    pub emails: Vec<Email>,
    /// Phone numbers.
    #[serde(default)]
    pub phones: Vec<Phone>,
    /// Postal addresses.
    #[serde(default)]
    pub addresses: Vec<Address>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Custom field values by key; validated against the field definitions.
    #[serde(default)]
    pub custom: BTreeMap<String, Value>,
    /// The responsible manager; defaults to the acting user (required in a system context).
    #[serde(default)]
    pub owner_id: Option<UserId>,
    /// Open to everyone.
    #[serde(default)]
    pub open: bool,
    /// Identifier in another system (unique), used to match imports.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Creation time to record instead of now (for importing history); not in the future.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

impl NewClient {
    /// A new organisation with only a name; fill in the rest with struct update syntax.
    pub fn organization(name: impl Into<String>) -> Self {
        Self::new(ClientKind::Organization, name)
    }

    /// A new person with only a name.
    pub fn person(name: impl Into<String>) -> Self {
        Self::new(ClientKind::Person, name)
    }

    fn new(kind: ClientKind, name: impl Into<String>) -> Self {
        NewClient {
            kind,
            name: name.into(),
            parent_id: None,
            tax_id: None,
            registration_number: None,
            emails: Vec::new(),
            phones: Vec::new(),
            addresses: Vec::new(),
            tags: Vec::new(),
            custom: BTreeMap::new(),
            owner_id: None,
            open: false,
            external_id: None,
            created_at: None,
        }
    }
}

/// A change to a client. Absent fields stay as they are. The owner is changed with
/// `Crm::assign_client`, which needs the assign permission.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientUpdate {
    /// New name.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub name: Patch<String>,
    /// New parent organisation, or `null` to detach.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub parent_id: Patch<Option<ClientId>>,
    /// New tax id, or `null` to clear.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub tax_id: Patch<Option<String>>,
    /// New registration number, or `null` to clear.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub registration_number: Patch<Option<String>>,
    /// Replaces all e-mail addresses.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub emails: Patch<Vec<Email>>,
    /// Replaces all phone numbers.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub phones: Patch<Vec<Phone>>,
    /// Replaces all addresses.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub addresses: Patch<Vec<Address>>,
    /// Replaces all tags.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub tags: Patch<Vec<String>>,
    /// Custom values to merge: a key set to a value overwrites, a key set to `null` removes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, Value>,
    /// New "open to everyone" flag.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub open: Patch<bool>,
    /// New external id, or `null` to clear.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub external_id: Patch<Option<String>>,
}

/// Which clients a list shows with respect to archiving.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveFilter {
    /// Only clients that are not archived.
    #[default]
    Active,
    /// Only archived clients.
    Archived,
}

/// A comparison in a custom-field filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    /// Equal.
    #[default]
    Eq,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
}

/// A filter on a custom field, e.g. `{"key": "segment", "value": "smb"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomFilter {
    /// The field key.
    pub key: String,
    /// The comparison (`eq` by default; ordering comparisons need a number, money or date field).
    #[serde(default)]
    pub op: CompareOp,
    /// The value compared with, typed like the field.
    pub value: Value,
}

/// A page request for the client list, sorted by name then id.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientQuery {
    /// Only organisations or only persons.
    #[serde(default)]
    pub kind: Option<ClientKind>,
    /// Active (default) or archived clients.
    #[serde(default)]
    pub archive: ArchiveFilter,
    /// Only clients of this owner.
    #[serde(default)]
    pub owner_id: Option<UserId>,
    /// Only clients stamped with this department or one below it.
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    /// Only direct subsidiaries of this organisation.
    #[serde(default)]
    pub parent_id: Option<ClientId>,
    /// Only clients carrying this tag (case-insensitive).
    #[serde(default)]
    pub tag: Option<String>,
    /// Custom-field conditions, all of which must hold.
    #[serde(default)]
    pub custom: Vec<CustomFilter>,
    /// Page size, 1–500 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    #[serde(default)]
    pub after: Option<String>,
}

/// A full-text search request. Results come newest first, in pages.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Words to find in names, e-mails, phones and tax ids; each word matches as a prefix.
    pub text: String,
    /// Only organisations or only persons.
    #[serde(default)]
    pub kind: Option<ClientKind>,
    /// Active (default) or archived clients.
    #[serde(default)]
    pub archive: ArchiveFilter,
    /// Page size, 1–500 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    #[serde(default)]
    pub after: Option<String>,
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The records on this page.
    pub items: Vec<T>,
    /// Cursor for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// Why two clients may be the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchReason {
    /// Same tax id or registration number after normalisation.
    TaxId,
    /// Same e-mail address (case-insensitive).
    Email,
    /// Same phone number (digits only).
    Phone,
    /// Same name after removing case, punctuation and legal-form suffixes.
    Name,
}

/// A possible duplicate of a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DuplicateCandidate {
    /// The other client.
    pub client: Client,
    /// What the two share, strongest first.
    pub reasons: Vec<MatchReason>,
}

/// The link between an organisation and one of its contact people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactLink {
    /// The organisation.
    pub organization_id: ClientId,
    /// The person.
    pub person_id: ClientId,
    /// The person's position or role there, e.g. `CFO`.
    pub position: Option<String>,
}
