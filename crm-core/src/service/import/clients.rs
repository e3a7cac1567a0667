//! Importing clients: a row becomes a new client, or updates the client it matches.

use super::source::Row;
use super::values;
use super::{fail, in_savepoint, Failure, Job, Outcome};
use crate::access::EntityType;
use crate::crm::WriteCx;
use crate::ids::UserId;
use crate::model::{normalize, Client, ClientFields, ClientKind, MatchKey, NewClient, OnMatch};
use crate::service::clients::{
    archive_time, create_one, write_archived, write_archived_at, write_fields, write_owner,
};
use crate::service::Via;
use crate::store::clients;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

type R<T> = std::result::Result<T, Failure>;

fn parse<T>(row: &Row, field: &str, f: impl Fn(&str) -> Result<T, String>) -> R<Option<T>> {
    row.get(field)
        .map(|s| f(s).map_err(|m| Failure::Row(row.error(field, m))))
        .transpose()
}

/// The client the row refers to through `<prefix>_external_id` or `<prefix>_name`.
pub(crate) fn referenced_client(
    cx: &WriteCx<'_>,
    row: &Row,
    prefix: &str,
) -> R<Option<crate::ids::ClientId>> {
    let ext = format!("{prefix}_external_id");
    if let Some(x) = row.get(&ext) {
        return match clients::by_reference(cx.tx, x).map_err(|e| fail(row, e))? {
            Some(id) => Ok(Some(id)),
            None => Err(Failure::Unresolved(
                row.error(&ext, format!("no client with external id {x:?}")),
            )),
        };
    }
    let name = format!("{prefix}_name");
    if let Some(n) = row.get(&name) {
        let key = normalize::name_key(n).unwrap_or_default();
        let found = cx
            .clients_by_key("name", &key, 2)
            .map_err(|e| fail(row, e))?;
        return match found.as_slice() {
            [id] => Ok(Some(*id)),
            [] => Err(Failure::Unresolved(
                row.error(&name, format!("no client named {n:?}")),
            )),
            _ => Err(Failure::Row(row.error(
                &name,
                format!("several clients are named {n:?}: use {ext}"),
            ))),
        };
    }
    Ok(None)
}

/// The new state the row describes, on top of `base` (the matched client's fields, or empty).
fn fields_from_row(
    cx: &WriteCx<'_>,
    job: &Job<'_>,
    row: &Row,
    base: ClientFields,
) -> R<ClientFields> {
    let mut f = base;
    if let Some(k) = parse(row, "kind", |s| match s.to_ascii_lowercase().as_str() {
        "organization" | "organisation" | "org" | "company" => Ok(ClientKind::Organization),
        "person" | "individual" | "contact" => Ok(ClientKind::Person),
        other => Err(format!("{other:?} is neither organization nor person")),
    })? {
        f.kind = k;
    }
    if let Some(n) = row.get("name") {
        f.name = n.to_string();
    }
    if let Some(p) = referenced_client(cx, row, "parent")? {
        f.parent_id = Some(p);
    }
    if let Some(t) = row.get("tax_id") {
        f.tax_id = Some(t.to_string());
    }
    if let Some(t) = row.get("registration_number") {
        f.registration_number = Some(t.to_string());
    }
    if let Some(list) = parse(row, "emails", values::emails)? {
        f.emails = list;
    }
    if let Some(e) = parse(row, "email", values::emails)? {
        for one in e {
            if !f
                .emails
                .iter()
                .any(|x| normalize::email_key(&x.address) == normalize::email_key(&one.address))
            {
                f.emails.push(one);
            }
        }
    }
    if let Some(list) = parse(row, "phones", values::phones)? {
        f.phones = list;
    }
    if let Some(p) = parse(row, "phone", values::phones)? {
        for one in p {
            if !f
                .phones
                .iter()
                .any(|x| normalize::phone_key(&x.number) == normalize::phone_key(&one.number))
            {
                f.phones.push(one);
            }
        }
    }
    if let Some(list) = parse(row, "addresses", values::addresses)? {
        f.addresses = list;
    }
    if let Some(a) = values::address_parts(|k| row.get(k).map(str::to_string)) {
        if !f.addresses.contains(&a) {
            f.addresses.push(a);
        }
    }
    if let Some(t) = parse(row, "tags", values::tags)? {
        f.tags = t;
    }
    if let Some(o) = parse(row, "open", values::boolean)? {
        f.open = o;
    }
    if let Some(x) = row.get("external_id") {
        f.external_id = Some(x.to_string());
    }
    f.custom = custom_values(row, &job.client_fields, f.custom)?;
    Ok(f)
}

/// Merges the row's `custom.<key>` fields, typed by their definitions, into `custom`.
pub(crate) fn custom_values(
    row: &Row,
    defs: &[crate::model::CustomField],
    mut custom: BTreeMap<String, serde_json::Value>,
) -> R<BTreeMap<String, serde_json::Value>> {
    for (field, text) in &row.fields {
        let Some(key) = field.strip_prefix("custom.") else {
            continue;
        };
        let def = defs
            .iter()
            .find(|d| d.key == key)
            .ok_or_else(|| Failure::Row(row.error(field, "no such custom field")))?;
        let v = values::custom(def, text).map_err(|m| Failure::Row(row.error(field, m)))?;
        custom.insert(key.to_string(), v);
    }
    Ok(custom)
}

/// The existing client the row matches, trying the job's keys in order.
fn find_match(cx: &WriteCx<'_>, job: &Job<'_>, row: &Row, f: &ClientFields) -> R<Option<Client>> {
    let mut keys: Vec<(&str, String)> = Vec::new();
    for m in &job.spec.match_on {
        match m {
            MatchKey::ExternalId => {
                if let Some(x) = &f.external_id {
                    if let Some(id) = clients::by_reference(cx.tx, x).map_err(|e| fail(row, e))? {
                        return load(cx, row, id);
                    }
                }
            }
            MatchKey::TaxId => keys.extend(
                [&f.tax_id, &f.registration_number]
                    .into_iter()
                    .flatten()
                    .filter_map(|t| normalize::tax_key(t))
                    .map(|k| ("tax", k)),
            ),
            MatchKey::Email => keys.extend(
                f.emails
                    .iter()
                    .map(|e| ("email", normalize::email_key(&e.address))),
            ),
            MatchKey::Phone => keys.extend(
                f.phones
                    .iter()
                    .filter_map(|p| normalize::phone_key(&p.number))
                    .map(|k| ("phone", k)),
            ),
            MatchKey::Name => keys.extend(normalize::name_key(&f.name).map(|k| ("name", k))),
        }
        for (kind, key) in keys.drain(..) {
            if let Some(id) = cx
                .clients_by_key(kind, &key, 1)
                .map_err(|e| fail(row, e))?
                .first()
            {
                return load(cx, row, *id);
            }
        }
    }
    Ok(None)
}

fn load(cx: &WriteCx<'_>, row: &Row, id: crate::ids::ClientId) -> R<Option<Client>> {
    let c = clients::get(cx.tx, id).map_err(|e| fail(row, e))?;
    if let Some(c) = &c {
        let acl = crate::access::RecordAcl {
            owner_id: c.owner_id,
            department_id: c.department_id,
            open: c.open,
        };
        cx.check(
            EntityType::Client,
            crate::access::Action::Import,
            id.0,
            &acl,
        )
        .map_err(|e| fail(row, e))?;
    }
    Ok(c)
}

/// Imports one client row. A plain create checks everything before its first write, so a
/// failing one leaves nothing behind without a savepoint (FTS5 flushes its buffer at each);
/// updates and archived creates write in steps and run in one.
pub(super) fn row(cx: &WriteCx<'_>, job: &Job<'_>, row: &Row) -> R<Outcome> {
    let empty = ClientFields::empty(ClientKind::Organization);
    let fields = fields_from_row(cx, job, row, empty)?;
    let more = More::from_row(job, row)?;
    match find_match(cx, job, row, &fields)? {
        None if more.archived == Some(true) => {
            in_savepoint(cx, || create(cx, job, row, fields, &more))
        }
        None => create(cx, job, row, fields, &more),
        Some(_) if job.spec.on_match == OnMatch::Skip => Ok(Outcome::Unchanged),
        Some(old) => in_savepoint(cx, || update(cx, job, row, old, &more)),
    }
}

/// What a client row says besides the client's fields.
struct More {
    owner: Option<UserId>,
    created_at: Option<DateTime<Utc>>,
    archived: Option<bool>,
    /// When the client was archived (exports carry it); implies `archived`.
    archived_at: Option<DateTime<Utc>>,
}

impl More {
    fn from_row(job: &Job<'_>, row: &Row) -> R<More> {
        let archived = parse(row, "archived", values::boolean)?;
        let archived_at = parse(row, "archived_at", values::instant)?;
        if archived_at.is_some() && archived == Some(false) {
            return Err(Failure::Row(row.error(
                "archived_at",
                "is given for a client that is not archived",
            )));
        }
        Ok(More {
            owner: job.user(row, "owner")?,
            created_at: parse(row, "created_at", values::instant)?,
            archived: archived.or(archived_at.map(|_| true)),
            archived_at,
        })
    }
}

/// Creates the client a row describes.
fn create(
    cx: &WriteCx<'_>,
    job: &Job<'_>,
    row: &Row,
    fields: ClientFields,
    more: &More,
) -> R<Outcome> {
    let More {
        owner,
        created_at,
        archived,
        archived_at,
    } = *more;
    let new = NewClient {
        kind: fields.kind,
        name: fields.name,
        parent_id: fields.parent_id,
        tax_id: fields.tax_id,
        registration_number: fields.registration_number,
        emails: fields.emails,
        phones: fields.phones,
        addresses: fields.addresses,
        tags: fields.tags,
        custom: fields.custom,
        owner_id: owner,
        open: fields.open,
        external_id: fields.external_id,
        created_at,
    };
    if new.owner_id.is_none() && cx.ctx.user_id().is_none() {
        return Err(Failure::Row(row.error(
            "owner_email",
            "required when importing as the system context",
        )));
    }
    // Checked before the first write, so the archive step cannot fail after the insert.
    let archived_at = archived_at
        .map(|at| {
            let created = created_at.map_or(cx.now, |t| t.timestamp_millis());
            archive_time(cx, at, created)
        })
        .transpose()
        .map_err(|e| fail(row, e))?;
    let id = create_one(cx, &new, &job.client_fields, "", Via::Import).map_err(|e| fail(row, e))?;
    if archived == Some(true) {
        let c = clients::get(cx.tx, id).map_err(|e| fail(row, e))?;
        if let Some(c) = c {
            match archived_at {
                Some(at) => write_archived_at(cx, &c, at, Via::Import),
                None => write_archived(cx, &c, true, Via::Import),
            }
            .map_err(|e| fail(row, e))?;
        }
    }
    Ok(Outcome::Created)
}

/// Updates the matched client `old` with what the row says.
fn update(cx: &WriteCx<'_>, job: &Job<'_>, row: &Row, old: Client, more: &More) -> R<Outcome> {
    let More {
        owner,
        archived,
        archived_at,
        ..
    } = *more;
    let archived_at = archived_at
        .map(|at| archive_time(cx, at, old.created_at.timestamp_millis()))
        .transpose()
        .map_err(|e| fail(row, e))?;
    let mut current = old.clone();
    let next = fields_from_row(cx, job, row, ClientFields::from_stored(&old))?;
    let mut next = next
        .revalidated(&job.client_fields)
        .map_err(|e| fail(row, e))?;
    // `#<id>` is how exports name a record without an external id, not a new one.
    if old.external_id.is_none()
        && next.external_id.as_deref() == Some(format!("#{}", old.id).as_str())
    {
        next.external_id = None;
    }
    let mut changed = false;
    if next != ClientFields::from_stored(&current) {
        current = write_fields(cx, &current, &next, Via::Import).map_err(|e| fail(row, e))?;
        changed = true;
    }
    if let Some(o) = owner.filter(|o| *o != current.owner_id) {
        current = write_owner(cx, &current, o, Via::Import).map_err(|e| fail(row, e))?;
        changed = true;
    }
    // Stored times are milliseconds, as `archive_time` gives them.
    let stored_at = current.archived_at.map(|t| t.timestamp_millis());
    if let Some(at) = archived_at.filter(|at| stored_at != Some(*at)) {
        write_archived_at(cx, &current, at, Via::Import).map_err(|e| fail(row, e))?;
        changed = true;
    } else if let Some(a) = archived.filter(|a| *a != current.archived_at.is_some()) {
        write_archived(cx, &current, a, Via::Import).map_err(|e| fail(row, e))?;
        changed = true;
    }
    Ok(if changed {
        Outcome::Updated
    } else {
        Outcome::Unchanged
    })
}
