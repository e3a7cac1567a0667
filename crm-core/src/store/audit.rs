//! SQL for the audit log: an append-only, hash-chained table.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's own fields, each
//! length-prefixed so no two different entries encode alike. `audit_head` holds the id and hash
//! of the last entry, so removing entries from the end is detected as well as editing or removing
//! any entry in the middle. Triggers refuse UPDATE and DELETE on the table.

use crate::error::Result;
use crate::ids::AuditId;
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One entry of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its id; ids increase by one without gaps.
    pub id: AuditId,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// `user` or `system`.
    pub actor_kind: String,
    /// The acting user, for `user` actors.
    pub actor_id: Option<i64>,
    /// The reason given for a system context.
    pub actor_note: Option<String>,
    /// What was done, e.g. `client.update`.
    pub action: String,
    /// The entity type, e.g. `client`.
    pub entity: String,
    /// The record, when there is one.
    pub entity_id: Option<i64>,
    /// `ok` or `denied`.
    pub outcome: String,
    /// JSON detail: the field-level diff `{field: [old, new]}`, counts, or the reason of a denial.
    pub detail: String,
}

/// An entry to append (the id and hashes are assigned by [`append`]).
pub struct NewAuditEntry<'a> {
    pub at_ms: i64,
    pub actor_kind: &'a str,
    pub actor_id: Option<i64>,
    pub actor_note: Option<&'a str>,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: Option<i64>,
    pub outcome: &'a str,
    pub detail: &'a str,
}

fn put(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn put_opt_int(h: &mut Sha256, v: Option<i64>) {
    match v {
        Some(n) => {
            h.update([1]);
            h.update(n.to_le_bytes());
        }
        None => h.update([0]),
    }
}

/// The chained hash of an entry.
pub fn entry_hash(prev: &[u8], e: &AuditEntry) -> Vec<u8> {
    let mut h = Sha256::new();
    put(&mut h, prev);
    h.update(e.id.0.to_le_bytes());
    h.update(e.at_ms.to_le_bytes());
    put(&mut h, e.actor_kind.as_bytes());
    put_opt_int(&mut h, e.actor_id);
    match &e.actor_note {
        Some(n) => {
            h.update([1]);
            put(&mut h, n.as_bytes());
        }
        None => h.update([0]),
    }
    put(&mut h, e.action.as_bytes());
    put(&mut h, e.entity.as_bytes());
    put_opt_int(&mut h, e.entity_id);
    put(&mut h, e.outcome.as_bytes());
    put(&mut h, e.detail.as_bytes());
    h.finalize().to_vec()
}

/// Appends an entry in the caller's transaction.
pub fn append(c: &Connection, n: &NewAuditEntry<'_>) -> Result<AuditId> {
    let (last_id, prev): (i64, Vec<u8>) = c
        .prepare_cached("SELECT last_id, hash FROM audit_head WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let entry = AuditEntry {
        id: AuditId(last_id + 1),
        at_ms: n.at_ms,
        actor_kind: n.actor_kind.to_string(),
        actor_id: n.actor_id,
        actor_note: n.actor_note.map(str::to_string),
        action: n.action.to_string(),
        entity: n.entity.to_string(),
        entity_id: n.entity_id,
        outcome: n.outcome.to_string(),
        detail: n.detail.to_string(),
    };
    let hash = entry_hash(&prev, &entry);
    c.prepare_cached(
        "INSERT INTO audit_log (id, at, actor_kind, actor_id, actor_note, action, entity, entity_id,
            outcome, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        entry.id.0,
        entry.at_ms,
        entry.actor_kind,
        entry.actor_id,
        entry.actor_note,
        entry.action,
        entry.entity,
        entry.entity_id,
        entry.outcome,
        entry.detail,
        prev,
        hash
    ])?;
    c.prepare_cached("UPDATE audit_head SET last_id = ?, hash = ? WHERE id = 1")?
        .execute(params![entry.id.0, hash])?;
    Ok(entry.id)
}

/// Streams every entry in id order with its stored `prev_hash` and `hash` to `f`, then returns the
/// head record `(last_id, hash)`.
pub fn scan(
    c: &Connection,
    mut f: impl FnMut(AuditEntry, Vec<u8>, Vec<u8>) -> Result<()>,
) -> Result<(i64, Vec<u8>)> {
    let mut st = c.prepare(&format!(
        "SELECT {ENTRY_COLUMNS}, l.prev_hash, l.hash FROM audit_log l ORDER BY l.id"
    ))?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let e = entry_from_row(r)?;
        f(e, r.get(10)?, r.get(11)?)?;
    }
    Ok(c.query_row(
        "SELECT last_id, hash FROM audit_head WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// The columns [`entry_from_row`] decodes, for a table aliased `l`.
pub const ENTRY_COLUMNS: &str =
    "l.id, l.at, l.actor_kind, l.actor_id, l.actor_note, l.action, l.entity, l.entity_id, l.outcome, l.detail";

/// Decodes an entry selected with [`ENTRY_COLUMNS`].
pub fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: AuditId(r.get(0)?),
        at_ms: r.get(1)?,
        actor_kind: r.get(2)?,
        actor_id: r.get(3)?,
        actor_note: r.get(4)?,
        action: r.get(5)?,
        entity: r.get(6)?,
        entity_id: r.get(7)?,
        outcome: r.get(8)?,
        detail: r.get(9)?,
    })
}

/// Entries about one record (or, with `entity_id = None`, all entries), newest first, with ids
/// below `before`.
pub fn entries(
    c: &Connection,
    entity: Option<&str>,
    entity_id: Option<i64>,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<AuditEntry>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {ENTRY_COLUMNS} FROM audit_log l
         WHERE (?1 IS NULL OR l.entity = ?1) AND (?2 IS NULL OR l.entity_id = ?2) AND l.id < ?3
         ORDER BY l.id DESC LIMIT ?4"
    ))?;
    let rows = st.query_map(
        params![entity, entity_id, before.unwrap_or(i64::MAX), limit as i64],
        entry_from_row,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
