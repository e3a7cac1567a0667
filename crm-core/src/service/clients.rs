//! Writing clients: create, update, archive, restore, delete, reassign and contact links.
//! Every write checks the actor's plan on the record as it is and, for creates and
//! reassignments, as it will be; validates everything before writing; and audits a field-level
//! diff in the same transaction.

use crate::access::{Action, EntityType, RecordAcl};
use crate::crm::{Crm, WriteCx};
use crate::error::{CrmError, Result};
use crate::ids::{ClientId, UserId};
use crate::model::{Client, ClientFields, ClientKind, ClientUpdate, NewClient};
use crate::store::{activities, clients, custom_fields, deals};
use crate::Ctx;
use serde_json::{json, Value};

use super::{assign_target, check_version, create_target, diff, past_instant, to_json, Via};

const CLIENT: EntityType = EntityType::Client;

/// Loads a client the actor may perform `action` on (`NotFound` when it may not read it).
pub(crate) fn load_for(cx: &WriteCx<'_>, id: ClientId, action: Action) -> Result<Client> {
    let client = clients::get(cx.tx, id)?.ok_or(CrmError::NotFound {
        entity: "client",
        id: id.0,
    })?;
    cx.check(CLIENT, action, id.0, &acl_of(&client))?;
    Ok(client)
}

pub(crate) fn acl_of(c: &Client) -> RecordAcl {
    RecordAcl {
        owner_id: c.owner_id,
        department_id: c.department_id,
        open: c.open,
    }
}

/// Checks that `parent` can be the parent of `child` (`None` for a new client): it exists, the
/// actor can read it, it is an organisation, and the link makes no cycle.
fn check_parent(cx: &WriteCx<'_>, parent: Option<ClientId>, child: Option<ClientId>) -> Result<()> {
    let Some(p) = parent else { return Ok(()) };
    let missing = || CrmError::invalid("parent_id", format!("no organisation {p}"));
    let (acl, kind) = clients::acl(cx.tx, p)?.ok_or_else(missing)?;
    if !cx.access.plan(CLIENT, Action::Read).allows(&acl) || kind != ClientKind::Organization {
        return Err(missing());
    }
    if let Some(c) = child {
        if p == c || clients::ancestors(cx.tx, p)?.contains(&c) {
            return Err(CrmError::invalid(
                "parent_id",
                format!("organisation {p} lies below client {c}: a cycle"),
            ));
        }
    }
    Ok(())
}

impl Crm {
    /// Creates a client. The owner defaults to the acting user; the record must fall inside the
    /// actor's create level (open-to-everyone does not count for creating).
    ///
    /// ```
    /// # fn main() -> crm_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let crm = crm_core::Crm::open(dir.path().join("crm.db"))?;
    /// use crm_core::model::{NewClient, NewDepartment, NewUser};
    /// let sys = crm.system_context("setup")?;
    /// let hq = crm.create_department(&sys, &NewDepartment { name: "HQ".into(), parent_id: None })?;
    /// let anna = crm.create_user(&sys, &NewUser { name: "Anna".into(), email: "anna@example.com".into(), department_id: hq.id, admin: false })?;
    /// let acme = crm.create_client(&sys, &NewClient { owner_id: Some(anna.id), ..NewClient::organization("Acme Ltd") })?;
    /// assert_eq!(acme.department_id, hq.id);
    /// # Ok(()) }
    /// ```
    pub fn create_client(&self, ctx: &Ctx, new: &NewClient) -> Result<Client> {
        self.write(ctx, |cx| {
            let defs = custom_fields::list(cx.tx, CLIENT)?;
            let id = create_one(cx, new, &defs, "", Via::Api)?;
            clients::get(cx.tx, id)?.ok_or(CrmError::NotFound {
                entity: "client",
                id: id.0,
            })
        })
    }

    /// Creates many clients in one transaction: all or nothing. A validation error names the
    /// item, e.g. `[12].emails[0].address`. Much faster than one call per client.
    pub fn create_clients(&self, ctx: &Ctx, batch: &[NewClient]) -> Result<Vec<ClientId>> {
        self.write(ctx, |cx| {
            let defs = custom_fields::list(cx.tx, CLIENT)?;
            batch
                .iter()
                .enumerate()
                .map(|(i, n)| create_one(cx, n, &defs, &format!("[{i}]."), Via::Api))
                .collect()
        })
    }

    /// Changes a client's fields. `expected_version` is the version the caller read; if the
    /// record changed since, the call fails with `Conflict` and changes nothing.
    pub fn update_client(
        &self,
        ctx: &Ctx,
        id: ClientId,
        expected_version: i64,
        update: &ClientUpdate,
    ) -> Result<Client> {
        self.write(ctx, |cx| {
            let old = load_for(cx, id, Action::Update)?;
            check_version("client", id.0, old.version, expected_version)?;
            let defs = custom_fields::list(cx.tx, CLIENT)?;
            let fields = ClientFields::from_stored(&old).apply(update, &defs)?;
            write_fields(cx, &old, &fields, Via::Api)
        })
    }

    /// Archives a client: hidden from lists and search by default, kept with all its history.
    pub fn archive_client(&self, ctx: &Ctx, id: ClientId, expected_version: i64) -> Result<Client> {
        self.set_archived(ctx, id, expected_version, true)
    }

    /// Restores an archived client.
    pub fn restore_client(&self, ctx: &Ctx, id: ClientId, expected_version: i64) -> Result<Client> {
        self.set_archived(ctx, id, expected_version, false)
    }

    fn set_archived(
        &self,
        ctx: &Ctx,
        id: ClientId,
        expected_version: i64,
        archive: bool,
    ) -> Result<Client> {
        self.write(ctx, |cx| {
            let old = load_for(cx, id, Action::Update)?;
            check_version("client", id.0, old.version, expected_version)?;
            write_archived(cx, &old, archive, Via::Api)
        })
    }

    /// Deletes a client for good (needs the delete permission). Refused while organisations name
    /// it as their parent or deals or activities refer to it (archive it instead). Its contact
    /// links go with it.
    pub fn delete_client(&self, ctx: &Ctx, id: ClientId, expected_version: i64) -> Result<()> {
        self.write(ctx, |cx| {
            let old = load_for(cx, id, Action::Delete)?;
            check_version("client", id.0, old.version, expected_version)?;
            let subsidiaries = clients::subsidiary_count(cx.tx, id)?;
            let deals = deals::count_for_client(cx.tx, id)?;
            let activities = activities::count_for_client(cx.tx, id)?;
            if subsidiaries + deals + activities > 0 {
                return Err(CrmError::Constraint {
                    entity: "client",
                    id: id.0,
                    message: format!(
                        "still referenced by {subsidiaries} subsidiaries, {deals} deals and {activities} activities; archive it instead"
                    ),
                });
            }
            clients::delete(cx.tx, id)?;
            cx.changed("client.delete", CLIENT, id.0, &acl_of(&old), &diff(&to_json(&old), &Value::Null))
        })
    }

    /// Gives a client to another owner. Needs the assign permission on the client, and the
    /// client with its new owner (and so the new owner's department) must still lie inside the
    /// actor's assign level. The department stamp follows the owner in the same transaction.
    pub fn assign_client(
        &self,
        ctx: &Ctx,
        id: ClientId,
        expected_version: i64,
        new_owner: UserId,
    ) -> Result<Client> {
        self.write(ctx, |cx| {
            let old = load_for(cx, id, Action::Assign)?;
            check_version("client", id.0, old.version, expected_version)?;
            write_owner(cx, &old, new_owner, Via::Api)
        })
    }

    /// Makes a person a contact of an organisation (or changes the position of an existing
    /// link). Needs update on the organisation and read on the person.
    pub fn link_contact(
        &self,
        ctx: &Ctx,
        organization: ClientId,
        person: ClientId,
        position: Option<&str>,
    ) -> Result<()> {
        self.write(ctx, |cx| {
            let org = load_for(cx, organization, Action::Update)?;
            if org.kind != ClientKind::Organization {
                return Err(CrmError::invalid(
                    "organization_id",
                    format!("client {organization} is not an organisation"),
                ));
            }
            let p = clients::get(cx.tx, person)?
                .filter(|p| cx.access.plan(CLIENT, Action::Read).allows(&acl_of(p)));
            match p {
                Some(p) if p.kind == ClientKind::Person => {}
                _ => {
                    return Err(CrmError::invalid(
                        "person_id",
                        format!("no person {person}"),
                    ))
                }
            }
            let position = crate::model::optional_text("position", position, 200)?;
            clients::upsert_contact(cx.tx, organization, person, position.as_deref())?;
            cx.changed(
                "client.link_contact",
                CLIENT,
                organization.0,
                &acl_of(&org),
                &json!({"contacts": [null, {"person_id": person, "position": position}]}),
            )
        })
    }

    /// Removes a contact link. Needs update on the organisation.
    pub fn unlink_contact(
        &self,
        ctx: &Ctx,
        organization: ClientId,
        person: ClientId,
    ) -> Result<()> {
        self.write(ctx, |cx| {
            let org = load_for(cx, organization, Action::Update)?;
            if !clients::delete_contact(cx.tx, organization, person)? {
                return Err(CrmError::invalid(
                    "person_id",
                    format!("client {person} is not a contact of {organization}"),
                ));
            }
            // A deal's contact person must be a contact of its client: the organisation's
            // deals lose this one, unless their stage requires a contact person.
            for deal in deals::with_contact(cx.tx, organization, person)? {
                let stage = crate::store::pipelines::get(cx.tx, deal.pipeline_id)?
                    .and_then(|p| p.stage(deal.stage_id).cloned());
                if stage.is_some_and(|s| s.required_fields.contains(&crate::model::RequiredField::ContactPerson)) {
                    return Err(CrmError::Constraint {
                        entity: "deal",
                        id: deal.id.0,
                        message: format!("its stage requires contact person {person}: change the deal's contact first"),
                    });
                }
                deals::clear_contact(cx.tx, deal.id, cx.now)?;
                let acl = RecordAcl { owner_id: deal.owner_id, department_id: deal.department_id, open: deal.open };
                cx.changed("deal.update", EntityType::Deal, deal.id.0, &acl, &json!({ "contact_id": [person, null] }))?;
            }
            cx.changed(
                "client.unlink_contact",
                CLIENT,
                organization.0,
                &acl_of(&org),
                &json!({"contacts": [{"person_id": person}, null]}),
            )
        })
    }
}

/// Validates and inserts one new client; `prefix` goes before field names in errors.
pub(crate) fn create_one(
    cx: &WriteCx<'_>,
    new: &NewClient,
    defs: &[crate::model::CustomField],
    prefix: &str,
    via: Via,
) -> Result<ClientId> {
    let with_prefix = |e: CrmError| match e {
        CrmError::Validation { field, message } => CrmError::Validation {
            field: format!("{prefix}{field}"),
            message,
        },
        other => other,
    };
    let fields = ClientFields::from_new(new, defs).map_err(with_prefix)?;
    let (owner, acl) = create_target(cx, CLIENT, via, new.owner_id, fields.open, "owner_id")
        .map_err(with_prefix)?;
    check_parent(cx, fields.parent_id, None).map_err(with_prefix)?;
    check_external_id(cx, fields.external_id.as_deref(), None).map_err(with_prefix)?;
    let created_at = past_instant(new.created_at, cx.now, "created_at").map_err(with_prefix)?;
    let id = clients::insert(
        cx.tx,
        &fields,
        owner.id,
        owner.department_id,
        created_at,
        cx.now,
    )?;
    cx.add_client_keys(id, &fields)?;
    cx.index_new_client(id, &fields, &acl)?;
    via.record(cx, "client.create", CLIENT, id.0, &acl, || {
        let doc = clients::get(cx.tx, id)?
            .map(|c| to_json(&c))
            .unwrap_or(Value::Null);
        Ok(diff(&Value::Null, &doc))
    })?;
    Ok(id)
}

/// Refuses an external id another client (other than `this`) already holds.
fn check_external_id(
    cx: &WriteCx<'_>,
    external_id: Option<&str>,
    this: Option<ClientId>,
) -> Result<()> {
    if let Some(x) = external_id {
        if let Some(other) = clients::by_external_id(cx.tx, x)?.filter(|o| Some(*o) != this) {
            return Err(CrmError::invalid(
                "external_id",
                format!("{x:?} is already used by client {other}"),
            ));
        }
    }
    Ok(())
}

/// Records the change from `old` to the stored state of `id` and returns the new state.
fn finish(cx: &WriteCx<'_>, action: &str, old: &Client, id: ClientId, via: Via) -> Result<Client> {
    let new = clients::get(cx.tx, id)?.ok_or(CrmError::NotFound {
        entity: "client",
        id: id.0,
    })?;
    via.record(cx, action, CLIENT, id.0, &acl_of(&new), || {
        Ok(diff(&to_json(old), &to_json(&new)))
    })?;
    Ok(new)
}

/// Writes new field values of a loaded client after checking them and the actor's right to the
/// record as it is and as it will be.
pub(crate) fn write_fields(
    cx: &WriteCx<'_>,
    old: &Client,
    fields: &ClientFields,
    via: Via,
) -> Result<Client> {
    let action = via.action(Action::Update);
    let id = old.id;
    // Making a record open or closed changes who may read it; the result must still be
    // inside the actor's rights.
    cx.check(
        CLIENT,
        action,
        id.0,
        &RecordAcl {
            open: fields.open,
            ..acl_of(old)
        },
    )?;
    check_external_id(cx, fields.external_id.as_deref(), Some(id))?;
    if fields.parent_id != old.parent_id {
        check_parent(cx, fields.parent_id, Some(id))?;
    }
    let before = ClientFields::from_stored(old);
    if !clients::update(cx.tx, id, old.version, &before, fields, cx.now)? {
        return Err(CrmError::Conflict {
            entity: "client",
            id: id.0,
            expected: old.version,
            actual: old.version + 1,
        });
    }
    let acl = RecordAcl {
        open: fields.open,
        ..acl_of(old)
    };
    cx.index_client(id, fields, &acl)?;
    finish(cx, "client.update", old, id, via)
}

/// Archives (`true`) or restores a loaded client.
pub(crate) fn write_archived(
    cx: &WriteCx<'_>,
    old: &Client,
    archive: bool,
    via: Via,
) -> Result<Client> {
    if old.archived_at.is_some() == archive {
        let state = if archive {
            "already archived"
        } else {
            "not archived"
        };
        return Err(CrmError::Constraint {
            entity: "client",
            id: old.id.0,
            message: state.into(),
        });
    }
    clients::set_archived(
        cx.tx,
        old.id,
        old.version,
        archive.then_some(cx.now),
        cx.now,
    )?;
    finish(
        cx,
        if archive {
            "client.archive"
        } else {
            "client.restore"
        },
        old,
        old.id,
        via,
    )
}

/// Checks a time to archive a client created at `created` (milliseconds) at: neither in the
/// future nor before the creation. Returns it in milliseconds. Callers that write in steps
/// check it before their first write.
pub(crate) fn archive_time(
    cx: &WriteCx<'_>,
    at: chrono::DateTime<chrono::Utc>,
    created: i64,
) -> Result<i64> {
    let at = past_instant(Some(at), cx.now, "archived_at")?;
    if at < created {
        return Err(CrmError::invalid(
            "archived_at",
            "is before the client was created (give its created_at)",
        ));
    }
    Ok(at)
}

/// Archives a loaded client at `at` (milliseconds, as [`archive_time`] returned it) rather
/// than now (an import carrying the time the source archived it), or moves the archive time of
/// an archived one. The caller checked the permission.
pub(crate) fn write_archived_at(
    cx: &WriteCx<'_>,
    old: &Client,
    at: i64,
    via: Via,
) -> Result<Client> {
    if !clients::set_archived(cx.tx, old.id, old.version, Some(at), cx.now)? {
        return Err(CrmError::Conflict {
            entity: "client",
            id: old.id.0,
            expected: old.version,
            actual: old.version + 1,
        });
    }
    finish(cx, "client.archive", old, old.id, via)
}

/// Gives a loaded client to `new_owner`, who must lie inside the actor's assign (or import) level.
pub(crate) fn write_owner(
    cx: &WriteCx<'_>,
    old: &Client,
    new_owner: UserId,
    via: Via,
) -> Result<Client> {
    let action = via.action(Action::Assign);
    let owner = assign_target(
        cx, CLIENT, action, old.id.0, old.open, new_owner, "owner_id",
    )?;
    clients::set_owner(
        cx.tx,
        old.id,
        old.version,
        owner.id,
        owner.department_id,
        cx.now,
    )?;
    // The search document carries the owner and department terms.
    let acl = RecordAcl {
        owner_id: owner.id,
        department_id: owner.department_id,
        open: old.open,
    };
    cx.index_client(old.id, &ClientFields::from_stored(old), &acl)?;
    finish(cx, "client.assign", old, old.id, via)
}
