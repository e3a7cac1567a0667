//! Reading the transactional outbox: what consumers such as plugins are told about changes.
//! Events are filtered by the reader's read permission on the record, as it stood at the change.

use crate::access::{Action, EntityType, SqlAccess};
use crate::crm::Crm;
use crate::error::{CrmError, Result};
use crate::model::{require_text, OutboxEvent};
use crate::store::outbox;
use crate::Ctx;

const MAX_PAGE: usize = 10_000;

impl Crm {
    /// Up to `limit` events after event `after` (0 for the start) of records the actor may read,
    /// in commit order, optionally only of the given `event_types` (e.g. `deal.change_stage`).
    pub fn outbox_events(
        &self,
        ctx: &Ctx,
        after: i64,
        event_types: &[String],
        limit: usize,
    ) -> Result<Vec<OutboxEvent>> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(CrmError::invalid(
                "limit",
                format!("{limit} is outside 1..={MAX_PAGE}"),
            ));
        }
        self.read(ctx, |c, access| {
            let accesses: Vec<(&str, SqlAccess)> =
                [EntityType::Client, EntityType::Deal, EntityType::Activity]
                    .into_iter()
                    .filter_map(|e| {
                        SqlAccess::render(&access.plan(e, Action::Read), outbox::ACL_COLUMNS)
                            .map(|s| (e.as_str(), s))
                    })
                    .collect();
            outbox::page(c, &accesses, event_types, after, limit)
        })
    }

    /// The id of the newest event (0 when there is none).
    pub fn outbox_head(&self, ctx: &Ctx) -> Result<i64> {
        self.read(ctx, |c, _| outbox::head(c))
    }

    /// The last event `consumer` acknowledged (0 when it never did). Administrators and the
    /// system context only.
    pub fn outbox_cursor(&self, ctx: &Ctx, consumer: &str) -> Result<i64> {
        let consumer = require_text("consumer", consumer, 200)?;
        self.read(ctx, |c, access| {
            if !access.is_admin() {
                return Err(CrmError::AdminRequired {
                    operation: "outbox_cursor",
                });
            }
            outbox::cursor(c, &consumer)
        })
    }

    /// Records that `consumer` has processed every event up to `id`; the cursor never moves
    /// back. Returns the stored cursor. Administrators and the system context only; not audited
    /// (it is delivery bookkeeping, written at event rate).
    pub fn outbox_ack(&self, ctx: &Ctx, consumer: &str, id: i64) -> Result<i64> {
        let consumer = require_text("consumer", consumer, 200)?;
        self.write(ctx, |cx| {
            cx.require_admin("outbox_ack")?;
            outbox::ack(cx.tx, &consumer, id, cx.now)
        })
    }

    /// Forgets a consumer (an uninstalled plugin) so it no longer holds back pruning.
    /// Administrators and the system context only; audited.
    pub fn outbox_forget_consumer(&self, ctx: &Ctx, consumer: &str) -> Result<()> {
        let consumer = require_text("consumer", consumer, 200)?;
        self.write(ctx, |cx| {
            cx.require_admin("outbox_forget_consumer")?;
            if !outbox::forget(cx.tx, &consumer)? {
                return Err(CrmError::invalid(
                    "consumer",
                    format!("{consumer:?} has no cursor"),
                ));
            }
            cx.audit(
                "outbox.forget_consumer",
                "outbox",
                None,
                &serde_json::json!({ "consumer": consumer }),
            )
        })
    }

    /// Deletes the events that every known consumer has acknowledged, always keeping the newest
    /// (so event ids are never handed out twice); returns how many.
    pub fn outbox_prune(&self, ctx: &Ctx) -> Result<usize> {
        self.write(ctx, |cx| {
            cx.require_admin("outbox_prune")?;
            let n = outbox::prune(cx.tx)?;
            cx.audit(
                "outbox.prune",
                "outbox",
                None,
                &serde_json::json!({ "deleted": n }),
            )?;
            Ok(n)
        })
    }
}
