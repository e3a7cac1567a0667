//! SQL for merging clients: moving references from one client to another and the merge record.

use crate::error::Result;
use crate::ids::ClientId;
use rusqlite::{params, Connection, OptionalExtension};

/// Ids of rows in `table` whose `column` is `from`.
pub fn referencing(c: &Connection, table: &str, column: &str, from: ClientId) -> Result<Vec<i64>> {
    let mut st = c.prepare(&format!(
        "SELECT id FROM {table} WHERE {column} = ? ORDER BY id"
    ))?;
    let rows = st.query_map([from], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The listed rows of `table` whose `column` is still `at` (the ones an undo moves back).
pub fn still_referencing(
    c: &Connection,
    table: &str,
    column: &str,
    ids: &[i64],
    at: ClientId,
) -> Result<Vec<i64>> {
    let mut st = c.prepare(&format!(
        "SELECT 1 FROM {table} WHERE id = ? AND {column} = ?"
    ))?;
    let mut out = Vec::new();
    for id in ids {
        if st.exists(params![id, at])? {
            out.push(*id);
        }
    }
    Ok(out)
}

/// Points `column` of the listed rows of `table` at `to` (only rows still pointing at `from`).
pub fn repoint(
    c: &Connection,
    table: &str,
    column: &str,
    ids: &[i64],
    from: ClientId,
    to: ClientId,
    now: i64,
) -> Result<usize> {
    let mut st = c.prepare(&format!(
        "UPDATE {table} SET {column} = ?1, version = version + 1, updated_at = ?2 WHERE id = ?3 AND {column} = ?4"
    ))?;
    let mut n = 0;
    for id in ids {
        n += st.execute(params![to, now, id, from])?;
    }
    Ok(n)
}

/// Contact links of a client as organisation (`as_person = false`) or as person: (other side, position).
pub fn links(
    c: &Connection,
    id: ClientId,
    as_person: bool,
) -> Result<Vec<(ClientId, Option<String>)>> {
    let (mine, other) = if as_person {
        ("person_id", "organization_id")
    } else {
        ("organization_id", "person_id")
    };
    let mut st = c.prepare(&format!(
        "SELECT {other}, position FROM contact_links WHERE {mine} = ? ORDER BY {other}"
    ))?;
    let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Removes one contact link.
pub fn unlink(c: &Connection, org: ClientId, person: ClientId) -> Result<()> {
    c.execute(
        "DELETE FROM contact_links WHERE organization_id = ? AND person_id = ?",
        params![org, person],
    )?;
    Ok(())
}

/// Records a merge with its undo document; returns its id.
pub fn insert(
    c: &Connection,
    survivor: ClientId,
    duplicate: ClientId,
    at: i64,
    actor: Option<i64>,
    undo: &str,
) -> Result<i64> {
    c.execute(
        "INSERT INTO client_merges (survivor_id, duplicate_id, at, actor_id, undo) VALUES (?, ?, ?, ?, ?)",
        params![survivor, duplicate, at, actor, undo],
    )?;
    Ok(c.last_insert_rowid())
}

/// A merge not undone yet: (survivor, duplicate, undo document).
pub fn pending(c: &Connection, id: i64) -> Result<Option<(ClientId, ClientId, String)>> {
    Ok(c.query_row(
        "SELECT survivor_id, duplicate_id, undo FROM client_merges WHERE id = ? AND undone_at IS NULL",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()?)
}

/// Marks a merge undone.
pub fn mark_undone(c: &Connection, id: i64, at: i64) -> Result<()> {
    c.execute(
        "UPDATE client_merges SET undone_at = ? WHERE id = ?",
        params![at, id],
    )?;
    Ok(())
}
