//! Exporting records as CSV or JSON lines, scoped by the export permission, in the columns the
//! importer reads back: an export imported into an empty database (with the same users,
//! pipelines and custom fields) gives the same records.

use crate::access::{Action, EntityType, SqlAccess};
use crate::crm::{Access, Crm};
use crate::error::{CrmError, Result};
use crate::ids::{ClientId, UserId};
use crate::model::{
    encode_text_cell, Activity, Client, CustomField, CustomFieldType, Deal, ExportSpec, FileFormat,
    Pipeline, RecordKind,
};
use crate::store::{activities, clients, custom_fields, deals, org, pipelines};
use crate::Ctx;
use rusqlite::Connection;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;

const PAGE: usize = 1_000;

/// A cell: its JSON value (for JSON lines) and its CSV text.
struct Cell {
    json: Value,
    csv: String,
}

fn text(s: impl Into<String>) -> Cell {
    let s = s.into();
    Cell {
        json: Value::String(s.clone()),
        csv: s,
    }
}

fn opt(s: Option<String>) -> Cell {
    match s {
        Some(s) => text(s),
        None => Cell {
            json: Value::Null,
            csv: String::new(),
        },
    }
}

fn scalar(v: Value) -> Cell {
    let csv = match &v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Cell { json: v, csv }
}

/// Whether a list item survives the `; ` form: the importer splits at `;` and line breaks,
/// trims each item and drops empty ones.
fn plain_item(s: &str) -> bool {
    !s.is_empty() && s.trim() == s && !s.contains([';', '\n'])
}

/// A list cell: `a; b` when every item reads back from that form, else the list as a JSON
/// array, which the importer reads exactly (a cell starting with `[` that parses as JSON is
/// one). A first item starting with `[` goes the JSON way too, so a `; ` cell never looks like
/// JSON. `values` are the raw items, `texts` their `; ` forms.
fn list_cell(json: Value, values: &[&str], texts: Vec<String>) -> Cell {
    let plain =
        values.iter().all(|v| plain_item(v)) && !texts.first().is_some_and(|t| t.starts_with('['));
    let csv = if plain {
        texts.join("; ")
    } else {
        json.to_string()
    };
    Cell { json, csv }
}

/// A list whose `; ` form is `kind:value; kind:value`.
fn labelled<T: serde::Serialize>(
    items: &[T],
    kind: impl Fn(&T) -> Value,
    value: impl Fn(&T) -> &str,
) -> Cell {
    let texts = items
        .iter()
        .map(|i| format!("{}:{}", kind(i).as_str().unwrap_or("other"), value(i)))
        .collect();
    let values: Vec<&str> = items.iter().map(&value).collect();
    list_cell(
        serde_json::to_value(items).unwrap_or(Value::Null),
        &values,
        texts,
    )
}

/// A value whose CSV form is its JSON text.
fn as_json(v: Value) -> Cell {
    let csv = if v.is_null() {
        String::new()
    } else {
        v.to_string()
    };
    Cell { json: v, csv }
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> Cell {
    opt(t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
}

/// `'` before a value a spreadsheet would run as a formula (OWASP's list plus `'` itself, so
/// the importer can strip exactly one).
pub(crate) fn neutralize(s: &str) -> std::borrow::Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\'') => format!("'{s}").into(),
        _ => s.into(),
    }
}

/// Writes rows in the job's format.
struct Sink<'a> {
    format: FileFormat,
    neutralize: bool,
    csv: Option<csv::Writer<&'a mut dyn Write>>,
    out: Option<&'a mut dyn Write>,
    /// The columns of the header, which every row repeats in order.
    columns: Vec<String>,
}

fn csv_err(e: csv::Error) -> CrmError {
    CrmError::Io {
        path: "export output".into(),
        message: e.to_string(),
    }
}

impl<'a> Sink<'a> {
    fn new(spec: &ExportSpec, out: &'a mut dyn Write) -> Self {
        match spec.format {
            FileFormat::Csv => Sink {
                format: spec.format,
                neutralize: spec.neutralize_formulas,
                csv: Some(csv::Writer::from_writer(out)),
                out: None,
                columns: Vec::new(),
            },
            FileFormat::JsonLines => Sink {
                format: spec.format,
                neutralize: false,
                csv: None,
                out: Some(out),
                columns: Vec::new(),
            },
        }
    }

    /// Starts the output: a CSV file gets its header row even when no record follows, so an
    /// empty export still names its columns and imports back as zero rows.
    fn header(&mut self, columns: Vec<String>) -> Result<()> {
        if let Some(w) = self.csv.as_mut() {
            w.write_record(&columns).map_err(csv_err)?;
        }
        self.columns = columns;
        Ok(())
    }

    fn row(&mut self, cells: Vec<(String, Cell)>) -> Result<()> {
        debug_assert!(
            cells.iter().map(|(k, _)| k).eq(self.columns.iter()),
            "an export row's columns differ from its header"
        );
        let io = |e: std::io::Error| CrmError::Io {
            path: "export output".into(),
            message: e.to_string(),
        };
        match self.format {
            FileFormat::Csv => {
                let w = self
                    .csv
                    .as_mut()
                    .ok_or_else(|| CrmError::invalid("format", "csv writer missing"))?;
                let neutral = self.neutralize;
                w.write_record(cells.iter().map(|(_, c)| {
                    if neutral {
                        neutralize(&c.csv).into_owned()
                    } else {
                        c.csv.clone()
                    }
                }))
                .map_err(csv_err)?;
            }
            FileFormat::JsonLines => {
                let out = self
                    .out
                    .as_mut()
                    .ok_or_else(|| CrmError::invalid("format", "writer missing"))?;
                let obj: serde_json::Map<String, Value> = cells
                    .into_iter()
                    .filter(|(_, c)| !c.json.is_null())
                    .map(|(k, c)| (k, c.json))
                    .collect();
                serde_json::to_writer(&mut *out, &obj).map_err(|e| CrmError::Io {
                    path: "export output".into(),
                    message: e.to_string(),
                })?;
                out.write_all(b"\n").map_err(io)?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        if let Some(mut w) = self.csv {
            w.flush().map_err(|e| CrmError::Io {
                path: "export output".into(),
                message: e.to_string(),
            })?;
        }
        if let Some(out) = self.out {
            out.flush().map_err(|e| CrmError::Io {
                path: "export output".into(),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }
}

/// Lookups shared by the rows of one export.
struct Names {
    emails: HashMap<UserId, String>,
    pipelines: HashMap<crate::ids::PipelineId, Pipeline>,
    client_refs: HashMap<ClientId, String>,
}

impl Names {
    fn user(&self, u: UserId) -> Cell {
        text(self.emails.get(&u).cloned().unwrap_or_default())
    }

    fn client(&mut self, c: &Connection, id: Option<ClientId>) -> Result<Cell> {
        let Some(id) = id else { return Ok(opt(None)) };
        if let Some(r) = self.client_refs.get(&id) {
            return Ok(text(r.clone()));
        }
        let r = clients::reference(c, id)?;
        self.client_refs.insert(id, r.clone());
        Ok(text(r))
    }
}

/// The header of a client export (before the custom fields); `client_row` writes these.
const CLIENT_COLUMNS: [&str; 15] = [
    "external_id",
    "kind",
    "name",
    "parent_external_id",
    "tax_id",
    "registration_number",
    "emails",
    "phones",
    "addresses",
    "tags",
    "owner_email",
    "open",
    "archived",
    "archived_at",
    "created_at",
];

/// The header of a contact-link export.
const CONTACT_COLUMNS: [&str; 3] = ["organization_external_id", "person_external_id", "position"];

/// The header of a deal export (before the custom fields); `deal_row` writes these.
const DEAL_COLUMNS: [&str; 15] = [
    "external_id",
    "title",
    "pipeline",
    "stage",
    "client_external_id",
    "contact_external_id",
    "amount_minor",
    "currency",
    "probability",
    "expected_close_date",
    "owner_email",
    "open",
    "lost_reason",
    "created_at",
    "history",
];

/// The header of an activity export; `activity_row` writes these.
const ACTIVITY_COLUMNS: [&str; 12] = [
    "external_id",
    "kind",
    "subject",
    "body",
    "client_external_id",
    "deal_external_id",
    "assignee_email",
    "due_at",
    "remind_at",
    "done_at",
    "open",
    "created_at",
];

/// Fixed columns followed by one `custom.<key>` column per custom field.
fn columns(fixed: &[&str], defs: &[CustomField]) -> Vec<String> {
    fixed
        .iter()
        .map(|c| c.to_string())
        .chain(defs.iter().map(|d| format!("custom.{}", d.key)))
        .collect()
}

fn custom_cells(
    cells: &mut Vec<(String, Cell)>,
    defs: &[CustomField],
    custom: &std::collections::BTreeMap<String, Value>,
) {
    for d in defs {
        let v = custom.get(&d.key).cloned().unwrap_or(Value::Null);
        let cell = match &v {
            // Empty text or text with surrounding white space would not survive the import's
            // trimming (both formats, so one rule reads both back).
            Value::String(t) if d.field_type == CustomFieldType::Text => {
                text(encode_text_cell(t).into_owned())
            }
            Value::Object(_) => as_json(v),
            _ => scalar(v),
        };
        cells.push((format!("custom.{}", d.key), cell));
    }
}

fn client_row(
    c: &Connection,
    n: &mut Names,
    defs: &[CustomField],
    x: &Client,
) -> Result<Vec<(String, Cell)>> {
    let mut cells = vec![
        (
            "external_id".into(),
            text(
                x.external_id
                    .clone()
                    .unwrap_or_else(|| format!("#{}", x.id)),
            ),
        ),
        (
            "kind".into(),
            scalar(serde_json::to_value(x.kind).unwrap_or(Value::Null)),
        ),
        ("name".into(), text(x.name.clone())),
        ("parent_external_id".into(), n.client(c, x.parent_id)?),
        ("tax_id".into(), opt(x.tax_id.clone())),
        (
            "registration_number".into(),
            opt(x.registration_number.clone()),
        ),
        (
            "emails".into(),
            labelled(
                &x.emails,
                |e| serde_json::to_value(e.kind).unwrap_or(Value::Null),
                |e| &e.address,
            ),
        ),
        (
            "phones".into(),
            labelled(
                &x.phones,
                |p| serde_json::to_value(p.kind).unwrap_or(Value::Null),
                |p| &p.number,
            ),
        ),
        (
            "addresses".into(),
            as_json(if x.addresses.is_empty() {
                Value::Null
            } else {
                serde_json::to_value(&x.addresses).unwrap_or(Value::Null)
            }),
        ),
        (
            "tags".into(),
            list_cell(
                json!(x.tags),
                &x.tags.iter().map(String::as_str).collect::<Vec<_>>(),
                x.tags.clone(),
            ),
        ),
        ("owner_email".into(), n.user(x.owner_id)),
        ("open".into(), scalar(json!(x.open))),
        ("archived".into(), scalar(json!(x.archived_at.is_some()))),
        ("archived_at".into(), time(x.archived_at)),
        ("created_at".into(), time(Some(x.created_at))),
    ];
    custom_cells(&mut cells, defs, &x.custom);
    Ok(cells)
}

fn deal_row(
    c: &Connection,
    n: &mut Names,
    defs: &[CustomField],
    d: &Deal,
) -> Result<Vec<(String, Cell)>> {
    let pipeline = n.pipelines.get(&d.pipeline_id);
    let stage_name = |id| {
        pipeline
            .and_then(|p| p.stage(id))
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    // A step into a lost stage carries its reason: the deal's own is gone once it is reopened,
    // and replaying the history needs one for every lost spell.
    let history: Vec<Value> = deals::history(c, d.id)?
        .into_iter()
        .map(|(e, lost_reason)| {
            let mut step = json!({
                "stage": stage_name(e.to_stage_id),
                "at": e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            });
            if let (Some(reason), Some(obj)) = (lost_reason, step.as_object_mut()) {
                obj.insert("lost_reason".into(), Value::String(reason));
            }
            step
        })
        .collect();
    let mut cells = vec![
        (
            "external_id".into(),
            text(
                d.external_id
                    .clone()
                    .unwrap_or_else(|| format!("#{}", d.id)),
            ),
        ),
        ("title".into(), text(d.title.clone())),
        (
            "pipeline".into(),
            text(pipeline.map(|p| p.name.clone()).unwrap_or_default()),
        ),
        ("stage".into(), text(stage_name(d.stage_id))),
        ("client_external_id".into(), n.client(c, d.client_id)?),
        ("contact_external_id".into(), n.client(c, d.contact_id)?),
        ("amount_minor".into(), scalar(json!(d.amount_minor))),
        ("currency".into(), text(d.currency.as_str())),
        (
            "probability".into(),
            scalar(
                d.probability_override
                    .map(|p| json!(p))
                    .unwrap_or(Value::Null),
            ),
        ),
        (
            "expected_close_date".into(),
            opt(d.expected_close_date.map(|x| x.to_string())),
        ),
        ("owner_email".into(), n.user(d.owner_id)),
        ("open".into(), scalar(json!(d.open))),
        ("lost_reason".into(), opt(d.lost_reason.clone())),
        ("created_at".into(), time(Some(d.created_at))),
        ("history".into(), as_json(Value::Array(history))),
    ];
    custom_cells(&mut cells, defs, &d.custom);
    Ok(cells)
}

fn activity_row(c: &Connection, n: &mut Names, a: &Activity) -> Result<Vec<(String, Cell)>> {
    let deal = match a.deal_id {
        Some(d) => text(deals::reference(c, d)?),
        None => opt(None),
    };
    Ok(vec![
        (
            "external_id".into(),
            text(
                a.external_id
                    .clone()
                    .unwrap_or_else(|| format!("#{}", a.id)),
            ),
        ),
        ("kind".into(), text(a.kind.as_str())),
        ("subject".into(), text(a.subject.clone())),
        ("body".into(), opt(a.body.clone())),
        ("client_external_id".into(), n.client(c, a.client_id)?),
        ("deal_external_id".into(), deal),
        ("assignee_email".into(), n.user(a.assignee_id)),
        ("due_at".into(), time(a.due_at)),
        ("remind_at".into(), time(a.remind_at)),
        ("done_at".into(), time(a.done_at)),
        ("open".into(), scalar(json!(a.open))),
        ("created_at".into(), time(Some(a.created_at))),
    ])
}

/// The error for an actor without any export grant on `entity` (like an import without one).
fn no_grant(entity: EntityType) -> CrmError {
    CrmError::PermissionDenied {
        action: Action::Export,
        entity,
        id: None,
    }
}

fn export_access(
    access: &Access,
    entity: EntityType,
    columns: crate::access::AclColumns,
) -> Option<SqlAccess> {
    SqlAccess::render(&access.plan(entity, Action::Export), columns)
}

impl Crm {
    /// Writes every record of `spec.records` the actor may export to `out`, in the columns the
    /// importer reads (references by external id, or `#<id>` for records without one; users by
    /// e-mail; stages by name; custom fields as `custom.<key>`) and in the cell forms it reads
    /// back exactly (see [`ImportSpec`](crate::model::ImportSpec): lists as `a; b` or a JSON
    /// array, custom text as a JSON string when it is empty or has surrounding white space). A
    /// CSV export starts with its header row, also when there is no record. `progress` gets the
    /// number of records written every 1,000 and may cancel by returning `false` (what was
    /// written stays in `out`). Returns the number of records written. An actor with no export grant on the
    /// entity type gets `PermissionDenied`. Audited.
    pub fn export(
        &self,
        ctx: &Ctx,
        spec: &ExportSpec,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64) -> bool,
    ) -> Result<u64> {
        let written = self.read(ctx, |c, access| {
            let mut names = Names {
                emails: org::users(c)?
                    .into_iter()
                    .map(|u| (u.id, u.email))
                    .collect(),
                pipelines: pipelines::ids(c)?
                    .into_iter()
                    .filter_map(|id| pipelines::get(c, id).transpose())
                    .map(|p| p.map(|p| (p.id, p)))
                    .collect::<Result<_>>()?,
                client_refs: HashMap::new(),
            };
            let mut sink = Sink::new(spec, out);
            let mut n = 0u64;
            let mut tick = |n: u64| {
                if n % PAGE as u64 == 0 && !progress(n) {
                    Err(CrmError::Cancelled)
                } else {
                    Ok(())
                }
            };
            match spec.records {
                RecordKind::Clients => {
                    let defs = custom_fields::list(c, EntityType::Client)?;
                    let Some(sql) = export_access(access, EntityType::Client, clients::ACL_COLUMNS)
                    else {
                        return Err(no_grant(EntityType::Client));
                    };
                    sink.header(columns(&CLIENT_COLUMNS, &defs))?;
                    let mut after = 0;
                    loop {
                        let page =
                            clients::export_page(c, &sql, spec.include_archived, after, PAGE)?;
                        let Some(last) = page.last() else { break };
                        after = last.id.0;
                        for x in &page {
                            sink.row(client_row(c, &mut names, &defs, x)?)?;
                            n += 1;
                            tick(n)?;
                        }
                    }
                }
                RecordKind::Contacts => {
                    let Some(sql) = export_access(access, EntityType::Client, clients::ACL_COLUMNS)
                    else {
                        return Err(no_grant(EntityType::Client));
                    };
                    sink.header(columns(&CONTACT_COLUMNS, &[]))?;
                    let mut after = (0, 0);
                    loop {
                        let page = clients::export_contacts(c, &sql, after, PAGE)?;
                        let Some(last) = page.last() else { break };
                        after = (last.organization_id.0, last.person_id.0);
                        for l in &page {
                            sink.row(vec![
                                (
                                    "organization_external_id".into(),
                                    names.client(c, Some(l.organization_id))?,
                                ),
                                (
                                    "person_external_id".into(),
                                    names.client(c, Some(l.person_id))?,
                                ),
                                ("position".into(), opt(l.position.clone())),
                            ])?;
                            n += 1;
                            tick(n)?;
                        }
                    }
                }
                RecordKind::Deals => {
                    let defs = custom_fields::list(c, EntityType::Deal)?;
                    let Some(sql) = export_access(access, EntityType::Deal, deals::ACL_COLUMNS)
                    else {
                        return Err(no_grant(EntityType::Deal));
                    };
                    sink.header(columns(&DEAL_COLUMNS, &defs))?;
                    let mut after = 0;
                    loop {
                        let page = deals::export_page(c, &sql, after, PAGE)?;
                        let Some(last) = page.last() else { break };
                        after = last.id.0;
                        for d in &page {
                            sink.row(deal_row(c, &mut names, &defs, d)?)?;
                            n += 1;
                            tick(n)?;
                        }
                    }
                }
                RecordKind::Activities => {
                    let Some(sql) =
                        export_access(access, EntityType::Activity, activities::ACL_COLUMNS)
                    else {
                        return Err(no_grant(EntityType::Activity));
                    };
                    sink.header(columns(&ACTIVITY_COLUMNS, &[]))?;
                    let mut after = 0;
                    loop {
                        let page = activities::export_page(c, &sql, after, PAGE)?;
                        let Some(last) = page.last() else { break };
                        after = last.id.0;
                        for a in &page {
                            sink.row(activity_row(c, &mut names, a)?)?;
                            n += 1;
                            tick(n)?;
                        }
                    }
                }
            }
            sink.finish()?;
            Ok(n)
        })?;
        self.write(ctx, |cx| {
            cx.audit(
                "export.run",
                &format!("{:?}", spec.records).to_lowercase(),
                None,
                &json!({ "records": written }),
            )
        })?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::neutralize;

    #[test]
    fn formulas_are_neutralised_and_nothing_else() {
        assert_eq!(neutralize("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(neutralize("+49 30 1"), "'+49 30 1");
        assert_eq!(neutralize("@cmd"), "'@cmd");
        assert_eq!(neutralize("'quoted"), "''quoted");
        assert_eq!(neutralize("Acme"), "Acme");
        assert_eq!(neutralize(""), "");
    }
}
