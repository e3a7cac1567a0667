//! Deals: create, read, list, update, move through stages, reassign, delete. Every stage change
//! is checked against the stage's rules before anything is written and recorded as an event in
//! the same transaction.

use super::{assign_target, check_version, create_target, diff, past_instant, to_json, Via};
use crate::access::{Action, EntityType, RecordAcl, SqlAccess};
use crate::crm::{Access, Crm, WriteCx};
use crate::error::{CrmError, Result};
use crate::ids::{ClientId, DealId, UserId};
use crate::model::{
    merge_custom, optional_text, require_text, validate_custom, ClientKind, Deal, DealQuery,
    DealUpdate, NewDeal, Page, Pipeline, RequiredField, Stage, StageEvent, StageKind, StageMove,
};
use crate::period::month_number;
use crate::store::deals::{self, DealFilter, DealRow, StageChange};
use crate::store::{activities, clients, custom_fields, pipelines, settings};
use crate::Ctx;
use chrono::NaiveDate;
use rusqlite::Connection;
use serde_json::Value;
use std::collections::BTreeMap;

const DEAL: EntityType = EntityType::Deal;

fn acl_of(d: &Deal) -> RecordAcl {
    RecordAcl {
        owner_id: d.owner_id,
        department_id: d.department_id,
        open: d.open,
    }
}

/// The validated editable fields of a deal.
struct DealFields {
    title: String,
    client_id: Option<ClientId>,
    contact_id: Option<ClientId>,
    amount_minor: i64,
    currency: crate::money::Currency,
    probability_override: Option<u8>,
    expected_close_date: Option<NaiveDate>,
    open: bool,
    custom: BTreeMap<String, Value>,
    external_id: Option<String>,
}

impl DealFields {
    fn row<'a>(
        &'a self,
        pipeline: &Pipeline,
        stage: &Stage,
        owner: UserId,
        dept: crate::ids::DepartmentId,
    ) -> DealRow<'a> {
        DealRow {
            title: &self.title,
            client_id: self.client_id,
            contact_id: self.contact_id,
            pipeline_id: pipeline.id,
            stage_id: stage.id,
            status: stage.kind,
            amount_minor: self.amount_minor,
            currency: &self.currency,
            probability_override: self.probability_override,
            expected_close: self.expected_close_date.map(|d| d.to_string()),
            expected_month: self.expected_close_date.map(month_number),
            owner_id: owner,
            dept_id: dept,
            open: self.open,
            custom: serde_json::to_string(&self.custom).unwrap_or_else(|_| "{}".into()),
            external_id: self.external_id.as_deref(),
        }
    }

    /// Validates the fields of deal `this` (`None` for a new deal).
    fn validate(self, cx: &WriteCx<'_>, this: Option<DealId>) -> Result<Self> {
        let title = require_text("title", &self.title, 300)?;
        let external_id = optional_text("external_id", self.external_id.as_deref(), 200)?;
        if let Some(x) = &external_id {
            if let Some(other) = deals::by_external_id(cx.tx, x)?.filter(|o| Some(*o) != this) {
                return Err(CrmError::invalid(
                    "external_id",
                    format!("{x:?} is already used by deal {other}"),
                ));
            }
        }
        if self.amount_minor < 0 {
            return Err(CrmError::invalid("amount_minor", "must not be negative"));
        }
        if self.probability_override.is_some_and(|p| p > 100) {
            return Err(CrmError::invalid("probability_override", "must be 0-100"));
        }
        validate_custom(&self.custom, &custom_fields::list(cx.tx, DEAL)?)?;
        let readable = |id: ClientId| -> Result<Option<ClientKind>> {
            Ok(clients::acl(cx.tx, id)?
                .filter(|(acl, _)| cx.access.plan(EntityType::Client, Action::Read).allows(acl))
                .map(|(_, kind)| kind))
        };
        if let Some(c) = self.client_id {
            if readable(c)?.is_none() {
                return Err(CrmError::invalid("client_id", format!("no client {c}")));
            }
        }
        if let Some(p) = self.contact_id {
            if readable(p)? != Some(ClientKind::Person) {
                return Err(CrmError::invalid("contact_id", format!("no person {p}")));
            }
            // The contact person speaks for the client: the client itself, or one of its contacts.
            let belongs = match self.client_id {
                None => true,
                Some(c) => c == p || clients::contact_position(cx.tx, c, p)?.is_some(),
            };
            if !belongs {
                return Err(CrmError::invalid(
                    "contact_id",
                    format!(
                        "person {p} is not a contact of client {}",
                        self.client_id.map(|c| c.0).unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(DealFields {
            title,
            external_id,
            ..self
        })
    }

    /// Checks the fields a stage requires for entry.
    fn check_required(&self, stage: &Stage) -> Result<()> {
        for r in &stage.required_fields {
            let (present, field) = match r {
                RequiredField::Amount => (self.amount_minor > 0, "amount_minor".to_string()),
                RequiredField::ExpectedCloseDate => (
                    self.expected_close_date.is_some(),
                    "expected_close_date".into(),
                ),
                RequiredField::Client => (self.client_id.is_some(), "client_id".into()),
                RequiredField::ContactPerson => (self.contact_id.is_some(), "contact_id".into()),
                RequiredField::Custom(k) => (self.custom.contains_key(k), format!("custom.{k}")),
            };
            if !present {
                return Err(CrmError::invalid(
                    field,
                    format!("is required to enter stage {:?}", stage.name),
                ));
            }
        }
        Ok(())
    }

    fn of(d: &Deal) -> Self {
        DealFields {
            title: d.title.clone(),
            client_id: d.client_id,
            contact_id: d.contact_id,
            amount_minor: d.amount_minor,
            currency: d.currency.clone(),
            probability_override: d.probability_override,
            expected_close_date: d.expected_close_date,
            open: d.open,
            custom: d.custom.clone(),
            external_id: d.external_id.clone(),
        }
    }
}

fn load_for(cx: &WriteCx<'_>, id: DealId, action: Action) -> Result<Deal> {
    let deal = deals::get(cx.tx, id)?.ok_or(CrmError::NotFound {
        entity: "deal",
        id: id.0,
    })?;
    cx.check(DEAL, action, id.0, &acl_of(&deal))?;
    Ok(deal)
}

fn pipeline_of(c: &Connection, deal: &Deal) -> Result<Pipeline> {
    pipelines::get(c, deal.pipeline_id)?.ok_or(CrmError::Corrupt {
        what: format!("deal {}", deal.id),
        message: format!("pipeline {} is missing", deal.pipeline_id),
    })
}

fn finish(cx: &WriteCx<'_>, action: &str, old: &Deal, id: DealId, via: Via) -> Result<Deal> {
    let new = deals::get(cx.tx, id)?.ok_or(CrmError::NotFound {
        entity: "deal",
        id: id.0,
    })?;
    via.record(cx, action, DEAL, id.0, &acl_of(&new), || {
        Ok(diff(&to_json(old), &to_json(&new)))
    })?;
    Ok(new)
}

/// The read plan of deals rendered to SQL; `None` when nothing is readable.
pub(crate) fn deal_read_access(access: &Access) -> Option<SqlAccess> {
    SqlAccess::render(&access.plan(DEAL, Action::Read), deals::ACL_COLUMNS)
}

impl Crm {
    /// Creates a deal in an open stage of a pipeline (the first one by default). The stage's
    /// required fields must be present; the deal must lie inside the actor's create level.
    pub fn create_deal(&self, ctx: &Ctx, new: &NewDeal) -> Result<Deal> {
        self.write(ctx, |cx| insert_deal(cx, new, Via::Api))
    }

    /// A deal the actor may read; `NotFound` otherwise (see `OpenOptions::hide_denied_records`).
    pub fn get_deal(&self, ctx: &Ctx, id: DealId) -> Result<Deal> {
        self.read(ctx, |c, access| {
            let deal = deals::get(c, id)?;
            self.check_read(access, DEAL, id.0, deal.as_ref().map(acl_of))?;
            deal.ok_or(CrmError::NotFound {
                entity: "deal",
                id: id.0,
            })
        })
    }

    /// The stage history of a deal the actor may read, oldest first.
    pub fn deal_history(&self, ctx: &Ctx, id: DealId) -> Result<Vec<StageEvent>> {
        self.read(ctx, |c, access| {
            self.check_read(access, DEAL, id.0, deals::acl(c, id)?)?;
            deals::events(c, id)
        })
    }

    /// One page of the deals the actor may read, newest first.
    pub fn list_deals(&self, ctx: &Ctx, q: &DealQuery) -> Result<Page<Deal>> {
        let limit = super::client_queries::page_limit(q.limit)?;
        let before = q
            .after
            .as_deref()
            .map(|s| {
                s.parse::<i64>().map_err(|_| {
                    CrmError::invalid("after", "not a cursor returned by a previous page")
                })
            })
            .transpose()?;
        let filter = DealFilter {
            pipeline_id: q.pipeline_id,
            stage_id: q.stage_id,
            status: q.status,
            client_id: q.client_id,
            owner_id: q.owner_id,
        };
        self.read(ctx, |c, access| {
            let Some(sql) = deal_read_access(access) else {
                return Ok(Page {
                    items: vec![],
                    next: None,
                });
            };
            let mut items = deals::list_page(c, &sql, &filter, before, limit + 1)?;
            Ok(super::client_queries::paginate(&mut items, limit, |d| {
                d.id.0.to_string()
            }))
        })
    }

    /// Changes a deal's fields (not its stage or owner). Fails with `Conflict` when the deal
    /// changed since `expected_version`.
    pub fn update_deal(
        &self,
        ctx: &Ctx,
        id: DealId,
        expected_version: i64,
        u: &DealUpdate,
    ) -> Result<Deal> {
        self.write(ctx, |cx| {
            let old = load_for(cx, id, Action::Update)?;
            check_version("deal", id.0, old.version, expected_version)?;
            write_deal_fields(cx, &old, u, Via::Api)
        })
    }

    /// Moves a deal to another stage of its pipeline: needs the change-stage permission; the
    /// transition must be allowed, the target's required fields present, and a lost reason given
    /// for a lost stage. Entering a won or lost stage closes the deal; entering an open stage
    /// from a closed one reopens it. The move is recorded as a stage event.
    pub fn move_deal(
        &self,
        ctx: &Ctx,
        id: DealId,
        expected_version: i64,
        m: &StageMove,
    ) -> Result<Deal> {
        self.write(ctx, |cx| {
            let old = load_for(cx, id, Action::ChangeStage)?;
            check_version("deal", id.0, old.version, expected_version)?;
            change_stage(cx, &old, m, Via::Api)
        })
    }

    /// Gives a deal to another owner (assign permission; the new owner must lie inside the
    /// actor's assign level). The department stamp follows the owner.
    pub fn assign_deal(
        &self,
        ctx: &Ctx,
        id: DealId,
        expected_version: i64,
        new_owner: UserId,
    ) -> Result<Deal> {
        self.write(ctx, |cx| {
            let old = load_for(cx, id, Action::Assign)?;
            check_version("deal", id.0, old.version, expected_version)?;
            let owner = assign_target(
                cx,
                DEAL,
                Action::Assign,
                id.0,
                old.open,
                new_owner,
                "owner_id",
            )?;
            deals::set_owner(
                cx.tx,
                id,
                expected_version,
                owner.id,
                owner.department_id,
                cx.now,
            )?;
            finish(cx, "deal.assign", &old, id, Via::Api)
        })
    }

    /// Deletes a deal with its stage history (delete permission). Its activities stay, unlinked.
    pub fn delete_deal(&self, ctx: &Ctx, id: DealId, expected_version: i64) -> Result<()> {
        self.write(ctx, |cx| {
            let old = load_for(cx, id, Action::Delete)?;
            check_version("deal", id.0, old.version, expected_version)?;
            deals::delete(cx.tx, id)?;
            cx.changed(
                "deal.delete",
                DEAL,
                id.0,
                &acl_of(&old),
                &diff(&to_json(&old), &Value::Null),
            )
        })
    }
}

/// Validates and inserts a deal in an open stage (see [`Crm::create_deal`]).
pub(crate) fn insert_deal(cx: &WriteCx<'_>, new: &NewDeal, via: Via) -> Result<Deal> {
    let fields = DealFields {
        title: new.title.clone(),
        client_id: new.client_id,
        contact_id: new.contact_id,
        amount_minor: new.amount_minor,
        currency: new.currency.clone(),
        probability_override: new.probability_override,
        expected_close_date: new.expected_close_date,
        open: new.open,
        custom: new.custom.clone(),
        external_id: new.external_id.clone(),
    }
    .validate(cx, None)?;
    let pipeline = pipelines::get(cx.tx, new.pipeline_id)?.ok_or_else(|| {
        CrmError::invalid("pipeline_id", format!("no pipeline {}", new.pipeline_id))
    })?;
    let stage = match new.stage_id {
        Some(s) => pipeline.stage(s).ok_or_else(|| {
            CrmError::invalid(
                "stage_id",
                format!("stage {s} is not in pipeline {}", pipeline.id),
            )
        })?,
        None => pipeline
            .stages
            .iter()
            .find(|s| s.kind == StageKind::Open)
            .ok_or_else(|| CrmError::invalid("pipeline_id", "the pipeline has no open stage"))?,
    };
    if stage.kind != StageKind::Open {
        return Err(CrmError::invalid(
            "stage_id",
            "a deal starts in an open stage; move it afterwards",
        ));
    }
    fields.check_required(stage)?;
    let created_at = past_instant(new.created_at, cx.now, "created_at")?;
    let (owner, _) = create_target(cx, DEAL, via, new.owner_id, fields.open, "owner_id")?;
    let tz = settings::report_tz(cx.tx)?;
    let row = fields.row(&pipeline, stage, owner.id, owner.department_id);
    let actor = cx.ctx.user_id().map(|u| u.0);
    let id = deals::insert(
        cx.tx,
        &row,
        created_at,
        settings::buckets(created_at, tz),
        cx.now,
        actor,
    )?;
    let deal = deals::get(cx.tx, id)?.ok_or(CrmError::NotFound {
        entity: "deal",
        id: id.0,
    })?;
    via.record(cx, "deal.create", DEAL, id.0, &acl_of(&deal), || {
        Ok(diff(&Value::Null, &to_json(&deal)))
    })?;
    Ok(deal)
}

/// Moves a loaded deal to another stage after checking the stage rules (see [`Crm::move_deal`]);
/// the caller checked the permission to change its stage.
pub(crate) fn change_stage(cx: &WriteCx<'_>, old: &Deal, m: &StageMove, via: Via) -> Result<Deal> {
    let pipeline = pipeline_of(cx.tx, old)?;
    let target = pipeline.stage(m.stage_id).ok_or_else(|| {
        CrmError::invalid(
            "stage_id",
            format!("stage {} is not in pipeline {}", m.stage_id, pipeline.id),
        )
    })?;
    if target.id == old.stage_id {
        return Err(CrmError::invalid(
            "stage_id",
            format!("the deal is already in stage {:?}", target.name),
        ));
    }
    let from = pipeline.stage(old.stage_id);
    if let Some(allowed) = from.and_then(|s| s.allowed_next.as_ref()) {
        if !allowed.contains(&target.id) {
            return Err(CrmError::invalid(
                "stage_id",
                format!(
                    "stage {:?} cannot follow {:?}",
                    target.name,
                    from.map(|s| s.name.as_str()).unwrap_or("?")
                ),
            ));
        }
    }
    DealFields::of(old).check_required(target)?;
    let lost_reason = match target.kind {
        StageKind::Lost => Some(
            optional_text("lost_reason", m.lost_reason.as_deref(), 500)?.ok_or_else(|| {
                CrmError::invalid(
                    "lost_reason",
                    format!("is required to enter lost stage {:?}", target.name),
                )
            })?,
        ),
        _ => None,
    };
    let at = past_instant(m.at, cx.now, "at")?;
    if at < old.stage_entered_at.timestamp_millis() {
        return Err(CrmError::invalid(
            "at",
            "is before the deal entered its current stage",
        ));
    }
    // The report time zone matters only for closing buckets.
    let closed = match target.kind {
        StageKind::Open => None,
        _ => Some((at, settings::buckets(at, settings::report_tz(cx.tx)?))),
    };
    let change = StageChange {
        pipeline: pipeline.id,
        from: old.stage_id,
        actor: cx.ctx.user_id().map(|u| u.0),
        to: target.id,
        status: target.kind,
        at,
        closed,
        lost_reason,
    };
    if !deals::change_stage(cx.tx, old.id, old.version, &change, cx.now)? {
        return Err(CrmError::Conflict {
            entity: "deal",
            id: old.id.0,
            expected: old.version,
            actual: old.version,
        });
    }
    // The new state follows from the change; reading it back would cost a query per move.
    let new = Deal {
        stage_id: target.id,
        status: target.kind,
        probability: old.probability_override.unwrap_or(target.probability),
        lost_reason: change.lost_reason,
        closed_at: change.closed.map(|(t, _)| crate::store::from_millis(t)),
        stage_entered_at: crate::store::from_millis(at),
        version: old.version + 1,
        updated_at: crate::store::from_millis(cx.now),
        ..old.clone()
    };
    via.record(
        cx,
        "deal.change_stage",
        DEAL,
        new.id.0,
        &acl_of(&new),
        // Only these fields change; diffing two whole documents cost more than the update.
        || Ok(diff(&stage_fields(old), &stage_fields(&new))),
    )?;
    Ok(new)
}

/// The fields a stage change touches, as a JSON object for the audit diff.
fn stage_fields(d: &Deal) -> Value {
    serde_json::json!({
        "stage_id": d.stage_id,
        "status": d.status,
        "probability": d.probability,
        "lost_reason": d.lost_reason,
        "closed_at": d.closed_at,
        "stage_entered_at": d.stage_entered_at,
    })
}

/// Applies a field update to a loaded deal (see [`Crm::update_deal`]); the caller checked the
/// permission on the deal as it is.
pub(crate) fn write_deal_fields(
    cx: &WriteCx<'_>,
    old: &Deal,
    u: &DealUpdate,
    via: Via,
) -> Result<Deal> {
    let fields = DealFields {
        title: u.title.or_keep(old.title.clone()),
        client_id: u.client_id.or_keep(old.client_id),
        contact_id: u.contact_id.or_keep(old.contact_id),
        amount_minor: u.amount_minor.or_keep(old.amount_minor),
        currency: u.currency.or_keep(old.currency.clone()),
        probability_override: u.probability_override.or_keep(old.probability_override),
        expected_close_date: u.expected_close_date.or_keep(old.expected_close_date),
        open: u.open.or_keep(old.open),
        custom: merge_custom(&old.custom, &u.custom),
        external_id: u.external_id.or_keep(old.external_id.clone()),
    }
    .validate(cx, Some(old.id))?;
    cx.check(
        DEAL,
        via.action(Action::Update),
        old.id.0,
        &RecordAcl {
            open: fields.open,
            ..acl_of(old)
        },
    )?;
    let pipeline = pipeline_of(cx.tx, old)?;
    let stage = pipeline
        .stage(old.stage_id)
        .ok_or_else(|| CrmError::Corrupt {
            what: format!("deal {}", old.id),
            message: "stage missing".into(),
        })?;
    // The current stage's entry rules keep holding while the deal sits in it.
    fields.check_required(stage)?;
    let row = fields.row(&pipeline, stage, old.owner_id, old.department_id);
    if !deals::update(cx.tx, old.id, old.version, &row, cx.now)? {
        return Err(CrmError::Conflict {
            entity: "deal",
            id: old.id.0,
            expected: old.version,
            actual: old.version,
        });
    }
    // The deal's activities about its old client follow it to the new one.
    if fields.client_id != old.client_id {
        for id in
            activities::follow_deal_client(cx.tx, old.id, old.client_id, fields.client_id, cx.now)?
        {
            if let Some(acl) = activities::acl(cx.tx, id)? {
                let change = serde_json::json!({ "client_id": [old.client_id, fields.client_id] });
                via.record(
                    cx,
                    "activity.update",
                    EntityType::Activity,
                    id.0,
                    &acl,
                    || Ok(change.clone()),
                )?;
            }
        }
    }
    finish(cx, "deal.update", old, old.id, via)
}
