//! Forward-only, versioned schema migrations, tracked in `PRAGMA user_version`.

use crate::error::{CrmError, Result};
use rusqlite::Connection;

/// The migrations, in order; migration `i` (0-based) brings the schema to version `i + 1`.
/// Shipped migrations never change: add a new file instead.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_org_clients.sql"),
    include_str!("migrations/0002_audit_search.sql"),
    include_str!("migrations/0003_deals_activities.sql"),
    include_str!("migrations/0004_outbox.sql"),
    include_str!("migrations/0005_external_ids_merges.sql"),
    include_str!("migrations/0006_search_prefixes.sql"),
    include_str!("migrations/0007_deal_counters.sql"),
    include_str!("migrations/0008_outbox_lean.sql"),
    include_str!("migrations/0009_stage_event_lost_reason.sql"),
    include_str!("migrations/0010_search_permissions.sql"),
    include_str!("migrations/0011_outbox_ids.sql"),
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The schema version stored in the file.
pub fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Fails with `SchemaTooNew` when the file was written by a newer engine.
pub fn check_version(conn: &Connection) -> Result<()> {
    let found = schema_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(CrmError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Brings the database to [`SCHEMA_VERSION`].
pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, SCHEMA_VERSION)
}

/// Data steps that need Rust code, run in the same transaction as the SQL of `version`. They
/// may only touch columns that exist at that version (later migrations may add more).
fn data_migration(tx: &Connection, version: i64) -> Result<()> {
    match version {
        // Version 2 added the duplicate keys (and a search index, rebuilt since: version 6
        // added prefix indexes, version 10 permission terms); fill them for existing clients.
        2 => super::clients::reindex_keys(tx),
        10 => super::client_search::rebuild(tx),
        _ => Ok(()),
    }
}

/// Brings the database to schema version `target`, one transaction per step. Exposed so tests
/// can create databases as every earlier version of the engine left them.
pub fn migrate_to(conn: &mut Connection, target: i64) -> Result<()> {
    check_version(conn)?;
    let found = schema_version(conn)?;
    for version in found..target.min(SCHEMA_VERSION) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        if schema_version(&tx)? > version {
            continue;
        }
        tx.execute_batch(MIGRATIONS[version as usize])?;
        data_migration(&tx, version + 1)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
    Ok(())
}
