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
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The schema version stored in the file.
pub fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Brings the database to [`SCHEMA_VERSION`].
pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, SCHEMA_VERSION)
}

/// Brings the database to schema version `target`, one transaction per step. Exposed so tests
/// can create databases as every earlier version of the engine left them.
pub fn migrate_to(conn: &mut Connection, target: i64) -> Result<()> {
    let found = schema_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(CrmError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for version in found..target.min(SCHEMA_VERSION) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        if schema_version(&tx)? > version {
            continue;
        }
        tx.execute_batch(MIGRATIONS[version as usize])?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
    Ok(())
}
