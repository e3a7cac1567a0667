//! Importing deals: a row becomes a new deal (walked to its stage, or through its history), or
//! updates the deal with the same external id.

use super::clients::{custom_values, referenced_client};
use super::source::Row;
use super::values;
use super::{fail, Failure, Job, Outcome};
use crate::access::{Action, EntityType, RecordAcl};
use crate::crm::WriteCx;
use crate::ids::StageId;
use crate::model::{Deal, DealUpdate, NewDeal, OnMatch, Patch, Pipeline, StageKind, StageMove};
use crate::money::Currency;
use crate::service::deals::{change_stage, insert_deal, write_deal_fields};
use crate::service::Via;
use crate::store::deals;
use chrono::{DateTime, Utc};
use serde::Deserialize;

type R<T> = std::result::Result<T, Failure>;

fn parse<T>(row: &Row, field: &str, f: impl Fn(&str) -> Result<T, String>) -> R<Option<T>> {
    row.get(field)
        .map(|s| f(s).map_err(|m| Failure::Row(row.error(field, m))))
        .transpose()
}

/// The stage named `name` (after the job's renaming), case-insensitive.
fn stage_named(
    job: &Job<'_>,
    pipeline: &Pipeline,
    row: &Row,
    field: &str,
    name: &str,
) -> R<StageId> {
    let name = job
        .spec
        .stage_names
        .get(name)
        .map(String::as_str)
        .unwrap_or(name);
    pipeline
        .stages
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
        .map(|s| s.id)
        .ok_or_else(|| {
            Failure::Row(row.error(
                field,
                format!("no stage {name:?} in pipeline {:?}", pipeline.name),
            ))
        })
}

/// One entry of a `history` cell.
#[derive(Deserialize)]
struct Step {
    stage: String,
    at: DateTime<Utc>,
    /// The reason given when the step entered a lost stage (exports write it); without it the
    /// row's `lost_reason` is used.
    #[serde(default)]
    lost_reason: Option<String>,
}

/// Moves `deal` to `stage` at `at` unless it is there already.
fn walk(
    cx: &WriteCx<'_>,
    row: &Row,
    deal: Deal,
    stage: StageId,
    at: Option<DateTime<Utc>>,
    lost_reason: Option<&str>,
) -> R<Deal> {
    if deal.stage_id == stage {
        return Ok(deal);
    }
    let m = StageMove {
        stage_id: stage,
        lost_reason: lost_reason.map(str::to_string),
        at,
    };
    change_stage(cx, &deal, &m, Via::Import).map_err(|e| fail(row, e))
}

/// Imports one deal row.
pub(super) fn row(cx: &WriteCx<'_>, job: &Job<'_>, row: &Row) -> R<Outcome> {
    // The row's own pipeline (exports write it), else the job's.
    let pipeline = match row.get("pipeline") {
        Some(name) => job
            .pipelines
            .iter()
            .find(|p| p.name == name.trim())
            .ok_or_else(|| {
                Failure::Row(row.error("pipeline", format!("no pipeline named {name:?}")))
            })?,
        None => job.pipeline.as_ref().ok_or_else(|| {
            Failure::Row(row.error(
                "pipeline",
                "is required (map a column or name it in the job)",
            ))
        })?,
    };
    let currency = parse(row, "currency", |s| {
        Currency::parse(s.trim(), "currency").map_err(|e| e.to_string())
    })?
    .ok_or_else(|| {
        Failure::Row(row.error("currency", "is required (map a column or give a default)"))
    })?;
    let amount_minor = match parse(row, "amount_minor", |s| {
        s.parse::<i64>()
            .map_err(|_| format!("{s:?} is not a whole number"))
    })? {
        Some(a) => Some(a),
        None => parse(row, "amount", |s| values::decimal_to_minor(s, &currency))?,
    };
    let target = row
        .get("stage")
        .map(|s| stage_named(job, pipeline, row, "stage", s))
        .transpose()?;
    let history: Option<Vec<Step>> = parse(row, "history", |s| {
        serde_json::from_str(s).map_err(|e| format!("bad JSON: {e}"))
    })?;
    let stage_at = parse(row, "stage_at", values::instant)?;
    let lost_reason = row.get("lost_reason");
    let fields = Fields {
        title: row.get("title").map(str::to_string),
        client_id: referenced_client(cx, row, "client")?,
        contact_id: referenced_client(cx, row, "contact")?,
        amount_minor,
        currency,
        probability: parse(row, "probability", |s| {
            s.parse::<u8>().map_err(|_| format!("{s:?} is not 0-100"))
        })?,
        expected_close_date: parse(row, "expected_close_date", values::date)?,
        open: parse(row, "open", values::boolean)?,
        custom: custom_values(row, &job.deal_fields, Default::default())?,
    };
    let existing = match row.get("external_id") {
        Some(x) => deals::by_reference(cx.tx, x).map_err(|e| fail(row, e))?,
        None => None,
    };
    match existing {
        None => {
            let new = NewDeal {
                client_id: fields.client_id,
                contact_id: fields.contact_id,
                amount_minor: fields.amount_minor.unwrap_or(0),
                probability_override: fields.probability,
                expected_close_date: fields.expected_close_date,
                owner_id: job.user(row, "owner")?,
                open: fields.open.unwrap_or(false),
                custom: fields.custom,
                created_at: parse(row, "created_at", values::instant)?,
                external_id: row.get("external_id").map(str::to_string),
                ..NewDeal::new(
                    fields
                        .title
                        .ok_or_else(|| Failure::Row(row.error("title", "is required")))?,
                    pipeline.id,
                    fields.currency,
                )
            };
            // A history starts where the deal was created.
            let first = history
                .as_ref()
                .and_then(|h| h.first())
                .map(|s| stage_named(job, pipeline, row, "history[0].stage", &s.stage))
                .transpose()?;
            let new = NewDeal {
                stage_id: first.or(new.stage_id),
                ..new
            };
            if new.owner_id.is_none() && cx.ctx.user_id().is_none() {
                return Err(Failure::Row(row.error(
                    "owner_email",
                    "required when importing as the system context",
                )));
            }
            let mut deal = insert_deal(cx, &new, Via::Import).map_err(|e| fail(row, e))?;
            match (history, target) {
                (Some(steps), _) => {
                    for (i, step) in steps.iter().enumerate() {
                        let stage = stage_named(
                            job,
                            pipeline,
                            row,
                            &format!("history[{i}].stage"),
                            &step.stage,
                        )?;
                        let reason = step.lost_reason.as_deref().or(lost_reason);
                        deal = walk(cx, row, deal, stage, Some(step.at), reason)?;
                    }
                }
                (None, Some(stage)) => {
                    walk(
                        cx,
                        row,
                        deal,
                        stage,
                        stage_at.or(new.created_at),
                        lost_reason,
                    )?;
                }
                (None, None) => {}
            }
            Ok(Outcome::Created)
        }
        Some(_) if job.spec.on_match == OnMatch::Skip => Ok(Outcome::Unchanged),
        Some(id) => {
            let mut deal = deals::get(cx.tx, id)
                .map_err(|e| fail(row, e))?
                .ok_or_else(|| Failure::Row(row.error_row("deal vanished")))?;
            let acl = RecordAcl {
                owner_id: deal.owner_id,
                department_id: deal.department_id,
                open: deal.open,
            };
            cx.check(EntityType::Deal, Action::Import, id.0, &acl)
                .map_err(|e| fail(row, e))?;
            let update = fields.update_of(&deal);
            let mut changed = false;
            if let Some(u) = update {
                deal = write_deal_fields(cx, &deal, &u, Via::Import).map_err(|e| fail(row, e))?;
                changed = true;
            }
            if let Some(stage) = target.filter(|s| *s != deal.stage_id) {
                let kind = pipeline
                    .stage(stage)
                    .map(|s| s.kind)
                    .unwrap_or(StageKind::Open);
                let at = if kind == StageKind::Open {
                    None
                } else {
                    stage_at
                };
                walk(cx, row, deal, stage, at, lost_reason)?;
                changed = true;
            }
            Ok(if changed {
                Outcome::Updated
            } else {
                Outcome::Unchanged
            })
        }
    }
}

/// The deal fields a row carries (absent ones are left alone on update).
struct Fields {
    title: Option<String>,
    client_id: Option<crate::ids::ClientId>,
    contact_id: Option<crate::ids::ClientId>,
    amount_minor: Option<i64>,
    currency: Currency,
    probability: Option<u8>,
    expected_close_date: Option<chrono::NaiveDate>,
    open: Option<bool>,
    custom: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Fields {
    /// The update that brings `d` to these fields; `None` when nothing differs.
    fn update_of(&self, d: &Deal) -> Option<DealUpdate> {
        fn set<T: Clone + PartialEq>(new: Option<&T>, old: &T) -> Patch<T> {
            match new {
                Some(v) if v != old => Patch::Set(v.clone()),
                _ => Patch::Keep,
            }
        }
        let u = DealUpdate {
            title: set(self.title.as_ref(), &d.title),
            client_id: set(self.client_id.map(Some).as_ref(), &d.client_id),
            contact_id: set(self.contact_id.map(Some).as_ref(), &d.contact_id),
            amount_minor: set(self.amount_minor.as_ref(), &d.amount_minor),
            currency: set(Some(&self.currency), &d.currency),
            probability_override: set(self.probability.map(Some).as_ref(), &d.probability_override),
            expected_close_date: set(
                self.expected_close_date.map(Some).as_ref(),
                &d.expected_close_date,
            ),
            open: set(self.open.as_ref(), &d.open),
            custom: self
                .custom
                .iter()
                .filter(|(k, v)| d.custom.get(*k) != Some(v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            external_id: Patch::Keep,
        };
        let unchanged = u.title.is_keep()
            && u.client_id.is_keep()
            && u.contact_id.is_keep()
            && u.amount_minor.is_keep()
            && u.currency.is_keep()
            && u.probability_override.is_keep()
            && u.expected_close_date.is_keep()
            && u.open.is_keep()
            && u.custom.is_empty();
        (!unchanged).then_some(u)
    }
}
