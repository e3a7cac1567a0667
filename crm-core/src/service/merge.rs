//! Merging duplicate clients, and undoing a merge. Deals, activities, contact links and
//! subsidiaries move to the survivor; fields are resolved by explicit choice where both sides
//! differ; the duplicate is archived; everything needed to undo is kept with the merge.

use super::clients::{acl_of, load_for, write_archived, write_fields, write_owner};
use super::org::record_acl;
use super::Via;
use crate::access::{Action, EntityType};
use crate::crm::{Crm, WriteCx};
use crate::error::{CrmError, Result};
use crate::ids::ClientId;
use crate::model::{Client, ClientFields, MergeChoice, MergeOutcome, MergeRequest};
use crate::store::{clients, merge};
use crate::Ctx;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Everything a merge changed, to undo it.
#[derive(Serialize, Deserialize)]
struct Undo {
    survivor: Client,
    duplicate: Client,
    deals_client: Vec<i64>,
    deals_contact: Vec<i64>,
    activities: Vec<i64>,
    subsidiaries: Vec<i64>,
    /// (organisation, person, position, whether the survivor got it: false = dropped as a duplicate link)
    links: Vec<(ClientId, ClientId, Option<String>, bool)>,
}

/// Which side a scalar field takes: the agreed value, the only value, or the chosen one.
fn pick<T: Clone + PartialEq>(
    field: &str,
    s: &T,
    d: &T,
    empty: impl Fn(&T) -> bool,
    choices: &BTreeMap<String, MergeChoice>,
    conflicts: &mut Vec<String>,
) -> Result<T> {
    match choices.get(field) {
        Some(MergeChoice::Survivor) => Ok(s.clone()),
        Some(MergeChoice::Duplicate) => Ok(d.clone()),
        Some(MergeChoice::Both) => Err(CrmError::invalid(
            format!("choices.{field}"),
            "`both` is only for lists",
        )),
        None if s == d || empty(d) => Ok(s.clone()),
        None if empty(s) => Ok(d.clone()),
        None => {
            conflicts.push(field.to_string());
            Ok(s.clone())
        }
    }
}

/// A list field: the union by default.
fn pick_list<T: Clone + PartialEq>(
    field: &str,
    s: &[T],
    d: &[T],
    choices: &BTreeMap<String, MergeChoice>,
) -> Vec<T> {
    match choices.get(field) {
        Some(MergeChoice::Survivor) => s.to_vec(),
        Some(MergeChoice::Duplicate) => d.to_vec(),
        Some(MergeChoice::Both) | None => {
            let mut out = s.to_vec();
            out.extend(d.iter().filter(|x| !s.contains(x)).cloned());
            out
        }
    }
}

const FIELDS: [&str; 12] = [
    "name",
    "parent_id",
    "tax_id",
    "registration_number",
    "external_id",
    "open",
    "owner_id",
    "emails",
    "phones",
    "addresses",
    "tags",
    "custom.",
];

/// The survivor's fields after the merge, or the list of fields that need a choice.
fn resolve(
    s: &Client,
    d: &Client,
    choices: &BTreeMap<String, MergeChoice>,
) -> Result<ClientFields> {
    for key in choices.keys() {
        if !FIELDS
            .iter()
            .any(|f| key == f || (f.ends_with('.') && key.starts_with(f)))
        {
            return Err(CrmError::invalid(
                format!("choices.{key}"),
                "not a mergeable field",
            ));
        }
    }
    let mut conflicts = Vec::new();
    let none = |o: &Option<String>| o.is_none();
    let mut f = ClientFields::from_stored(s);
    f.name = pick(
        "name",
        &s.name,
        &d.name,
        |n| n.is_empty(),
        choices,
        &mut conflicts,
    )?;
    f.parent_id = pick(
        "parent_id",
        &s.parent_id,
        &d.parent_id,
        Option::is_none,
        choices,
        &mut conflicts,
    )?;
    f.tax_id = pick(
        "tax_id",
        &s.tax_id,
        &d.tax_id,
        none,
        choices,
        &mut conflicts,
    )?;
    f.registration_number = pick(
        "registration_number",
        &s.registration_number,
        &d.registration_number,
        none,
        choices,
        &mut conflicts,
    )?;
    f.external_id = pick(
        "external_id",
        &s.external_id,
        &d.external_id,
        none,
        choices,
        &mut conflicts,
    )?;
    f.open = pick("open", &s.open, &d.open, |_| false, choices, &mut conflicts)?;
    f.emails = pick_list("emails", &s.emails, &d.emails, choices);
    f.phones = pick_list("phones", &s.phones, &d.phones, choices);
    f.addresses = pick_list("addresses", &s.addresses, &d.addresses, choices);
    f.tags = pick_list("tags", &s.tags, &d.tags, choices);
    for (key, dv) in &d.custom {
        let field = format!("custom.{key}");
        let sv = s.custom.get(key).cloned().unwrap_or(Value::Null);
        let v = pick(&field, &sv, dv, Value::is_null, choices, &mut conflicts)?;
        if v.is_null() {
            f.custom.remove(key);
        } else {
            f.custom.insert(key.clone(), v);
        }
    }
    if !conflicts.is_empty() {
        return Err(CrmError::invalid(
            "choices",
            format!(
                "both clients hold different values: choose survivor or duplicate for {}",
                conflicts.join(", ")
            ),
        ));
    }
    // A merged client cannot be its own parent.
    if f.parent_id == Some(s.id) || f.parent_id == Some(d.id) {
        f.parent_id = None;
    }
    Ok(f)
}

/// Checks the actor may update every listed record of `entity` (they get a new client).
fn check_movable(cx: &WriteCx<'_>, entity: EntityType, ids: &[i64]) -> Result<()> {
    for id in ids {
        if let Some(acl) = record_acl(cx.tx, entity, *id)? {
            cx.check(entity, Action::Update, *id, &acl)?;
        }
    }
    Ok(())
}

/// Checks, before an undo writes anything, that the actor may still update every record it
/// moves back: rights may have changed since the merge. The survivor was loaded for update;
/// the duplicate gets its fields back; deals, activities and subsidiaries still pointing at
/// the survivor change client; organisations other than the two get their contact link back.
fn check_undoable(cx: &WriteCx<'_>, undo: &Undo, sid: ClientId, d_now: &Client) -> Result<()> {
    cx.check(
        EntityType::Client,
        Action::Update,
        d_now.id.0,
        &acl_of(d_now),
    )?;
    let moved = |table: &str, column: &str, ids: &[i64]| {
        merge::still_referencing(cx.tx, table, column, ids, sid)
    };
    check_movable(
        cx,
        EntityType::Deal,
        &moved("deals", "client_id", &undo.deals_client)?,
    )?;
    check_movable(
        cx,
        EntityType::Deal,
        &moved("deals", "contact_id", &undo.deals_contact)?,
    )?;
    check_movable(
        cx,
        EntityType::Activity,
        &moved("activities", "client_id", &undo.activities)?,
    )?;
    check_movable(
        cx,
        EntityType::Client,
        &moved("clients", "parent_id", &undo.subsidiaries)?,
    )?;
    // Changing an organisation's contacts is an update of the organisation (as `link_contact`).
    let orgs: Vec<i64> = undo
        .links
        .iter()
        .map(|(org, ..)| *org)
        .filter(|o| *o != sid && *o != d_now.id)
        .map(|o| o.0)
        .collect();
    check_movable(cx, EntityType::Client, &orgs)
}

/// Re-points references of `ids` from one client to another and records each move.
fn repoint(
    cx: &WriteCx<'_>,
    entity: EntityType,
    table: &str,
    column: &str,
    ids: &[i64],
    from: ClientId,
    to: ClientId,
) -> Result<u64> {
    merge::repoint(cx.tx, table, column, ids, from, to, cx.now)?;
    for id in ids {
        let acl = record_acl(cx.tx, entity, *id)?;
        if let Some(acl) = acl {
            cx.changed(
                &format!("{entity}.update"),
                entity,
                *id,
                &acl,
                &json!({ column: [from, to] }),
            )?;
        }
    }
    Ok(ids.len() as u64)
}

impl Crm {
    /// Merges a duplicate client into a survivor (see [`MergeRequest`] for how fields are
    /// chosen). Needs update on the survivor, delete on the duplicate, and update on every deal,
    /// activity and subsidiary that moves. Audited; undo with [`Crm::undo_merge`].
    pub fn merge_clients(&self, ctx: &Ctx, req: &MergeRequest) -> Result<MergeOutcome> {
        self.write(ctx, |cx| {
            if req.survivor_id == req.duplicate_id {
                return Err(CrmError::invalid("duplicate_id", "is the survivor itself"));
            }
            let s = load_for(cx, req.survivor_id, Action::Update)?;
            let d = load_for(cx, req.duplicate_id, Action::Delete)?;
            if s.kind != d.kind {
                return Err(CrmError::invalid("duplicate_id", "an organisation and a person cannot be merged"));
            }
            let fields = resolve(&s, &d, &req.choices)?;
            let (sid, did) = (s.id, d.id);
            let undo = Undo {
                survivor: s.clone(),
                duplicate: d.clone(),
                deals_client: merge::referencing(cx.tx, "deals", "client_id", did)?,
                deals_contact: merge::referencing(cx.tx, "deals", "contact_id", did)?,
                activities: merge::referencing(cx.tx, "activities", "client_id", did)?,
                subsidiaries: merge::referencing(cx.tx, "clients", "parent_id", did)?.into_iter().filter(|c| *c != sid.0).collect(),
                links: Vec::new(),
            };
            check_movable(cx, EntityType::Deal, &undo.deals_client)?;
            check_movable(cx, EntityType::Deal, &undo.deals_contact)?;
            check_movable(cx, EntityType::Activity, &undo.activities)?;
            check_movable(cx, EntityType::Client, &undo.subsidiaries)?;

            // The duplicate gives up its external id first when the survivor takes it over.
            let mut d_now = d.clone();
            if fields.external_id.is_some() && fields.external_id == d.external_id {
                let mut df = ClientFields::from_stored(&d);
                df.external_id = None;
                d_now = write_fields(cx, &d, &df, Via::Api)?;
            }
            if d_now.parent_id == Some(sid) || s.parent_id == Some(did) {
                // Break a parent link between the two before moving subsidiaries.
                let mut df = ClientFields::from_stored(&d_now);
                df.parent_id = None;
                d_now = write_fields(cx, &d_now, &df, Via::Api)?;
            }
            let mut s_now = write_fields(cx, &s, &fields, Via::Api)?;
            if req.choices.get("owner_id") == Some(&MergeChoice::Duplicate) && d.owner_id != s.owner_id {
                s_now = write_owner(cx, &s_now, d.owner_id, Via::Api)?;
            }
            let mut undo = undo;
            repoint(cx, EntityType::Deal, "deals", "client_id", &undo.deals_client, did, sid)?;
            repoint(cx, EntityType::Deal, "deals", "contact_id", &undo.deals_contact, did, sid)?;
            // A deal naming the duplicate as client and as contact counts once.
            let moved_deals = undo.deals_client.iter().chain(&undo.deals_contact).collect::<std::collections::BTreeSet<_>>().len() as u64;
            let moved_activities = repoint(cx, EntityType::Activity, "activities", "client_id", &undo.activities, did, sid)?;
            let moved_subs = repoint(cx, EntityType::Client, "clients", "parent_id", &undo.subsidiaries, did, sid)?;
            let mut moved_links = 0;
            for as_person in [false, true] {
                for (other, position) in merge::links(cx.tx, did, as_person)? {
                    let (org, person) = if as_person { (other, did) } else { (did, other) };
                    let (new_org, new_person) = if as_person { (other, sid) } else { (sid, other) };
                    merge::unlink(cx.tx, org, person)?;
                    let keep = new_org != new_person && clients::contact_position(cx.tx, new_org, new_person)?.is_none();
                    if keep {
                        clients::upsert_contact(cx.tx, new_org, new_person, position.as_deref())?;
                        moved_links += 1;
                    }
                    undo.links.push((org, person, position, keep));
                }
            }
            if d_now.archived_at.is_none() {
                write_archived(cx, &d_now, true, Via::Api)?;
            }
            let doc = serde_json::to_string(&undo).map_err(|e| CrmError::Corrupt { what: "merge undo".into(), message: e.to_string() })?;
            let merge_id = merge::insert(cx.tx, sid, did, cx.now, cx.ctx.user_id().map(|u| u.0), &doc)?;
            let counts = json!({ "merge_id": merge_id, "duplicate_id": did, "deals": moved_deals, "activities": moved_activities, "contacts": moved_links, "subsidiaries": moved_subs });
            cx.changed("client.merge", EntityType::Client, sid.0, &acl_of(&s_now), &counts)?;
            let survivor = clients::get(cx.tx, sid)?.ok_or(CrmError::NotFound { entity: "client", id: sid.0 })?;
            Ok(MergeOutcome {
                merge_id,
                survivor,
                deals: moved_deals,
                activities: moved_activities,
                contacts: moved_links,
                subsidiaries: moved_subs,
            })
        })
    }

    /// Undoes a merge: the survivor's fields and owner go back to what they were before it
    /// (later edits of those fields are overwritten), the duplicate is restored, and every moved
    /// deal, activity, subsidiary and contact link that still points at the survivor goes back.
    /// Same permissions as the merge, checked again on the records as they are now (update on
    /// the survivor, the duplicate and everything that moves back, delete on the duplicate):
    /// without them the undo is refused with `PermissionDenied`, audited, and changes nothing.
    pub fn undo_merge(&self, ctx: &Ctx, merge_id: i64) -> Result<Client> {
        self.write(ctx, |cx| {
            let (sid, did, doc) = merge::pending(cx.tx, merge_id)?.ok_or(CrmError::NotFound {
                entity: "merge",
                id: merge_id,
            })?;
            let undo: Undo = serde_json::from_str(&doc).map_err(|e| CrmError::Corrupt {
                what: format!("merge {merge_id}"),
                message: e.to_string(),
            })?;
            let s_now = load_for(cx, sid, Action::Update)?;
            let d_now = load_for(cx, did, Action::Delete)?;
            check_undoable(cx, &undo, sid, &d_now)?;
            // Survivor first (it gives back the duplicate's external id), then the duplicate.
            let mut s_now = write_fields(
                cx,
                &s_now,
                &ClientFields::from_stored(&undo.survivor),
                Via::Api,
            )?;
            if s_now.owner_id != undo.survivor.owner_id {
                s_now = write_owner(cx, &s_now, undo.survivor.owner_id, Via::Api)?;
            }
            let d_now = write_fields(
                cx,
                &d_now,
                &ClientFields::from_stored(&undo.duplicate),
                Via::Api,
            )?;
            if undo.duplicate.archived_at.is_none() && d_now.archived_at.is_some() {
                write_archived(cx, &d_now, false, Via::Api)?;
            }
            repoint(
                cx,
                EntityType::Deal,
                "deals",
                "client_id",
                &undo.deals_client,
                sid,
                did,
            )?;
            repoint(
                cx,
                EntityType::Deal,
                "deals",
                "contact_id",
                &undo.deals_contact,
                sid,
                did,
            )?;
            repoint(
                cx,
                EntityType::Activity,
                "activities",
                "client_id",
                &undo.activities,
                sid,
                did,
            )?;
            repoint(
                cx,
                EntityType::Client,
                "clients",
                "parent_id",
                &undo.subsidiaries,
                sid,
                did,
            )?;
            for (org, person, position, moved) in &undo.links {
                if *moved {
                    let (o, p) = if *org == did {
                        (sid, *person)
                    } else {
                        (*org, sid)
                    };
                    merge::unlink(cx.tx, o, p)?;
                }
                clients::upsert_contact(cx.tx, *org, *person, position.as_deref())?;
            }
            merge::mark_undone(cx.tx, merge_id, cx.now)?;
            cx.changed(
                "client.unmerge",
                EntityType::Client,
                sid.0,
                &acl_of(&s_now),
                &json!({ "merge_id": merge_id, "duplicate_id": did }),
            )?;
            Ok(s_now)
        })
    }
}
