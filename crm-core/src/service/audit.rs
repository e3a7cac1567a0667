//! Reading and verifying the audit log (administrators and the system context only).

use crate::crm::Crm;
use crate::error::{CrmError, Result};
use crate::ids::AuditId;
use crate::store::audit::{self, entry_hash, AuditEntry};
use crate::Ctx;
use serde::{Deserialize, Serialize};

/// What is wrong with one place of the audit chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditProblem {
    /// The entry's content no longer matches its hash: it was edited.
    Edited {
        /// The entry.
        id: AuditId,
    },
    /// Entries are missing before this one (an id gap or a broken link to the previous hash).
    Removed {
        /// The first entry after the gap.
        id: AuditId,
    },
    /// The newest entries were removed: the head record names a later entry than the last one.
    TailRemoved {
        /// The id of the last entry that is present.
        last_present: i64,
        /// The id the head record names.
        expected_last: i64,
    },
}

/// The result of [`Crm::verify_audit`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    /// Entries checked.
    pub entries: u64,
    /// True when the chain is intact.
    pub ok: bool,
    /// Everything found wrong, in id order.
    pub problems: Vec<AuditProblem>,
}

/// A page request for the audit log.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries about this entity type, e.g. `client`.
    #[serde(default)]
    pub entity: Option<String>,
    /// Only entries about this record.
    #[serde(default)]
    pub entity_id: Option<i64>,
    /// Only entries older than this id (the `next` of the previous page).
    #[serde(default)]
    pub before: Option<i64>,
    /// Page size, 1–500 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

impl Crm {
    /// Re-computes the whole hash chain and reports any edited or removed entry.
    pub fn verify_audit(&self, ctx: &Ctx) -> Result<AuditReport> {
        self.read(ctx, |c, access| {
            if !access.is_admin() {
                return Err(CrmError::AdminRequired {
                    operation: "verify_audit",
                });
            }
            verify_chain(c)
        })
    }

    /// A page of audit entries, newest first.
    pub fn audit_entries(&self, ctx: &Ctx, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let limit = match q.limit.unwrap_or(50) {
            n @ 1..=500 => n as usize,
            n => {
                return Err(CrmError::invalid(
                    "limit",
                    format!("{n} is outside 1..=500"),
                ))
            }
        };
        self.read(ctx, |c, access| {
            if !access.is_admin() {
                return Err(CrmError::AdminRequired {
                    operation: "audit_entries",
                });
            }
            audit::entries(c, q.entity.as_deref(), q.entity_id, q.before, limit)
        })
    }
}

/// Re-computes the hash chain of the audit log on connection `c`.
pub(crate) fn verify_chain(c: &rusqlite::Connection) -> Result<AuditReport> {
    let mut problems = Vec::new();
    let mut entries = 0u64;
    let mut prev_id = 0i64;
    let mut prev_hash = vec![0u8; 32];
    let (head_id, head_hash) = audit::scan(c, |e, stored_prev, stored_hash| {
        entries += 1;
        if e.id.0 != prev_id + 1 || stored_prev != prev_hash {
            problems.push(AuditProblem::Removed { id: e.id });
        }
        if entry_hash(&stored_prev, &e) != stored_hash {
            problems.push(AuditProblem::Edited { id: e.id });
        }
        prev_id = e.id.0;
        prev_hash = stored_hash;
        Ok(())
    })?;
    if head_id != prev_id || head_hash != prev_hash {
        problems.push(AuditProblem::TailRemoved {
            last_present: prev_id,
            expected_last: head_id,
        });
    }
    Ok(AuditReport {
        entries,
        ok: problems.is_empty(),
        problems,
    })
}
