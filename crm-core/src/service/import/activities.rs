//! Importing activities: a row becomes a new activity, or is matched by external id.

use super::clients::referenced_client;
use super::source::Row;
use super::values;
use super::{fail, Failure, Job, Outcome};
use crate::crm::WriteCx;
use crate::model::{ActivityKind, NewActivity};
use crate::service::activities::insert_activity;
use crate::service::Via;
use crate::store::{activities, deals};

type R<T> = std::result::Result<T, Failure>;

fn parse<T>(row: &Row, field: &str, f: impl Fn(&str) -> Result<T, String>) -> R<Option<T>> {
    row.get(field)
        .map(|s| f(s).map_err(|m| Failure::Row(row.error(field, m))))
        .transpose()
}

/// Imports one activity row. A row whose external id exists already is left alone (activities
/// are history: an import never rewrites them).
pub(super) fn row(cx: &WriteCx<'_>, job: &Job<'_>, row: &Row) -> R<Outcome> {
    if let Some(x) = row.get("external_id") {
        if activities::by_reference(cx.tx, x)
            .map_err(|e| fail(row, e))?
            .is_some()
        {
            return Ok(Outcome::Unchanged);
        }
    }
    let kind = parse(row, "kind", |s| {
        ActivityKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("{s:?} is not task, call, meeting, email or note"))
    })?
    .unwrap_or(ActivityKind::Note);
    let deal_id = match row.get("deal_external_id") {
        Some(x) => Some(
            deals::by_reference(cx.tx, x)
                .map_err(|e| fail(row, e))?
                .ok_or_else(|| {
                    Failure::Row(row.error(
                        "deal_external_id",
                        format!("no deal with external id {x:?}"),
                    ))
                })?,
        ),
        None => None,
    };
    let new = NewActivity {
        body: row.get("body").map(str::to_string),
        client_id: referenced_client(cx, row, "client")?,
        deal_id,
        assignee_id: job.user(row, "assignee")?,
        due_at: parse(row, "due_at", values::instant)?,
        remind_at: parse(row, "remind_at", values::instant)?,
        done_at: parse(row, "done_at", values::instant)?,
        open: parse(row, "open", values::boolean)?.unwrap_or(false),
        external_id: row.get("external_id").map(str::to_string),
        created_at: parse(row, "created_at", values::instant)?,
        ..NewActivity::new(kind, row.get("subject").unwrap_or_default())
    };
    if new.assignee_id.is_none() && cx.ctx.user_id().is_none() {
        return Err(Failure::Row(row.error(
            "assignee_email",
            "required when importing as the system context",
        )));
    }
    insert_activity(cx, &new, None, Via::Import).map_err(|e| fail(row, e))?;
    Ok(Outcome::Created)
}
