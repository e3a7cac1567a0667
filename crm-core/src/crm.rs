//! [`Crm`], the handle to one database, and the machinery every call shares: resolving the
//! acting context to compiled rights, running reads and writes, and auditing.

use crate::access::{AccessPlan, Action, EntityType, RecordAcl, Scope, UserAccess};
use crate::context::{Actor, Ctx};
use crate::error::{CrmError, Result};
use crate::ids::UserId;
use crate::store::{self, audit, lock, OpenOptions, Pool};
use rusqlite::Connection;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

mod backlog;

/// A CRM database. `Send + Sync`: share one `Crm` (e.g. in an `Arc`) between threads; reads run
/// in parallel on pooled connections, writes are serialised.
pub struct Crm {
    pool: Pool,
    options: OpenOptions,
    /// Compiled rights per user, valid while the database's ACL version is unchanged.
    acl_cache: Mutex<HashMap<UserId, (i64, Arc<UserAccess>)>>,
}

/// The acting context resolved against the database.
#[derive(Clone, Debug)]
pub(crate) enum Access {
    /// The audited system context: everything is allowed.
    System,
    /// An active user's compiled rights.
    User(Arc<UserAccess>),
}

impl Access {
    /// The plan for (entity, action).
    pub fn plan(&self, entity: EntityType, action: Action) -> AccessPlan {
        match self {
            Access::System => AccessPlan {
                scope: Scope::All,
                level: crate::access::AccessLevel::All,
                ..AccessPlan::nothing(entity, action)
            },
            Access::User(u) => u.plan(entity, action),
        }
    }

    /// Whether this is an administrator or the system context.
    pub fn is_admin(&self) -> bool {
        match self {
            Access::System => true,
            Access::User(u) => u.admin,
        }
    }
}

/// A denied write, remembered so it can be audited after its transaction rolled back.
#[derive(Clone, Debug)]
pub(crate) struct Denial {
    pub action: String,
    pub entity: &'static str,
    pub id: Option<i64>,
    pub reason: String,
}

/// What a write closure gets: the transaction, the actor's rights, and a place to note denials.
pub(crate) struct WriteCx<'a> {
    pub tx: &'a Connection,
    pub access: Access,
    pub ctx: &'a Ctx,
    pub now: i64,
    denial: RefCell<Option<Denial>>,
    hide_denied: bool,
    /// Search documents and keys a bulk job defers.
    backlog: backlog::Backlog,
}

impl WriteCx<'_> {
    /// Checks `action` on a record: `Ok` when allowed; otherwise notes the denial for the audit
    /// log and returns `PermissionDenied`, or `NotFound` when the user may not even read it.
    pub fn check(
        &self,
        entity: EntityType,
        action: Action,
        id: i64,
        acl: &RecordAcl,
    ) -> Result<()> {
        if self.access.plan(entity, action).allows(acl) {
            return Ok(());
        }
        let readable = self.access.plan(entity, Action::Read).allows(acl);
        Err(self.deny(
            entity,
            action,
            Some(id),
            readable,
            "no grant reaches the record",
        ))
    }

    /// Notes a denial and returns the error the caller sees.
    pub fn deny(
        &self,
        entity: EntityType,
        action: Action,
        id: Option<i64>,
        readable: bool,
        reason: &str,
    ) -> CrmError {
        *self.denial.borrow_mut() = Some(Denial {
            action: format!("{entity}.{action}"),
            entity: entity.as_str(),
            id,
            reason: reason.to_string(),
        });
        match id {
            Some(id) if !readable && self.hide_denied => CrmError::NotFound {
                entity: entity.as_str(),
                id,
            },
            _ => CrmError::PermissionDenied { action, entity, id },
        }
    }

    /// Forgets a noted denial (a bulk job reports row denials in its own report).
    pub fn clear_denial(&self) {
        self.denial.borrow_mut().take();
    }

    /// Refuses the call unless the actor is an administrator (or the system context).
    pub fn require_admin(&self, operation: &'static str) -> Result<()> {
        if self.access.is_admin() {
            return Ok(());
        }
        Err(self.refuse(operation, "administrator required"))
    }

    /// Refuses an operation that needs more than the actor has: notes the denial for the
    /// audit log and returns `AdminRequired`.
    pub fn refuse(&self, operation: &'static str, reason: &str) -> CrmError {
        *self.denial.borrow_mut() = Some(Denial {
            action: operation.to_string(),
            entity: "organization",
            id: None,
            reason: reason.into(),
        });
        CrmError::AdminRequired { operation }
    }

    /// Appends a successful change to the audit log, in this transaction.
    pub fn audit(
        &self,
        action: &str,
        entity: &str,
        id: Option<i64>,
        detail: &serde_json::Value,
    ) -> Result<()> {
        append_audit(
            self.tx,
            self.ctx,
            self.now,
            action,
            entity,
            id,
            "ok",
            &detail.to_string(),
        )
    }

    /// Records a change to a client, deal or activity: the audit entry and the outbox event,
    /// both in this transaction. `acl` is the record's permission attributes after the change
    /// (before it, for a delete), so consumers see only events of records they may read.
    pub fn changed(
        &self,
        action: &str,
        entity: EntityType,
        id: i64,
        acl: &RecordAcl,
        diff: &serde_json::Value,
    ) -> Result<()> {
        self.audit(action, entity.as_str(), Some(id), diff)?;
        self.emit(action, entity, id, acl, diff)
    }

    /// Writes the outbox event of a change (without an audit entry: bulk jobs audit once).
    pub fn emit(
        &self,
        action: &str,
        entity: EntityType,
        id: i64,
        acl: &RecordAcl,
        diff: &serde_json::Value,
    ) -> Result<()> {
        let payload = serde_json::json!({ "actor": self.ctx.actor(), "changes": diff });
        store::outbox::append(
            self.tx,
            self.now,
            action,
            entity.as_str(),
            id,
            acl,
            &payload.to_string(),
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn append_audit(
    c: &Connection,
    ctx: &Ctx,
    now: i64,
    action: &str,
    entity: &str,
    id: Option<i64>,
    outcome: &str,
    detail: &str,
) -> Result<()> {
    let (kind, actor_id, note) = match ctx.actor() {
        Actor::User { user_id } => ("user", Some(user_id.0), None),
        Actor::System { reason } => ("system", None, Some(reason.as_str())),
    };
    audit::append(
        c,
        &audit::NewAuditEntry {
            at_ms: now,
            actor_kind: kind,
            actor_id,
            actor_note: note,
            action,
            entity,
            entity_id: id,
            outcome,
            detail,
        },
    )?;
    Ok(())
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Crm {
    /// Opens the database at `path` with default options, creating and migrating it as needed.
    ///
    /// ```
    /// # fn main() -> crm_core::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let crm = crm_core::Crm::open(dir.path().join("crm.db"))?;
    /// let sys = crm.system_context("doc example")?;
    /// assert!(crm.departments(&sys)?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Crm> {
        Self::open_with(path, OpenOptions::default())
    }

    /// Opens the database at `path` with `options`.
    pub fn open_with(path: impl AsRef<Path>, options: OpenOptions) -> Result<Crm> {
        // Each pooled connection would open its own private in-memory database.
        let text = path.as_ref().to_string_lossy();
        if text.trim().is_empty() || text.contains(":memory:") || text.contains("mode=memory") {
            return Err(CrmError::invalid(
                "path",
                "needs a file: an in-memory database cannot be shared by the connection pool",
            ));
        }
        Ok(Crm {
            pool: Pool::open(path.as_ref(), options.clone())?,
            options,
            acl_cache: Mutex::new(HashMap::new()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.pool.path()
    }

    /// A context acting as `user`. Fails with `NotFound` for an unknown user; a deactivated
    /// user gets a context, but every call with it fails with `InactiveUser`.
    pub fn user_context(&self, user: UserId) -> Result<Ctx> {
        self.pool.read(|c| match store::org::user(c, user)? {
            Some(_) => Ok(Ctx::new(Actor::User { user_id: user })),
            None => Err(CrmError::NotFound {
                entity: "user",
                id: user.0,
            }),
        })
    }

    /// The system context, for bootstrap and maintenance by the host. Opening it is audited, and
    /// every change made with it is audited with `reason`.
    pub fn system_context(&self, reason: &str) -> Result<Ctx> {
        let reason = crate::model::require_text("reason", reason, 200)?;
        let ctx = Ctx::new(Actor::System { reason });
        self.pool.write(|tx| {
            append_audit(
                tx,
                &ctx,
                now_ms(),
                "system_context.open",
                "system",
                None,
                "ok",
                "{}",
            )
        })?;
        Ok(ctx)
    }

    /// Resolves `ctx` to compiled rights, from the cache when the ACL version is unchanged.
    pub(crate) fn access(&self, c: &Connection, ctx: &Ctx) -> Result<Access> {
        let user_id = match ctx.actor() {
            Actor::System { .. } => return Ok(Access::System),
            Actor::User { user_id } => *user_id,
        };
        let version = store::org::acl_version(c)?;
        if let Some((v, a)) = lock(&self.acl_cache).get(&user_id) {
            if *v == version {
                return ensure_active(a.clone());
            }
        }
        let user = store::org::user(c, user_id)?.ok_or(CrmError::NotFound {
            entity: "user",
            id: user_id.0,
        })?;
        let compiled = Arc::new(UserAccess::compile(&store::org::acl_snapshot(c, user)?));
        lock(&self.acl_cache).insert(user_id, (version, compiled.clone()));
        ensure_active(compiled)
    }

    /// The actor's read decision on one record whose permission attributes are `acl` (`None`
    /// when it does not exist): `Ok` when readable; otherwise `NotFound`, or `PermissionDenied`
    /// for an existing record when `hide_denied_records` is off.
    pub(crate) fn check_read(
        &self,
        access: &Access,
        entity: EntityType,
        id: i64,
        acl: Option<RecordAcl>,
    ) -> Result<RecordAcl> {
        match acl {
            Some(acl) if access.plan(entity, Action::Read).allows(&acl) => Ok(acl),
            Some(_) if !self.options.hide_denied_records => Err(CrmError::PermissionDenied {
                action: Action::Read,
                entity,
                id: Some(id),
            }),
            _ => Err(CrmError::NotFound {
                entity: entity.as_str(),
                id,
            }),
        }
    }

    /// Runs `f` on the writer connection outside any transaction (restore), holding the write
    /// lock throughout.
    pub(crate) fn pool_writer<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        self.pool.with_writer(f)
    }

    /// Drops every cached compiled access (after the whole database changed underneath).
    pub(crate) fn forget_cached_access(&self) {
        lock(&self.acl_cache).clear();
    }

    /// Runs a read with the actor's rights, on one consistent snapshot.
    pub(crate) fn read<T>(
        &self,
        ctx: &Ctx,
        f: impl FnOnce(&Connection, &Access) -> Result<T>,
    ) -> Result<T> {
        self.pool.read(|tx| {
            let access = self.access(tx, ctx)?;
            f(tx, &access)
        })
    }

    /// Runs a write with the actor's rights in one transaction. A denial noted by the closure is
    /// appended to the audit log in a transaction of its own after the write rolled back.
    pub(crate) fn write<T>(
        &self,
        ctx: &Ctx,
        f: impl FnOnce(&WriteCx<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut denial = None;
        let now = now_ms();
        let out = self.pool.write(|tx| {
            let cx = WriteCx {
                tx,
                access: self.access(tx, ctx)?,
                ctx,
                now,
                denial: RefCell::new(None),
                hide_denied: self.options.hide_denied_records,
                backlog: backlog::Backlog::default(),
            };
            let out = f(&cx);
            denial = cx.denial.into_inner();
            out
        });
        if let (Err(_), Some(d)) = (&out, denial) {
            let detail = serde_json::json!({ "reason": d.reason }).to_string();
            self.pool.write(|tx| {
                append_audit(tx, ctx, now, &d.action, d.entity, d.id, "denied", &detail)
            })?;
        }
        out
    }
}

fn ensure_active(a: Arc<UserAccess>) -> Result<Access> {
    if a.active {
        Ok(Access::User(a))
    } else {
        Err(CrmError::InactiveUser(a.user_id.0))
    }
}

// Compile-time proof of the thread-safety promise.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Crm>();
};
