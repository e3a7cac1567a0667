//! The CRM dispatcher behind the `crm_call` capability: a table of method names (such as
//! `clients.search` or `deals.move`) to closures that decode a typed request, call one
//! [`Crm`] method with the plugin user's context, and encode the result.
//!
//! There is no other path from a plugin to the data: the context is always the plugin's own
//! user (never the system context), so the engine applies that user's permissions to every
//! call; administrative operations (organisation, roles, outbox cursors, backups) have no
//! method here at all. Unknown methods, malformed JSON and requests of the wrong shape are
//! answered with typed errors naming the field at fault.
//!
//! | method | request | response |
//! |---|---|---|
//! | `whoami` | `{}` | `{"user_id"}` |
//! | `clients.get` | `{"id"}` | `Client` |
//! | `clients.list` | `ClientQuery` | `Page<Client>` |
//! | `clients.search` | `SearchQuery` | `Page<Client>` |
//! | `clients.find_duplicates` | `NewClient` | `[DuplicateCandidate]` |
//! | `clients.contacts` | `{"id"}` | `[ContactLink]` |
//! | `clients.timeline` | `{"client_id", "limit"?, "after"?}` | `Page<TimelineEntry>` |
//! | `clients.create` | `NewClient` | `Client` |
//! | `clients.update` | `{"id", "expected_version", "changes": ClientUpdate}` | `Client` |
//! | `clients.archive` / `clients.restore` | `{"id", "expected_version"}` | `Client` |
//! | `clients.link_contact` | `{"organization_id", "person_id", "position"?}` | `null` |
//! | `deals.get` | `{"id"}` | `Deal` |
//! | `deals.list` | `DealQuery` | `Page<Deal>` |
//! | `deals.history` | `{"id"}` | `[StageEvent]` |
//! | `deals.create` | `NewDeal` | `Deal` |
//! | `deals.update` | `{"id", "expected_version", "changes": DealUpdate}` | `Deal` |
//! | `deals.move` | `{"id", "expected_version", "stage_id", "lost_reason"?, "at"?}` | `Deal` |
//! | `activities.get` | `{"id"}` | `Activity` |
//! | `activities.create` | `NewActivity` | `Activity` |
//! | `activities.update` | `{"id", "expected_version", "changes": ActivityUpdate}` | `Activity` |
//! | `pipelines.list` | `{}` | `[Pipeline]` |
//! | `pipelines.get` | `{"id"}` | `Pipeline` |
//!
//! Reads need the `crm.read` capability, writes `crm.write`.

use crate::abi::*;
use crm_core::ids::{ActivityId, ClientId, DealId, PipelineId};
use crm_core::model::{
    ActivityUpdate, ClientQuery, ClientUpdate, DealQuery, DealUpdate, NewActivity, NewClient,
    NewDeal, SearchQuery, StageMove,
};
use crm_core::service::timeline::TimelineQuery;
use crm_core::{Crm, CrmError, Ctx};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Whether a method reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Needs the `crm.read` capability.
    Read,
    /// Needs the `crm.write` capability.
    Write,
}

impl Access {
    /// The capability a method of this kind needs.
    pub fn capability(self) -> &'static str {
        match self {
            Access::Read => "crm.read",
            Access::Write => "crm.write",
        }
    }
}

/// Why a dispatched call failed.
#[derive(Debug)]
pub enum DispatchError {
    /// No such method.
    UnknownMethod(String),
    /// The input is not valid JSON or not the request's shape.
    BadRequest {
        /// Path of the offending field, when known.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The plugin lacks the capability the method needs, or has no CRM user.
    CapabilityDenied(String),
    /// The engine refused.
    Crm(CrmError),
}

impl DispatchError {
    /// The `CRM_PLUGIN_*` status the plugin gets.
    pub fn status(&self) -> i32 {
        match self {
            DispatchError::UnknownMethod(_) => CRM_PLUGIN_UNKNOWN_METHOD,
            DispatchError::BadRequest { .. } => CRM_PLUGIN_BAD_REQUEST,
            DispatchError::CapabilityDenied(_) => CRM_PLUGIN_DENIED,
            DispatchError::Crm(e) if e.is_permission() => CRM_PLUGIN_DENIED,
            DispatchError::Crm(_) => CRM_PLUGIN_CRM_ERROR,
        }
    }

    /// The JSON error document: `{"kind", "code"?, "message", "field"?}`.
    pub fn to_json(&self) -> Value {
        match self {
            DispatchError::UnknownMethod(m) => json!({
                "kind": "unknown_method",
                "message": format!("unknown CRM method {m:?}"),
            }),
            DispatchError::BadRequest { field, message } => json!({
                "kind": "bad_request",
                "message": message,
                "field": field,
            }),
            DispatchError::CapabilityDenied(m) => json!({
                "kind": "capability_denied",
                "message": m,
            }),
            DispatchError::Crm(e) => {
                let field = match e {
                    CrmError::Validation { field, .. } => Some(field.clone()),
                    _ => None,
                };
                json!({
                    "kind": crm_kind(e),
                    "code": e.code(),
                    "message": e.to_string(),
                    "field": field,
                })
            }
        }
    }
}

/// The stable name of an engine error, as plugins see it.
pub fn crm_kind(e: &CrmError) -> &'static str {
    match e.code() {
        2 => "validation",
        3 => "not_found",
        4 => "permission_denied",
        5 => "conflict",
        6 => "constraint",
        7 => "inactive_user",
        8 => "schema_too_new",
        9 => "storage",
        10 => "corrupt",
        11 => "cancelled",
        12 => "io",
        _ => "error",
    }
}

type Run = Box<dyn Fn(&Crm, &Ctx, &[u8]) -> Result<Value, DispatchError> + Send + Sync>;

struct Method {
    access: Access,
    run: Run,
}

/// The method table. Build it once ([`Dispatcher::new`]) and share it.
pub struct Dispatcher {
    methods: BTreeMap<&'static str, Method>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Id<T> {
    id: T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Versioned<T> {
    id: T,
    expected_version: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update<T, U> {
    id: T,
    expected_version: i64,
    changes: U,
}

#[derive(Deserialize)]
struct Move {
    id: DealId,
    expected_version: i64,
    #[serde(flatten)]
    to: StageMove,
}

#[derive(Deserialize)]
struct Timeline {
    client_id: ClientId,
    #[serde(flatten)]
    page: TimelineQuery,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Link {
    organization_id: ClientId,
    person_id: ClientId,
    #[serde(default)]
    position: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Nothing {}

impl Default for Dispatcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Dispatcher {
    /// The full method table (see the module documentation).
    pub fn new() -> Self {
        use Access::{Read, Write};
        let mut d = Dispatcher {
            methods: BTreeMap::new(),
        };
        d.add("whoami", Read, |_, ctx, _: Nothing| {
            Ok(json!({ "user_id": ctx.user_id() }))
        });
        d.add("clients.get", Read, |crm, ctx, r: Id<ClientId>| {
            crm.get_client(ctx, r.id)
        });
        d.add("clients.list", Read, |crm, ctx, q: ClientQuery| {
            crm.list_clients(ctx, &q)
        });
        d.add("clients.search", Read, |crm, ctx, q: SearchQuery| {
            crm.search_clients(ctx, &q)
        });
        d.add("clients.find_duplicates", Read, |crm, ctx, n: NewClient| {
            crm.find_duplicates(ctx, &n)
        });
        d.add("clients.contacts", Read, |crm, ctx, r: Id<ClientId>| {
            crm.contacts_of(ctx, r.id)
        });
        d.add("clients.timeline", Read, |crm, ctx, r: Timeline| {
            crm.client_timeline(ctx, r.client_id, &r.page)
        });
        d.add("clients.create", Write, |crm, ctx, n: NewClient| {
            crm.create_client(ctx, &n)
        });
        d.add(
            "clients.update",
            Write,
            |crm, ctx, r: Update<ClientId, ClientUpdate>| {
                crm.update_client(ctx, r.id, r.expected_version, &r.changes)
            },
        );
        d.add(
            "clients.archive",
            Write,
            |crm, ctx, r: Versioned<ClientId>| crm.archive_client(ctx, r.id, r.expected_version),
        );
        d.add(
            "clients.restore",
            Write,
            |crm, ctx, r: Versioned<ClientId>| crm.restore_client(ctx, r.id, r.expected_version),
        );
        d.add("clients.link_contact", Write, |crm, ctx, r: Link| {
            crm.link_contact(ctx, r.organization_id, r.person_id, r.position.as_deref())
        });
        d.add("deals.get", Read, |crm, ctx, r: Id<DealId>| {
            crm.get_deal(ctx, r.id)
        });
        d.add("deals.list", Read, |crm, ctx, q: DealQuery| {
            crm.list_deals(ctx, &q)
        });
        d.add("deals.history", Read, |crm, ctx, r: Id<DealId>| {
            crm.deal_history(ctx, r.id)
        });
        d.add("deals.create", Write, |crm, ctx, n: NewDeal| {
            crm.create_deal(ctx, &n)
        });
        d.add(
            "deals.update",
            Write,
            |crm, ctx, r: Update<DealId, DealUpdate>| {
                crm.update_deal(ctx, r.id, r.expected_version, &r.changes)
            },
        );
        d.add("deals.move", Write, |crm, ctx, r: Move| {
            crm.move_deal(ctx, r.id, r.expected_version, &r.to)
        });
        d.add("activities.get", Read, |crm, ctx, r: Id<ActivityId>| {
            crm.get_activity(ctx, r.id)
        });
        d.add("activities.create", Write, |crm, ctx, n: NewActivity| {
            crm.create_activity(ctx, &n)
        });
        d.add(
            "activities.update",
            Write,
            |crm, ctx, r: Update<ActivityId, ActivityUpdate>| {
                crm.update_activity(ctx, r.id, r.expected_version, &r.changes)
            },
        );
        d.add("pipelines.list", Read, |crm, ctx, _: Nothing| {
            crm.pipelines(ctx)
        });
        d.add("pipelines.get", Read, |crm, ctx, r: Id<PipelineId>| {
            crm.pipeline(ctx, r.id)
        });
        d
    }

    /// Adds (or replaces) a method: `f` gets the decoded request.
    pub fn add<Req, Resp, F>(&mut self, name: &'static str, access: Access, f: F)
    where
        Req: DeserializeOwned,
        Resp: Serialize,
        F: Fn(&Crm, &Ctx, Req) -> crm_core::Result<Resp> + Send + Sync + 'static,
    {
        let run: Run = Box::new(move |crm, ctx, input| {
            let req: Req = decode(input)?;
            let resp = f(crm, ctx, req).map_err(DispatchError::Crm)?;
            serde_json::to_value(resp).map_err(|e| DispatchError::BadRequest {
                field: None,
                message: format!("the response could not be encoded: {e}"),
            })
        });
        self.methods.insert(name, Method { access, run });
    }

    /// The method names with their access, sorted.
    pub fn methods(&self) -> Vec<(&'static str, Access)> {
        self.methods.iter().map(|(n, m)| (*n, m.access)).collect()
    }

    /// Whether `method` reads or writes; `None` for an unknown method.
    pub fn access(&self, method: &str) -> Option<Access> {
        self.methods.get(method).map(|m| m.access)
    }

    /// Runs `method` with `input` (a JSON document; empty means `{}`) as `ctx`, provided
    /// `allowed` says the capability it needs is granted.
    pub fn dispatch(
        &self,
        crm: &Crm,
        ctx: &Ctx,
        allowed: impl Fn(&str) -> bool,
        method: &str,
        input: &[u8],
    ) -> Result<Value, DispatchError> {
        let m = self
            .methods
            .get(method)
            .ok_or_else(|| DispatchError::UnknownMethod(method.to_string()))?;
        let cap = m.access.capability();
        if !allowed(cap) {
            return Err(DispatchError::CapabilityDenied(format!(
                "{method} needs the {cap} capability, which the plugin's manifest does not request"
            )));
        }
        (m.run)(crm, ctx, input)
    }
}

fn decode<T: DeserializeOwned>(input: &[u8]) -> Result<T, DispatchError> {
    let input: &[u8] = if input.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        input
    };
    let mut de = serde_json::Deserializer::from_slice(input);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        DispatchError::BadRequest {
            field: (path != "." && !inner.is_syntax() && !inner.is_eof()).then_some(path),
            message: if inner.is_syntax() || inner.is_eof() {
                format!("invalid JSON: {inner}")
            } else {
                inner.to_string()
            },
        }
    })?;
    de.end().map_err(|e| DispatchError::BadRequest {
        field: None,
        message: format!("invalid JSON: {e}"),
    })?;
    Ok(value)
}
