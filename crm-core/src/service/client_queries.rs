//! Reading clients: get, list, count, search, duplicates and contacts. Every query carries the
//! actor's read plan rendered to SQL; nothing is filtered after the query.

use crate::access::{Action, EntityType, SqlAccess};
use crate::crm::{Access, Crm};
use crate::error::{CrmError, Result};
use crate::ids::ClientId;
use crate::model::{
    normalize, ArchiveFilter, Client, ClientFields, ClientQuery, CompareOp, ContactLink,
    CustomFieldType, DuplicateCandidate, NewClient, Page, SearchQuery,
};
use crate::store::clients::{self, Conditions, ACL_COLUMNS};
use crate::store::custom_fields;
use crate::Ctx;
use rusqlite::types::Value;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

/// Result of a capped count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// The number counted, at most the cap.
    pub count: u64,
    /// False when counting stopped at the cap (there are at least `count`).
    pub exact: bool,
}

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;
const MAX_DUPLICATES: usize = 50;

pub(crate) fn page_limit(limit: Option<u32>) -> Result<usize> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n as usize),
        n => Err(CrmError::invalid(
            "limit",
            format!("{n} is outside 1..={MAX_LIMIT}"),
        )),
    }
}

fn read_access(access: &Access) -> Option<SqlAccess> {
    SqlAccess::render(&access.plan(EntityType::Client, Action::Read), ACL_COLUMNS)
}

/// Parses a list cursor `"<id>:<sort name>"`.
fn parse_list_cursor(s: &str) -> Result<(String, i64)> {
    s.split_once(':')
        .and_then(|(id, name)| Some((name.to_string(), id.parse().ok()?)))
        .ok_or_else(|| CrmError::invalid("after", "not a cursor returned by a previous page"))
}

fn list_cursor(c: &Client) -> String {
    format!("{}:{}", c.id.0, normalize::sort_key(&c.name))
}

/// The list filters of a query as SQL conditions, validated against the custom field definitions.
fn conditions(c: &Connection, q: &ClientQuery) -> Result<Conditions> {
    let mut cond = Conditions::default();
    if let Some(k) = q.kind {
        cond.kind(k);
    }
    if let Some(o) = q.owner_id {
        cond.push("c.owner_id = ?", vec![Value::Integer(o.0)]);
    }
    if let Some(d) = q.department_id {
        cond.department_subtree(d);
    }
    if let Some(p) = q.parent_id {
        cond.push("c.parent_id = ?", vec![Value::Integer(p.0)]);
    }
    if let Some(t) = &q.tag {
        cond.tag(normalize::tag_key(t));
    }
    if !q.custom.is_empty() {
        let defs = custom_fields::list(c, EntityType::Client)?;
        for (i, f) in q.custom.iter().enumerate() {
            let field = format!("custom[{i}]");
            let def = defs.iter().find(|d| d.key == f.key).ok_or_else(|| {
                CrmError::invalid(
                    format!("{field}.key"),
                    format!("no custom field {:?}", f.key),
                )
            })?;
            if f.op != CompareOp::Eq && !def.is_ordered() {
                return Err(CrmError::invalid(
                    format!("{field}.op"),
                    "ordering needs a number, money or date field",
                ));
            }
            def.validate(&f.value, &format!("{field}.value"))?;
            let op = match f.op {
                CompareOp::Eq => "=",
                CompareOp::Lt => "<",
                CompareOp::Le => "<=",
                CompareOp::Gt => ">",
                CompareOp::Ge => ">=",
            };
            let path = format!("$.{}", def.key);
            match def.field_type {
                CustomFieldType::Money => {
                    let amount = f.value["amount_minor"].as_i64().unwrap_or_default();
                    let currency = f.value["currency"].as_str().unwrap_or_default().to_string();
                    cond.custom(format!("{path}.amount_minor"), op, Value::Integer(amount));
                    cond.custom(format!("{path}.currency"), "=", Value::Text(currency));
                }
                CustomFieldType::Bool => cond.custom(
                    path,
                    op,
                    Value::Integer(i64::from(f.value.as_bool() == Some(true))),
                ),
                CustomFieldType::Number => match (f.value.as_i64(), f.value.as_f64()) {
                    (Some(n), _) => cond.custom(path, op, Value::Integer(n)),
                    (None, Some(x)) => cond.custom(path, op, Value::Real(x)),
                    (None, None) => {}
                },
                CustomFieldType::Text | CustomFieldType::Enum | CustomFieldType::Date => cond
                    .custom(
                        path,
                        op,
                        Value::Text(f.value.as_str().unwrap_or_default().to_string()),
                    ),
            }
        }
    }
    Ok(cond)
}

impl Crm {
    /// A client the actor may read; `NotFound` otherwise: denied and missing look alike unless
    /// `OpenOptions::hide_denied_records` is off, when a denied read is `PermissionDenied`.
    pub fn get_client(&self, ctx: &Ctx, id: ClientId) -> Result<Client> {
        self.read(ctx, |c, access| {
            self.readable_client(c, access, id)?;
            clients::get(c, id)?.ok_or(CrmError::NotFound {
                entity: "client",
                id: id.0,
            })
        })
    }

    /// One page of the clients the actor may read, in name order, with keyset pagination: pass
    /// the returned `next` as `after` for the following page.
    pub fn list_clients(&self, ctx: &Ctx, q: &ClientQuery) -> Result<Page<Client>> {
        let limit = page_limit(q.limit)?;
        let after = q.after.as_deref().map(parse_list_cursor).transpose()?;
        self.read(ctx, |c, access| {
            let cond = conditions(c, q)?;
            let Some(sql) = read_access(access) else {
                return Ok(Page {
                    items: vec![],
                    next: None,
                });
            };
            let archived = q.archive == ArchiveFilter::Archived;
            let after = after.as_ref().map(|(n, id)| (n.as_str(), *id));
            let mut items = clients::list_page(c, &sql, archived, &cond, after, limit + 1)?;
            Ok(paginate(&mut items, limit, list_cursor))
        })
    }

    /// Counts the clients the actor may read that match `q` (its `limit` and `after` are
    /// ignored), stopping at `cap` so a count of a huge set stays cheap.
    pub fn count_clients(&self, ctx: &Ctx, q: &ClientQuery, cap: u64) -> Result<Count> {
        self.read(ctx, |c, access| {
            let cond = conditions(c, q)?;
            let Some(sql) = read_access(access) else {
                return Ok(Count {
                    count: 0,
                    exact: true,
                });
            };
            let n = clients::count(
                c,
                &sql,
                q.archive == ArchiveFilter::Archived,
                &cond,
                cap.saturating_add(1),
            )?;
            Ok(Count {
                count: n.min(cap),
                exact: n <= cap,
            })
        })
    }

    /// Full-text search over names, e-mails, phones and tax ids; each word matches as a prefix,
    /// all words must match. Newest clients first, paginated, permission-filtered.
    pub fn search_clients(&self, ctx: &Ctx, q: &SearchQuery) -> Result<Page<Client>> {
        let limit = page_limit(q.limit)?;
        let fts = fts_query(&q.text)?;
        let before = q
            .after
            .as_deref()
            .map(|s| {
                s.parse::<i64>().map_err(|_| {
                    CrmError::invalid("after", "not a cursor returned by a previous page")
                })
            })
            .transpose()?;
        self.read(ctx, |c, access| {
            let plan = access.plan(EntityType::Client, Action::Read);
            let Some(sql) = SqlAccess::render(&plan, ACL_COLUMNS) else {
                return Ok(Page {
                    items: vec![],
                    next: None,
                });
            };
            let mut cond = Conditions::default();
            if let Some(k) = q.kind {
                cond.kind(k);
            }
            let archived = q.archive == ArchiveFilter::Archived;
            let fts = crate::access::fts::match_expression(&fts, &plan);
            let mut items =
                clients::search_page(c, &sql, &fts, archived, &cond, before, limit + 1)?;
            Ok(paginate(&mut items, limit, |c| c.id.0.to_string()))
        })
    }

    /// Clients the actor may read that may be the same as `id`: same tax id, e-mail, phone or
    /// normalised name. At most 50.
    pub fn duplicates_of(&self, ctx: &Ctx, id: ClientId) -> Result<Vec<DuplicateCandidate>> {
        self.read(ctx, |c, access| {
            self.readable_client(c, access, id)?;
            let client = clients::get(c, id)?.ok_or(CrmError::NotFound {
                entity: "client",
                id: id.0,
            })?;
            duplicates_by_keys(c, access, &ClientFields::from_stored(&client), Some(id))
        })
    }

    /// Clients the actor may read that may be the same as a client about to be created.
    pub fn find_duplicates(&self, ctx: &Ctx, new: &NewClient) -> Result<Vec<DuplicateCandidate>> {
        self.read(ctx, |c, access| {
            let fields = ClientFields::from_new(new, &custom_fields::list(c, EntityType::Client)?)?;
            duplicates_by_keys(c, access, &fields, None)
        })
    }

    /// The contact people of an organisation that the actor may read.
    pub fn contacts_of(&self, ctx: &Ctx, organization: ClientId) -> Result<Vec<ContactLink>> {
        self.contact_links(ctx, organization, false)
    }

    /// The organisations a person is a contact of, among those the actor may read.
    pub fn organizations_of(&self, ctx: &Ctx, person: ClientId) -> Result<Vec<ContactLink>> {
        self.contact_links(ctx, person, true)
    }

    fn contact_links(&self, ctx: &Ctx, id: ClientId, by_person: bool) -> Result<Vec<ContactLink>> {
        self.read(ctx, |c, access| {
            self.readable_client(c, access, id)?;
            match read_access(access) {
                Some(sql) => clients::contacts(c, &sql, id, by_person),
                None => Ok(vec![]),
            }
        })
    }
}

/// Readable clients sharing an identifying key with `fields`, one snapshot with the caller's.
fn duplicates_by_keys(
    c: &Connection,
    access: &Access,
    fields: &ClientFields,
    exclude: Option<ClientId>,
) -> Result<Vec<DuplicateCandidate>> {
    let Some(sql) = read_access(access) else {
        return Ok(vec![]);
    };
    let found = clients::duplicates(c, &sql, &clients::keys_of(fields), exclude, MAX_DUPLICATES)?;
    Ok(found
        .into_iter()
        .map(|(client, reasons)| DuplicateCandidate { client, reasons })
        .collect())
}

/// Trims a fetched `limit + 1` rows to `limit` and makes the cursor of the last one.
pub(crate) fn paginate<T>(
    items: &mut Vec<T>,
    limit: usize,
    cursor: impl Fn(&T) -> String,
) -> Page<T> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next = if more { items.last().map(cursor) } else { None };
    Page {
        items: std::mem::take(items),
        next,
    }
}

/// Builds a safe FTS5 query from user text: each word becomes a quoted prefix term, all ANDed
/// (narrowed to the text columns and the actor's reach by `access::fts::match_expression`).
fn fts_query(text: &str) -> Result<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("\"{}\"*", w.to_lowercase()))
        .collect();
    if terms.is_empty() {
        return Err(CrmError::invalid(
            "text",
            "needs at least one letter or digit",
        ));
    }
    Ok(terms.join(" "))
}
