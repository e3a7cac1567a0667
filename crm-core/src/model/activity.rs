//! Activities: tasks, calls, meetings, e-mails and notes, and the client timeline.

use crate::ids::{ActivityId, ClientId, DealId, DepartmentId, UserId};
use crate::model::Patch;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kind of an activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// Something to do.
    Task,
    /// A phone call.
    Call,
    /// A meeting.
    Meeting,
    /// An e-mail.
    Email,
    /// A note.
    Note,
}

impl ActivityKind {
    /// Every kind, in a stable order.
    pub const ALL: [ActivityKind; 5] = [
        ActivityKind::Task,
        ActivityKind::Call,
        ActivityKind::Meeting,
        ActivityKind::Email,
        ActivityKind::Note,
    ];

    /// The stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Task => "task",
            ActivityKind::Call => "call",
            ActivityKind::Meeting => "meeting",
            ActivityKind::Email => "email",
            ActivityKind::Note => "note",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A stored activity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Its id.
    pub id: ActivityId,
    /// Task, call, meeting, e-mail or note.
    pub kind: ActivityKind,
    /// Subject line.
    pub subject: String,
    /// Text, or the result of a call or meeting.
    pub body: Option<String>,
    /// The client it concerns.
    pub client_id: Option<ClientId>,
    /// The deal it concerns.
    pub deal_id: Option<DealId>,
    /// Who is responsible (the owner for permissions).
    pub assignee_id: UserId,
    /// The assignee's department, stamped for permission checks.
    pub department_id: DepartmentId,
    /// When it is due.
    pub due_at: Option<DateTime<Utc>>,
    /// When to remind the assignee.
    pub remind_at: Option<DateTime<Utc>>,
    /// When it was done; `None` while pending.
    pub done_at: Option<DateTime<Utc>>,
    /// Open to everyone.
    pub open: bool,
    /// The automation rule that created it, if any.
    pub rule_id: Option<i64>,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Time of the last change.
    pub updated_at: DateTime<Utc>,
    /// Identifier in another system (unique), used to match imports.
    pub external_id: Option<String>,
}

/// Input for creating an activity. At least one of `client_id` and `deal_id` is required.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewActivity {
    /// Kind.
    pub kind: ActivityKind,
    /// Subject line (1–300 characters).
    pub subject: String,
    /// Text or result.
    #[serde(default)]
    pub body: Option<String>,
    /// The client it concerns (must be readable).
    #[serde(default)]
    pub client_id: Option<ClientId>,
    /// The deal it concerns (must be readable); its client is used when `client_id` is empty.
    #[serde(default)]
    pub deal_id: Option<DealId>,
    /// Assignee; defaults to the acting user (required in the system context).
    #[serde(default)]
    pub assignee_id: Option<UserId>,
    /// Due time.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// Reminder time (not after `due_at`).
    #[serde(default)]
    pub remind_at: Option<DateTime<Utc>>,
    /// Already done at this time (calls, e-mails and notes are usually logged as done).
    #[serde(default)]
    pub done_at: Option<DateTime<Utc>>,
    /// Open to everyone.
    #[serde(default)]
    pub open: bool,
    /// Identifier in another system (unique), used to match imports.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Creation time to record instead of now (for importing history); not in the future.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

impl NewActivity {
    /// A new activity with a kind and subject and every other field at its default (assigned
    /// to the acting user, not linked: set `client_id` or `deal_id`); fill in the rest with
    /// struct update syntax.
    pub fn new(kind: ActivityKind, subject: impl Into<String>) -> Self {
        NewActivity {
            kind,
            subject: subject.into(),
            body: None,
            client_id: None,
            deal_id: None,
            assignee_id: None,
            due_at: None,
            remind_at: None,
            done_at: None,
            open: false,
            external_id: None,
            created_at: None,
        }
    }
}

/// A change to an activity.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityUpdate {
    /// New subject.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub subject: Patch<String>,
    /// New text or result, or `null`.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub body: Patch<Option<String>>,
    /// New due time, or `null`.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub due_at: Patch<Option<DateTime<Utc>>>,
    /// New reminder time, or `null`.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub remind_at: Patch<Option<DateTime<Utc>>>,
    /// Mark done at this time, or `null` to reopen.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub done_at: Patch<Option<DateTime<Utc>>>,
    /// New open flag.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    pub open: Patch<bool>,
}

/// What a timeline item is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimelineItem {
    /// An activity linked to the client or one of its deals.
    Activity {
        /// The activity.
        activity: Activity,
    },
    /// A deal of the client changed stage (or was created).
    StageChange {
        /// The event.
        event: StageEvent,
        /// The deal's title.
        deal_title: String,
    },
    /// An audited change of the client or one of its deals.
    Change {
        /// The audit entry.
        entry: crate::AuditEntry,
    },
}

use crate::model::StageEvent;

/// One entry of the client timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What it is.
    #[serde(flatten)]
    pub item: TimelineItem,
}
