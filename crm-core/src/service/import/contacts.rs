//! Importing contact-person links between organisations and persons.

use super::clients::referenced_client;
use super::source::Row;
use super::{fail, Failure, Job, Outcome};
use crate::access::{Action, EntityType, RecordAcl};
use crate::crm::WriteCx;
use crate::model::{optional_text, ClientKind};
use crate::store::clients;

/// Links the row's person to its organisation (or updates the position).
pub(super) fn row(cx: &WriteCx<'_>, _job: &Job<'_>, row: &Row) -> Result<Outcome, Failure> {
    let org = referenced_client(cx, row, "organization")?.ok_or_else(|| {
        Failure::Row(row.error(
            "organization_external_id",
            "is required (or organization_name)",
        ))
    })?;
    let person = referenced_client(cx, row, "person")?.ok_or_else(|| {
        Failure::Row(row.error("person_external_id", "is required (or person_name)"))
    })?;
    let (org_acl, org_kind) = clients::acl(cx.tx, org)
        .map_err(|e| fail(row, e))?
        .ok_or_else(|| Failure::Row(row.error_row("organization vanished")))?;
    let (_, person_kind) = clients::acl(cx.tx, person)
        .map_err(|e| fail(row, e))?
        .ok_or_else(|| Failure::Row(row.error_row("person vanished")))?;
    if org_kind != ClientKind::Organization {
        return Err(Failure::Row(
            row.error("organization_external_id", "is not an organisation"),
        ));
    }
    if person_kind != ClientKind::Person {
        return Err(Failure::Row(
            row.error("person_external_id", "is not a person"),
        ));
    }
    cx.check(EntityType::Client, Action::Import, org.0, &org_acl)
        .map_err(|e| fail(row, e))?;
    let position = optional_text("position", row.get("position"), 200).map_err(|e| fail(row, e))?;
    let existing = clients::contact_position(cx.tx, org, person).map_err(|e| fail(row, e))?;
    if existing.as_ref() == Some(&position) {
        return Ok(Outcome::Unchanged);
    }
    clients::upsert_contact(cx.tx, org, person, position.as_deref()).map_err(|e| fail(row, e))?;
    let acl: RecordAcl = org_acl;
    let change =
        serde_json::json!({ "contacts": [null, { "person_id": person, "position": position }] });
    cx.emit(
        "client.link_contact",
        EntityType::Client,
        org.0,
        &acl,
        &change,
    )
    .map_err(|e| fail(row, e))?;
    Ok(if existing.is_some() {
        Outcome::Updated
    } else {
        Outcome::Created
    })
}
