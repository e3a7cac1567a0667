//! The client card timeline: activities, deal stage changes and audited changes of the client
//! and its deals, newest first, keyset-paginated. Each source is queried with the actor's read
//! plan for its own entity type, so an item the actor may not read is absent, never a hole.

use super::activities::activity_read_access;
use super::deals::deal_read_access;
use crate::crm::Crm;
use crate::error::{CrmError, Result};
use crate::ids::ClientId;
use crate::model::{Page, TimelineEntry, TimelineItem};
use crate::store::from_millis;
use crate::store::timeline::{self, Before};
use crate::Ctx;
use serde::{Deserialize, Serialize};

/// A page request for a client timeline.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// Page size, 1–500 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    #[serde(default)]
    pub after: Option<String>,
}

// Ties at the same millisecond are ordered activity, stage change, change.
const RANK_ACTIVITY: i64 = 3;
const RANK_STAGE: i64 = 2;
const RANK_CHANGE: i64 = 1;

fn parse_cursor(s: &str) -> Result<Before> {
    let mut it = s.split(':').map(str::parse::<i64>);
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(Ok(at)), Some(Ok(rank)), Some(Ok(id)), None) => Ok(Before { at, rank, id }),
        _ => Err(CrmError::invalid(
            "after",
            "not a cursor returned by a previous page",
        )),
    }
}

impl Crm {
    /// One page of a client's timeline, newest first. `NotFound` when the actor may not read
    /// the client.
    pub fn client_timeline(
        &self,
        ctx: &Ctx,
        client: ClientId,
        q: &TimelineQuery,
    ) -> Result<Page<TimelineEntry>> {
        let limit = super::client_queries::page_limit(q.limit)?;
        let before = match q.after.as_deref() {
            Some(s) => parse_cursor(s)?,
            None => Before {
                at: i64::MAX,
                rank: i64::MAX,
                id: i64::MAX,
            },
        };
        self.read(ctx, |c, access| {
            self.readable_client(c, access, client)?;
            // (at ms, rank, id, entry): each source gives at most limit + 1, the merge keeps the newest.
            let mut merged: Vec<(i64, i64, i64, TimelineEntry)> = Vec::new();
            if let Some(sql) = activity_read_access(access) {
                for a in timeline::activities(c, &sql, client, &before, RANK_ACTIVITY, limit + 1)? {
                    let at = a.created_at;
                    merged.push((
                        at.timestamp_millis(),
                        RANK_ACTIVITY,
                        a.id.0,
                        TimelineEntry {
                            at,
                            item: TimelineItem::Activity { activity: a },
                        },
                    ));
                }
            }
            if let Some(sql) = deal_read_access(access) {
                for (e, title) in
                    timeline::stage_events(c, &sql, client, &before, RANK_STAGE, limit + 1)?
                {
                    let at = e.at;
                    merged.push((
                        at.timestamp_millis(),
                        RANK_STAGE,
                        e.id,
                        TimelineEntry {
                            at,
                            item: TimelineItem::StageChange {
                                event: e,
                                deal_title: title,
                            },
                        },
                    ));
                }
            }
            // A user who cannot read any deal still sees the client's own changes.
            let deals = deal_read_access(access).unwrap_or_else(crate::access::SqlAccess::nothing);
            for entry in timeline::changes(c, &deals, client, &before, RANK_CHANGE, limit + 1)? {
                let at = from_millis(entry.at_ms);
                merged.push((
                    entry.at_ms,
                    RANK_CHANGE,
                    entry.id.0,
                    TimelineEntry {
                        at,
                        item: TimelineItem::Change { entry },
                    },
                ));
            }
            merged.sort_by_key(|m| std::cmp::Reverse((m.0, m.1, m.2)));
            let more = merged.len() > limit;
            merged.truncate(limit);
            let next = if more {
                merged
                    .last()
                    .map(|(at, rank, id, _)| format!("{at}:{rank}:{id}"))
            } else {
                None
            };
            Ok(Page {
                items: merged.into_iter().map(|m| m.3).collect(),
                next,
            })
        })
    }
}
