//! The clients' full-text index: one document per client with its name, e-mails, phones and
//! tax ids, plus its permission terms ([`fts::document_terms`]) in a column of their own, which
//! narrow read plans match against ([`fts::match_expression`]). The terms only narrow the walk
//! (the SQL permission predicate still decides), but they must never be stale: every change of
//! a client's owner, department stamp or open flag rewrites its document.

use super::clients::{indexed_fields, INDEXED_COLUMNS};
use crate::access::{fts, RecordAcl};
use crate::error::Result;
use crate::ids::{ClientId, DepartmentId, UserId};
use crate::model::{normalize, ClientFields};
use rusqlite::{params, Connection};

/// Writes the document of a client that has none yet.
pub fn insert(c: &Connection, id: ClientId, f: &ClientFields, acl: &RecordAcl) -> Result<()> {
    let emails: Vec<&str> = f.emails.iter().map(|e| e.address.as_str()).collect();
    let phones: Vec<String> = f
        .phones
        .iter()
        .flat_map(|p| {
            [
                p.number.clone(),
                normalize::phone_key(&p.number).unwrap_or_default(),
            ]
        })
        .collect();
    let ids: Vec<String> = [&f.tax_id, &f.registration_number]
        .into_iter()
        .flatten()
        .flat_map(|t| [t.clone(), normalize::tax_key(t).unwrap_or_default()])
        .collect();
    c.prepare_cached(
        "INSERT INTO client_fts (rowid, name, emails, phones, ids, acl) VALUES (?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        id,
        f.name,
        emails.join(" "),
        phones.join(" "),
        ids.join(" "),
        fts::document_terms(acl)
    ])?;
    Ok(())
}

/// Rewrites the document of a client.
pub fn rewrite(c: &Connection, id: ClientId, f: &ClientFields, acl: &RecordAcl) -> Result<()> {
    remove(c, id)?;
    insert(c, id, f, acl)
}

/// Removes the document of a client (a no-op when it has none).
pub fn remove(c: &Connection, id: ClientId) -> Result<()> {
    c.prepare_cached("DELETE FROM client_fts WHERE rowid = ?")?
        .execute([id])?;
    Ok(())
}

/// Writes (with `replace`, rewrites) the documents of every client `sql_filter` selects (a
/// condition on `clients`, with `args`), from the stored rows; migrations may use it.
fn rewrite_where(
    c: &Connection,
    sql_filter: &str,
    args: impl rusqlite::Params,
    replace: bool,
) -> Result<()> {
    let mut st = c.prepare(&format!(
        "SELECT {INDEXED_COLUMNS}, owner_id, dept_id, is_open FROM clients WHERE {sql_filter}
         ORDER BY id"
    ))?;
    let mut rows = st.query(args)?;
    while let Some(r) = rows.next()? {
        let (id, f) = indexed_fields(r)?;
        let acl = RecordAcl {
            owner_id: UserId(r.get(8)?),
            department_id: DepartmentId(r.get(9)?),
            open: r.get(10)?,
        };
        if replace {
            remove(c, id)?;
        }
        insert(c, id, &f, &acl)?;
    }
    Ok(())
}

/// Rebuilds the whole index from the stored clients (after a migration).
pub fn rebuild(c: &Connection) -> Result<()> {
    c.execute("DELETE FROM client_fts", [])?;
    rewrite_where(c, "1", [], false)
}

/// Rewrites the documents of the clients a user owns (after their department stamp changed).
pub fn rewrite_owned_by(c: &Connection, owner: UserId) -> Result<()> {
    rewrite_where(c, "owner_id = ?", [owner], true)
}
