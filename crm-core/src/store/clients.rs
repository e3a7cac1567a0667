//! SQL for clients: rows, their normalised keys, the full-text index, lists, search, counts,
//! duplicates and contact links.

use super::{from_millis, json_column};
use crate::access::{AclColumns, RecordAcl, SqlAccess, SqlPart};
use crate::error::{CrmError, Result};
use crate::ids::{ClientId, DepartmentId, UserId};
use crate::model::{normalize, Client, ClientFields, ClientKind, ContactLink, MatchReason};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use std::fmt::Write;

/// Permission columns of the `clients` table under the alias `c`.
pub const ACL_COLUMNS: AclColumns = AclColumns {
    owner: "c.owner_id",
    department: "c.dept_id",
    open: "c.is_open",
};

const CLIENT_COLUMNS: &str = "c.id, c.kind, c.name, c.parent_id, c.tax_id, c.registration_number, \
     c.emails, c.phones, c.addresses, c.tags, c.custom, c.owner_id, c.dept_id, c.is_open, \
     c.archived_at, c.version, c.created_at, c.updated_at, c.external_id";

/// A client row as stored, before its JSON columns are decoded.
struct RawClient {
    id: i64,
    kind: i64,
    name: String,
    parent_id: Option<ClientId>,
    tax_id: Option<String>,
    registration_number: Option<String>,
    json: [String; 5],
    owner_id: UserId,
    department_id: DepartmentId,
    open: bool,
    archived_at: Option<i64>,
    version: i64,
    created_at: i64,
    updated_at: i64,
    external_id: Option<String>,
}

fn raw_from_row(r: &Row<'_>) -> rusqlite::Result<RawClient> {
    Ok(RawClient {
        id: r.get(0)?,
        kind: r.get(1)?,
        name: r.get(2)?,
        parent_id: r.get(3)?,
        tax_id: r.get(4)?,
        registration_number: r.get(5)?,
        json: [r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?],
        owner_id: r.get(11)?,
        department_id: r.get(12)?,
        open: r.get(13)?,
        archived_at: r.get(14)?,
        version: r.get(15)?,
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
        external_id: r.get(18)?,
    })
}

impl RawClient {
    fn decode(self) -> Result<Client> {
        let what = |col: &str| format!("clients.{col} of client {}", self.id);
        let [emails, phones, addresses, tags, custom] = &self.json;
        Ok(Client {
            id: ClientId(self.id),
            kind: ClientKind::from_i64(self.kind).ok_or_else(|| CrmError::Corrupt {
                what: what("kind"),
                message: format!("unknown kind {}", self.kind),
            })?,
            name: self.name.clone(),
            parent_id: self.parent_id,
            tax_id: self.tax_id.clone(),
            registration_number: self.registration_number.clone(),
            emails: json_column(emails, || what("emails"))?,
            phones: json_column(phones, || what("phones"))?,
            addresses: json_column(addresses, || what("addresses"))?,
            tags: json_column(tags, || what("tags"))?,
            custom: json_column(custom, || what("custom"))?,
            owner_id: self.owner_id,
            department_id: self.department_id,
            open: self.open,
            archived_at: self.archived_at.map(from_millis),
            version: self.version,
            created_at: from_millis(self.created_at),
            updated_at: from_millis(self.updated_at),
            external_id: self.external_id.clone(),
        })
    }
}

fn collect_clients(
    st: &mut rusqlite::CachedStatement<'_>,
    params: &[Value],
) -> Result<Vec<Client>> {
    let rows = st.query_map(params_from_iter(params), raw_from_row)?;
    let mut out = Vec::new();
    for raw in rows {
        out.push(raw?.decode()?);
    }
    Ok(out)
}

/// A client by id, whatever the acting user may see.
pub fn get(c: &Connection, id: ClientId) -> Result<Option<Client>> {
    let raw = c
        .prepare_cached(&format!(
            "SELECT {CLIENT_COLUMNS} FROM clients c WHERE c.id = ?"
        ))?
        .query_row([id], raw_from_row)
        .optional()?;
    raw.map(RawClient::decode).transpose()
}

/// The permission attributes and kind of a client, without decoding the rest.
pub fn acl(c: &Connection, id: ClientId) -> Result<Option<(RecordAcl, ClientKind)>> {
    let row = c
        .prepare_cached("SELECT owner_id, dept_id, is_open, kind FROM clients WHERE id = ?")?
        .query_row([id], |r| {
            Ok((
                RecordAcl {
                    owner_id: r.get(0)?,
                    department_id: r.get(1)?,
                    open: r.get(2)?,
                },
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    match row {
        None => Ok(None),
        Some((acl, kind)) => match ClientKind::from_i64(kind) {
            Some(k) => Ok(Some((acl, k))),
            None => Err(CrmError::Corrupt {
                what: format!("clients.kind of client {id}"),
                message: format!("unknown kind {kind}"),
            }),
        },
    }
}

fn json(v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|e| CrmError::Corrupt {
        what: "client document".into(),
        message: e.to_string(),
    })
}

/// Inserts a client row. Its duplicate keys ([`insert_keys`]) and search document
/// ([`super::client_search::insert`]) are the caller's to write, so bulk jobs can batch them.
pub fn insert(
    c: &Connection,
    f: &ClientFields,
    owner: UserId,
    dept: DepartmentId,
    created_at: i64,
    now: i64,
) -> Result<ClientId> {
    c.prepare_cached(
        "INSERT INTO clients (kind, name, sort_name, parent_id, tax_id, registration_number, emails, phones,
            addresses, tags, custom, owner_id, dept_id, is_open, created_at, updated_at, external_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        f.kind.as_i64(),
        f.name,
        normalize::sort_key(&f.name),
        f.parent_id,
        f.tax_id,
        f.registration_number,
        json(&f.emails)?,
        json(&f.phones)?,
        json(&f.addresses)?,
        json(&f.tags)?,
        json(&f.custom)?,
        owner,
        dept,
        f.open,
        created_at,
        now,
        f.external_id
    ])?;
    Ok(ClientId(c.last_insert_rowid()))
}

/// Rewrites the editable fields of a client if its version is still `expected`; returns
/// whether the row was updated.
pub fn update(
    c: &Connection,
    id: ClientId,
    expected: i64,
    old: &ClientFields,
    f: &ClientFields,
    now: i64,
) -> Result<bool> {
    let n = c
        .prepare_cached(
            "UPDATE clients SET name = ?, sort_name = ?, parent_id = ?, tax_id = ?, registration_number = ?,
                emails = ?, phones = ?, addresses = ?, tags = ?, custom = ?, is_open = ?, external_id = ?,
                version = version + 1, updated_at = ?
             WHERE id = ? AND version = ?",
        )?
        .execute(params![
            f.name,
            normalize::sort_key(&f.name),
            f.parent_id,
            f.tax_id,
            f.registration_number,
            json(&f.emails)?,
            json(&f.phones)?,
            json(&f.addresses)?,
            json(&f.tags)?,
            json(&f.custom)?,
            f.open,
            f.external_id,
            now,
            id,
            expected
        ])?;
    if n == 1 {
        rewrite_keys(c, id, old, f)?;
    }
    Ok(n == 1)
}

/// Sets or clears the archive mark if the version is still `expected`.
pub fn set_archived(
    c: &Connection,
    id: ClientId,
    expected: i64,
    at: Option<i64>,
    now: i64,
) -> Result<bool> {
    Ok(c.execute(
        "UPDATE clients SET archived = ?, archived_at = ?, version = version + 1, updated_at = ?
         WHERE id = ? AND version = ?",
        params![at.is_some(), at, now, id, expected],
    )? == 1)
}

/// Gives a client to another owner and stamps the owner's department, if the version is still `expected`.
pub fn set_owner(
    c: &Connection,
    id: ClientId,
    expected: i64,
    owner: UserId,
    dept: DepartmentId,
    now: i64,
) -> Result<bool> {
    Ok(c.execute(
        "UPDATE clients SET owner_id = ?, dept_id = ?, version = version + 1, updated_at = ?
         WHERE id = ? AND version = ?",
        params![owner, dept, now, id, expected],
    )? == 1)
}

/// Deletes a client with its keys, search document and contact links.
pub fn delete(c: &Connection, id: ClientId) -> Result<()> {
    super::client_search::remove(c, id)?;
    c.execute("DELETE FROM clients WHERE id = ?", [id])?;
    Ok(())
}

/// The client holding an external id, if any.
pub fn by_external_id(c: &Connection, external_id: &str) -> Result<Option<ClientId>> {
    Ok(
        c.prepare_cached("SELECT id FROM clients WHERE external_id = ?")?
            .query_row([external_id], |r| r.get(0))
            .optional()?,
    )
}

/// Up to `limit` clients holding a normalised key (`email`, `phone`, `tax`, `name`, `tag`),
/// lowest id first.
pub fn by_key(c: &Connection, kind: &str, key: &str, limit: usize) -> Result<Vec<ClientId>> {
    let mut st = c.prepare_cached(
        "SELECT client_id FROM client_keys WHERE kind = ? AND key = ? ORDER BY client_id LIMIT ?",
    )?;
    let rows = st.query_map(params![kind, key, limit as i64], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Number of organisations whose parent is `id`.
pub fn subsidiary_count(c: &Connection, id: ClientId) -> Result<i64> {
    Ok(
        c.prepare_cached("SELECT count(*) FROM clients WHERE parent_id = ?")?
            .query_row([id], |r| r.get(0))?,
    )
}

/// The parent chain of an organisation, nearest first (bounded: a corrupt file may hold a cycle).
pub fn ancestors(c: &Connection, id: ClientId) -> Result<Vec<ClientId>> {
    let mut out = Vec::new();
    let mut st = c.prepare_cached("SELECT parent_id FROM clients WHERE id = ?")?;
    let mut cur = id;
    while let Some(Some(p)) = st
        .query_row([cur], |r| r.get::<_, Option<ClientId>>(0))
        .optional()?
    {
        if out.contains(&p) || out.len() > 10_000 {
            break;
        }
        out.push(p);
        cur = p;
    }
    Ok(out)
}

/// The columns [`indexed_fields`] reads, first in a select. All exist since schema version 1,
/// so migrations may use them.
pub const INDEXED_COLUMNS: &str =
    "id, kind, name, tax_id, registration_number, emails, phones, tags";

/// The id and the fields that keys and search documents are made of, from a row selecting
/// [`INDEXED_COLUMNS`] first.
pub fn indexed_fields(r: &Row<'_>) -> Result<(ClientId, ClientFields)> {
    let id = ClientId(r.get(0)?);
    let what = || format!("client {id}");
    let kind = ClientKind::from_i64(r.get(1)?).unwrap_or(ClientKind::Organization);
    let mut f = ClientFields::empty(kind);
    f.name = r.get(2)?;
    f.tax_id = r.get(3)?;
    f.registration_number = r.get(4)?;
    f.emails = json_column(&r.get::<_, String>(5)?, what)?;
    f.phones = json_column(&r.get::<_, String>(6)?, what)?;
    f.tags = json_column(&r.get::<_, String>(7)?, what)?;
    Ok((id, f))
}

/// Rewrites the duplicate keys of every client (after a migration).
pub fn reindex_keys(c: &Connection) -> Result<()> {
    c.execute("DELETE FROM client_keys", [])?;
    let mut st = c.prepare(&format!(
        "SELECT {INDEXED_COLUMNS} FROM clients ORDER BY id"
    ))?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let (id, f) = indexed_fields(r)?;
        insert_keys(c, &mut keys_for(id, &f))?;
    }
    Ok(())
}

/// The normalised keys of a client, as (kind, key) pairs.
pub fn keys_of(f: &ClientFields) -> Vec<(&'static str, String)> {
    let mut keys: Vec<(&'static str, String)> = Vec::new();
    keys.extend(
        f.emails
            .iter()
            .map(|e| ("email", normalize::email_key(&e.address))),
    );
    keys.extend(
        f.phones
            .iter()
            .filter_map(|p| normalize::phone_key(&p.number))
            .map(|k| ("phone", k)),
    );
    keys.extend(
        [&f.tax_id, &f.registration_number]
            .into_iter()
            .flatten()
            .filter_map(|t| normalize::tax_key(t))
            .map(|k| ("tax", k)),
    );
    keys.extend(normalize::name_key(&f.name).map(|k| ("name", k)));
    keys.extend(f.tags.iter().map(|t| ("tag", normalize::tag_key(t))));
    keys.sort();
    keys.dedup();
    keys
}

/// A duplicate key of a client: (kind, normalised key, client).
pub type ClientKey = (&'static str, String, ClientId);

/// The duplicate keys of client `id` with fields `f`.
pub fn keys_for(id: ClientId, f: &ClientFields) -> Vec<ClientKey> {
    keys_of(f)
        .into_iter()
        .map(|(kind, key)| (kind, key, id))
        .collect()
}

/// Inserts keys of new clients, sorted first so a large run touches each B-tree page once.
pub fn insert_keys(c: &Connection, keys: &mut [ClientKey]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort_unstable();
    let mut st =
        c.prepare_cached("INSERT INTO client_keys (kind, key, client_id) VALUES (?, ?, ?)")?;
    for (kind, key, id) in keys.iter() {
        st.execute(params![kind, key, id])?;
    }
    Ok(())
}

/// Replaces the duplicate keys `old` gave a client by those of `new`; keys both have stay.
/// An edit that keeps a client's keys writes nothing here.
fn rewrite_keys(
    c: &Connection,
    id: ClientId,
    old: &ClientFields,
    new: &ClientFields,
) -> Result<()> {
    let (before, after) = (keys_of(old), keys_of(new));
    let mut delete =
        c.prepare_cached("DELETE FROM client_keys WHERE kind = ? AND key = ? AND client_id = ?")?;
    for (kind, key) in before.iter().filter(|k| !after.contains(k)) {
        delete.execute(params![kind, key, id])?;
    }
    let mut insert =
        c.prepare_cached("INSERT INTO client_keys (kind, key, client_id) VALUES (?, ?, ?)")?;
    for (kind, key) in after.iter().filter(|k| !before.contains(k)) {
        insert.execute(params![kind, key, id])?;
    }
    Ok(())
}

/// Conditions of a list or search besides permissions, as SQL over alias `c`.
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    /// AND-ed conditions.
    pub parts: Vec<SqlPart>,
}

impl Conditions {
    /// Adds `sql` (with `?` placeholders) and its parameters.
    pub fn push(&mut self, sql: impl Into<String>, params: Vec<Value>) {
        self.parts.push(SqlPart {
            sql: sql.into(),
            params,
        });
    }

    fn render(&self, out: &mut String, params: &mut Vec<Value>) {
        for p in &self.parts {
            write!(out, " AND ({})", p.sql).ok();
            params.extend(p.params.iter().cloned());
        }
    }

    /// Only clients of this kind.
    pub fn kind(&mut self, kind: ClientKind) {
        self.push("c.kind = ?", vec![Value::Integer(kind.as_i64())]);
    }

    /// Only clients stamped with `d` or a department below it.
    pub fn department_subtree(&mut self, d: DepartmentId) {
        self.push(
            "c.dept_id IN (SELECT descendant FROM department_closure WHERE ancestor = ?)",
            vec![Value::Integer(d.0)],
        );
    }

    /// Only clients carrying this tag key.
    pub fn tag(&mut self, tag_key: String) {
        self.push(
            "c.id IN (SELECT client_id FROM client_keys WHERE kind = 'tag' AND key = ?)",
            vec![Value::Text(tag_key)],
        );
    }

    /// A comparison on a JSON path of the custom document; `op` is one of `= < <= > >=`.
    pub fn custom(&mut self, path: String, op: &'static str, value: Value) {
        self.push(
            format!("json_extract(c.custom, ?) {op} ?"),
            vec![Value::Text(path), value],
        );
    }
}

/// One keyset page of clients in name order: one bounded sub-query per permission branch,
/// merged. `after` is the (sort name, id) of the last row of the previous page.
pub fn list_page(
    c: &Connection,
    access: &SqlAccess,
    archived: bool,
    cond: &Conditions,
    after: Option<(&str, i64)>,
    limit: usize,
) -> Result<Vec<Client>> {
    let mut sql = String::from("WITH page(id, sort_name) AS (");
    let mut params: Vec<Value> = Vec::new();
    for (i, branch) in access.branches.iter().enumerate() {
        if i > 0 {
            sql.push_str(" UNION ");
        }
        write!(
            sql,
            "SELECT * FROM (SELECT c.id, c.sort_name FROM clients c WHERE ({}) AND c.archived = ? AND {}",
            branch.sql, access.deny.sql
        )
        .ok();
        params.extend(branch.params.iter().cloned());
        params.push(Value::Integer(i64::from(archived)));
        params.extend(access.deny.params.iter().cloned());
        cond.render(&mut sql, &mut params);
        if let Some((name, id)) = after {
            sql.push_str(" AND (c.sort_name, c.id) > (?, ?)");
            params.push(Value::Text(name.to_string()));
            params.push(Value::Integer(id));
        }
        sql.push_str(" ORDER BY c.sort_name, c.id LIMIT ?)");
        params.push(Value::Integer(limit as i64));
    }
    // The merge is ordered and limited inside the WITH, so only the page's rows are fetched
    // (joining every branch's rows first and sorting them cost twice as much at 1M rows).
    write!(
        sql,
        " ORDER BY 2, 1 LIMIT ?) SELECT {CLIENT_COLUMNS} FROM page JOIN clients c ON c.id = page.id ORDER BY page.sort_name, page.id"
    )
    .ok();
    params.push(Value::Integer(limit as i64));
    collect_clients(&mut c.prepare_cached(&sql)?, &params)
}

/// Counts the clients matching, stopping at `cap`.
pub fn count(
    c: &Connection,
    access: &SqlAccess,
    archived: bool,
    cond: &Conditions,
    cap: u64,
) -> Result<u64> {
    let pred = access.predicate();
    let mut sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM clients c WHERE {} AND c.archived = ?",
        pred.sql
    );
    let mut params = pred.params;
    params.push(Value::Integer(i64::from(archived)));
    cond.render(&mut sql, &mut params);
    sql.push_str(" LIMIT ?)");
    params.push(Value::Integer(i64::try_from(cap).unwrap_or(i64::MAX)));
    let n: i64 = c
        .prepare_cached(&sql)?
        .query_row(params_from_iter(&params), |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// One page of full-text matches, newest first. The match set is walked in rowid order and
/// never ranked, so its cost is bounded by the page, not by the number of matches.
pub fn search_page(
    c: &Connection,
    access: &SqlAccess,
    fts_query: &str,
    archived: bool,
    cond: &Conditions,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<Client>> {
    let pred = access.predicate();
    let mut sql = format!(
        "SELECT {CLIENT_COLUMNS} FROM client_fts f JOIN clients c ON c.id = f.rowid
         WHERE client_fts MATCH ? AND f.rowid < ? AND c.archived = ? AND {}",
        pred.sql
    );
    let mut params = vec![
        Value::Text(fts_query.to_string()),
        Value::Integer(before.unwrap_or(i64::MAX)),
        Value::Integer(i64::from(archived)),
    ];
    params.extend(pred.params);
    cond.render(&mut sql, &mut params);
    sql.push_str(" ORDER BY f.rowid DESC LIMIT ?");
    params.push(Value::Integer(limit as i64));
    collect_clients(&mut c.prepare_cached(&sql)?, &params)
}

/// Readable clients sharing an identifying key with `keys`, other than `exclude`, with the kinds
/// of keys they share.
pub fn duplicates(
    c: &Connection,
    access: &SqlAccess,
    keys: &[(&'static str, String)],
    exclude: Option<ClientId>,
    limit: usize,
) -> Result<Vec<(Client, Vec<MatchReason>)>> {
    let keys: Vec<&(&'static str, String)> = keys.iter().filter(|(k, _)| *k != "tag").collect();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let pred = access.predicate();
    let pairs = vec!["(?, ?)"; keys.len()].join(", ");
    let sql = format!(
        "WITH hits(id, kinds) AS (
            SELECT k.client_id, group_concat(DISTINCT k.kind) FROM client_keys k
            WHERE (k.kind, k.key) IN (VALUES {pairs}) AND k.client_id IS NOT ?
            GROUP BY k.client_id)
         SELECT {CLIENT_COLUMNS}, hits.kinds FROM hits JOIN clients c ON c.id = hits.id
         WHERE {} ORDER BY c.id LIMIT ?",
        pred.sql
    );
    let mut params: Vec<Value> = Vec::new();
    for (k, v) in &keys {
        params.push(Value::Text((*k).to_string()));
        params.push(Value::Text(v.clone()));
    }
    params.push(exclude.map_or(Value::Null, |id| Value::Integer(id.0)));
    params.extend(pred.params);
    params.push(Value::Integer(limit as i64));
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(&params), |r| {
        Ok((raw_from_row(r)?, r.get::<_, String>(19)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (raw, kinds) = row?;
        let mut reasons: Vec<MatchReason> = kinds
            .split(',')
            .filter_map(|k| match k {
                "tax" => Some(MatchReason::TaxId),
                "email" => Some(MatchReason::Email),
                "phone" => Some(MatchReason::Phone),
                "name" => Some(MatchReason::Name),
                _ => None,
            })
            .collect();
        reasons.sort();
        out.push((raw.decode()?, reasons));
    }
    Ok(out)
}

// ---- contact links ----

/// Links a person to an organisation, or updates the position of an existing link.
pub fn upsert_contact(
    c: &Connection,
    org: ClientId,
    person: ClientId,
    position: Option<&str>,
) -> Result<()> {
    c.execute(
        "INSERT INTO contact_links (organization_id, person_id, position) VALUES (?1, ?2, ?3)
         ON CONFLICT (organization_id, person_id) DO UPDATE SET position = ?3",
        params![org, person, position],
    )?;
    Ok(())
}

/// Removes a link; returns whether it existed.
pub fn delete_contact(c: &Connection, org: ClientId, person: ClientId) -> Result<bool> {
    Ok(c.execute(
        "DELETE FROM contact_links WHERE organization_id = ? AND person_id = ?",
        params![org, person],
    )? == 1)
}

/// The links of an organisation (`by_person = false`) or of a person, restricted to linked
/// clients that `access` lets the user read.
pub fn contacts(
    c: &Connection,
    access: &SqlAccess,
    id: ClientId,
    by_person: bool,
) -> Result<Vec<ContactLink>> {
    let pred = access.predicate();
    let (mine, other) = if by_person {
        ("person_id", "organization_id")
    } else {
        ("organization_id", "person_id")
    };
    let sql = format!(
        "SELECT l.organization_id, l.person_id, l.position FROM contact_links l
         JOIN clients c ON c.id = l.{other}
         WHERE l.{mine} = ? AND {} ORDER BY c.sort_name, c.id",
        pred.sql
    );
    let mut params = vec![Value::Integer(id.0)];
    params.extend(pred.params);
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(&params), |r| {
        Ok(ContactLink {
            organization_id: r.get(0)?,
            person_id: r.get(1)?,
            position: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The position of an existing contact link (`Some(None)` for a link without one).
pub fn contact_position(
    c: &Connection,
    org: ClientId,
    person: ClientId,
) -> Result<Option<Option<String>>> {
    Ok(c.prepare_cached(
        "SELECT position FROM contact_links WHERE organization_id = ? AND person_id = ?",
    )?
    .query_row(params![org, person], |r| r.get(0))
    .optional()?)
}

/// Clients after id `after` that `access` reaches, by id (for exports).
pub fn export_page(
    c: &Connection,
    access: &SqlAccess,
    include_archived: bool,
    after: i64,
    limit: usize,
) -> Result<Vec<Client>> {
    let pred = access.predicate();
    let sql = format!(
        "SELECT {CLIENT_COLUMNS} FROM clients c WHERE {} AND c.id > ? AND (? OR c.archived = 0) ORDER BY c.id LIMIT ?",
        pred.sql
    );
    let mut params = pred.params;
    params.extend([
        Value::Integer(after),
        Value::Integer(i64::from(include_archived)),
        Value::Integer(limit as i64),
    ]);
    collect_clients(&mut c.prepare_cached(&sql)?, &params)
}

/// Contact links whose organisation `access` reaches, after (organisation, person), in order.
pub fn export_contacts(
    c: &Connection,
    access: &SqlAccess,
    after: (i64, i64),
    limit: usize,
) -> Result<Vec<ContactLink>> {
    let pred = access.predicate();
    let sql = format!(
        "SELECT l.organization_id, l.person_id, l.position FROM contact_links l JOIN clients c ON c.id = l.organization_id
         WHERE {} AND (l.organization_id, l.person_id) > (?, ?) ORDER BY l.organization_id, l.person_id LIMIT ?",
        pred.sql
    );
    let mut params = pred.params;
    params.extend([
        Value::Integer(after.0),
        Value::Integer(after.1),
        Value::Integer(limit as i64),
    ]);
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(&params), |r| {
        Ok(ContactLink {
            organization_id: r.get(0)?,
            person_id: r.get(1)?,
            position: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The external id of a client, or `#<id>` when it has none (the reference exports use).
pub fn reference(c: &Connection, id: ClientId) -> Result<String> {
    let x: Option<Option<String>> = c
        .prepare_cached("SELECT external_id FROM clients WHERE id = ?")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(x.flatten().unwrap_or_else(|| format!("#{id}")))
}

/// Whether there is no client at all.
pub fn is_empty(c: &Connection) -> Result<bool> {
    Ok(!c
        .prepare_cached("SELECT 1 FROM clients LIMIT 1")?
        .exists([])?)
}

/// Drops the list and parent indexes of `clients` (not the unique external-id index, which
/// matching needs) and returns their definitions for [`create_indexes`]. A bulk load into an
/// empty table followed by one sorted build per index is several times faster than maintaining
/// five indexes row by row. (The keys' client-id index stays: sorting its 5M entries of a
/// 1M-client load at the end took 400 MB with temp storage in memory.)
pub fn drop_list_indexes(c: &Connection) -> Result<Vec<String>> {
    let defs: Vec<(String, String)> = c
        .prepare(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'clients'
             AND sql IS NOT NULL AND name != 'clients_external' ORDER BY name",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, _) in &defs {
        c.execute_batch(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))?;
    }
    Ok(defs.into_iter().map(|(_, sql)| sql).collect())
}

/// Re-creates indexes from their definitions.
pub fn create_indexes(c: &Connection, defs: &[String]) -> Result<()> {
    for sql in defs {
        c.execute_batch(sql)?;
    }
    Ok(())
}

/// The record an import or export reference names: its external id, or `#<id>` (what exports
/// write for records without one) for a record that has no external id.
pub fn by_reference(c: &Connection, reference: &str) -> Result<Option<ClientId>> {
    if let Some(id) = by_external_id(c, reference)? {
        return Ok(Some(id));
    }
    let Some(n) = reference
        .strip_prefix('#')
        .and_then(|n| n.parse::<i64>().ok())
    else {
        return Ok(None);
    };
    Ok(
        c.prepare_cached("SELECT id FROM clients WHERE id = ? AND external_id IS NULL")?
            .query_row([n], |r| r.get(0))
            .optional()?,
    )
}
