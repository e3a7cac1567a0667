//! Exporting records as CSV or JSON lines, scoped by the export permission, in the columns the
//! importer reads back: an export imported into an empty database (with the same users,
//! pipelines and custom fields) gives the same records.

use crate::access::{Action, EntityType, SqlAccess};
use crate::crm::{Access, Crm};
use crate::error::{CrmError, Result};
use crate::ids::{ClientId, UserId};
use crate::model::{
    Activity, Client, CustomField, Deal, ExportSpec, FileFormat, Pipeline, RecordKind,
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

/// A list whose CSV form is `kind:value; kind:value`.
fn labelled<T: serde::Serialize>(
    items: &[T],
    kind: impl Fn(&T) -> Value,
    value: impl Fn(&T) -> &str,
) -> Cell {
    let csv = items
        .iter()
        .map(|i| format!("{}:{}", kind(i).as_str().unwrap_or("other"), value(i)))
        .collect::<Vec<_>>()
        .join("; ");
    Cell {
        json: serde_json::to_value(items).unwrap_or(Value::Null),
        csv,
    }
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
    wrote_header: bool,
}

impl<'a> Sink<'a> {
    fn new(spec: &ExportSpec, out: &'a mut dyn Write) -> Self {
        match spec.format {
            FileFormat::Csv => Sink {
                format: spec.format,
                neutralize: spec.neutralize_formulas,
                csv: Some(csv::Writer::from_writer(out)),
                out: None,
                wrote_header: false,
            },
            FileFormat::JsonLines => Sink {
                format: spec.format,
                neutralize: false,
                csv: None,
                out: Some(out),
                wrote_header: false,
            },
        }
    }

    fn row(&mut self, cells: Vec<(String, Cell)>) -> Result<()> {
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
                let csv_err = |e: csv::Error| CrmError::Io {
                    path: "export output".into(),
                    message: e.to_string(),
                };
                if !self.wrote_header {
                    w.write_record(cells.iter().map(|(k, _)| k.as_str()))
                        .map_err(csv_err)?;
                    self.wrote_header = true;
                }
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

fn custom_cells(
    cells: &mut Vec<(String, Cell)>,
    defs: &[CustomField],
    custom: &std::collections::BTreeMap<String, Value>,
) {
    for d in defs {
        let v = custom.get(&d.key).cloned().unwrap_or(Value::Null);
        let cell = if v.is_object() { as_json(v) } else { scalar(v) };
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
            Cell {
                json: json!(x.tags),
                csv: x.tags.join("; "),
            },
        ),
        ("owner_email".into(), n.user(x.owner_id)),
        ("open".into(), scalar(json!(x.open))),
        ("archived".into(), scalar(json!(x.archived_at.is_some()))),
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
    let history: Vec<Value> = deals::events(c, d.id)?
        .into_iter()
        .map(|e| json!({ "stage": stage_name(e.to_stage_id), "at": e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) }))
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
    /// e-mail; stages by name; custom fields as `custom.<key>`). `progress` gets the number of
    /// records written every 1,000 and may cancel by returning `false` (what was written stays
    /// in `out`). Returns the number of records written. An actor with no export grant on the
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
