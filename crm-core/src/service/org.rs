//! Administering the organisation: departments, users, roles, role assignments, forbid rules,
//! and `explain`. Changes need an administrator (or the system context) and bump the ACL
//! version in the same transaction, so no cached plan outlives them.

use crate::access::{self, Action, EntityType, Explanation, Grant, RecordAcl, UserAccess};
use crate::crm::{Access, Crm, WriteCx};
use crate::error::{CrmError, Result};
use crate::ids::{ClientId, DepartmentId, ForbidId, RoleAssignmentId, RoleId, UserId};
use crate::model::{
    normalize, require_text, validate_email_address, Department, Forbid, ForbidSubject,
    ForbidTarget, NewDepartment, NewUser, Role, RoleAssignment, RoleSubject, User,
};
use crate::store::{clients, org};
use crate::Ctx;
use serde_json::json;

fn department_must_exist(cx: &WriteCx<'_>, id: DepartmentId, field: &str) -> Result<Department> {
    org::department(cx.tx, id)?
        .ok_or_else(|| CrmError::invalid(field, format!("no department {id}")))
}

fn user_must_exist(cx: &WriteCx<'_>, id: UserId, field: &str) -> Result<User> {
    org::user(cx.tx, id)?.ok_or_else(|| CrmError::invalid(field, format!("no user {id}")))
}

fn role_must_exist(cx: &WriteCx<'_>, id: RoleId, field: &str) -> Result<Role> {
    org::role(cx.tx, id)?.ok_or_else(|| CrmError::invalid(field, format!("no role {id}")))
}

fn validate_grants(grants: &[Grant]) -> Result<()> {
    for (i, g) in grants.iter().enumerate() {
        if grants[..i]
            .iter()
            .any(|o| o.entity == g.entity && o.action == g.action)
        {
            return Err(CrmError::invalid(
                format!("grants[{i}]"),
                format!("duplicate cell {}/{}", g.entity, g.action),
            ));
        }
    }
    Ok(())
}

impl Crm {
    // ---- departments ----

    /// Creates a department under `parent_id` (or a root).
    pub fn create_department(&self, ctx: &Ctx, new: &NewDepartment) -> Result<Department> {
        self.write(ctx, |cx| {
            cx.require_admin("create_department")?;
            let name = require_text("name", &new.name, 200)?;
            if let Some(p) = new.parent_id {
                department_must_exist(cx, p, "parent_id")?;
            }
            let id = org::insert_department(cx.tx, &name, new.parent_id)?;
            org::bump_acl_version(cx.tx)?;
            cx.audit(
                "department.create",
                "department",
                Some(id.0),
                &json!({"name": [null, name], "parent_id": [null, new.parent_id]}),
            )?;
            Ok(Department {
                id,
                name,
                parent_id: new.parent_id,
                head_user_id: None,
            })
        })
    }

    /// Renames a department.
    pub fn rename_department(&self, ctx: &Ctx, id: DepartmentId, name: &str) -> Result<()> {
        self.write(ctx, |cx| {
            cx.require_admin("rename_department")?;
            let old = department_must_exist(cx, id, "id")?;
            let name = require_text("name", name, 200)?;
            org::rename_department(cx.tx, id, &name)?;
            cx.audit(
                "department.update",
                "department",
                Some(id.0),
                &json!({"name": [old.name, name]}),
            )
        })
    }

    /// Moves a department (with its subtree) under another parent, or to the root. A move under
    /// itself or one of its descendants is refused with a `Constraint` error.
    pub fn move_department(
        &self,
        ctx: &Ctx,
        id: DepartmentId,
        new_parent: Option<DepartmentId>,
    ) -> Result<()> {
        self.write(ctx, |cx| {
            cx.require_admin("move_department")?;
            let old = department_must_exist(cx, id, "id")?;
            if let Some(p) = new_parent {
                department_must_exist(cx, p, "parent_id")?;
                if org::is_within(cx.tx, p, id)? {
                    return Err(CrmError::Constraint {
                        entity: "department",
                        id: id.0,
                        message: format!("moving it under department {p} would make a cycle"),
                    });
                }
            }
            org::reparent_department(cx.tx, id, new_parent)?;
            org::bump_acl_version(cx.tx)?;
            cx.audit(
                "department.move",
                "department",
                Some(id.0),
                &json!({"parent_id": [old.parent_id, new_parent]}),
            )
        })
    }

    /// Sets (or with `None` clears) the head of a department. The head gets the department's
    /// head roles and the "Department" level over it.
    pub fn set_department_head(
        &self,
        ctx: &Ctx,
        id: DepartmentId,
        head: Option<UserId>,
    ) -> Result<()> {
        self.write(ctx, |cx| {
            cx.require_admin("set_department_head")?;
            let old = department_must_exist(cx, id, "id")?;
            if let Some(u) = head {
                user_must_exist(cx, u, "head_user_id")?;
            }
            org::set_department_head(cx.tx, id, head)?;
            org::bump_acl_version(cx.tx)?;
            cx.audit(
                "department.set_head",
                "department",
                Some(id.0),
                &json!({"head_user_id": [old.head_user_id, head]}),
            )
        })
    }

    /// Deletes a department that has no sub-departments, members or records, together with the
    /// role assignments and forbid rules that name it.
    pub fn delete_department(&self, ctx: &Ctx, id: DepartmentId) -> Result<()> {
        self.write(ctx, |cx| {
            cx.require_admin("delete_department")?;
            let old = department_must_exist(cx, id, "id")?;
            let (children, members, records) = org::department_usage(cx.tx, id)?;
            if children + members + records > 0 {
                return Err(CrmError::Constraint {
                    entity: "department",
                    id: id.0,
                    message: format!("still has {children} sub-departments, {members} members and {records} records"),
                });
            }
            org::delete_department(cx.tx, id)?;
            org::bump_acl_version(cx.tx)?;
            cx.audit("department.delete", "department", Some(id.0), &json!({"name": [old.name, null]}))
        })
    }

    /// Every department. The organisation chart is visible to every active user.
    pub fn departments(&self, ctx: &Ctx) -> Result<Vec<Department>> {
        self.read(ctx, |c, _| org::departments(c))
    }

    // ---- users ----

    /// Creates a user in a department.
    pub fn create_user(&self, ctx: &Ctx, new: &NewUser) -> Result<User> {
        self.write(ctx, |cx| {
            cx.require_admin("create_user")?;
            let name = require_text("name", &new.name, 200)?;
            let email = validate_email_address("email", &new.email)?;
            let key = normalize::email_key(&email);
            if org::user_email_taken(cx.tx, &key, None)? {
                return Err(CrmError::invalid(
                    "email",
                    format!("{email} is already used by another user"),
                ));
            }
            department_must_exist(cx, new.department_id, "department_id")?;
            let id = org::insert_user(
                cx.tx,
                &name,
                &email,
                &key,
                new.department_id,
                new.admin,
                cx.now,
            )?;
            org::bump_acl_version(cx.tx)?;
            let user = User {
                id,
                name,
                email,
                department_id: new.department_id,
                active: true,
                admin: new.admin,
            };
            cx.audit(
                "user.create",
                "user",
                Some(id.0),
                &json!({"user": [null, &user]}),
            )?;
            Ok(user)
        })
    }

    /// A user by id.
    pub fn user(&self, ctx: &Ctx, id: UserId) -> Result<User> {
        self.read(ctx, |c, _| {
            org::user(c, id)?.ok_or(CrmError::NotFound {
                entity: "user",
                id: id.0,
            })
        })
    }

    /// Every user.
    pub fn users(&self, ctx: &Ctx) -> Result<Vec<User>> {
        self.read(ctx, |c, _| org::users(c))
    }

    /// Deactivates (`false`) or reactivates (`true`) a user. A deactivated user loses all access
    /// at once: every call acting as them fails with `InactiveUser`.
    pub fn set_user_active(&self, ctx: &Ctx, id: UserId, active: bool) -> Result<()> {
        self.write(ctx, |cx| {
            cx.require_admin("set_user_active")?;
            let old = user_must_exist(cx, id, "id")?;
            org::set_user_active(cx.tx, id, active)?;
            org::bump_acl_version(cx.tx)?;
            cx.audit(
                "user.set_active",
                "user",
                Some(id.0),
                &json!({"active": [old.active, active]}),
            )
        })
    }

    /// Grants or revokes the administrator flag.
    pub fn set_user_admin(&self, ctx: &Ctx, id: UserId, admin: bool) -> Result<()> {
        self.write(ctx, |cx| {
            cx.require_admin("set_user_admin")?;
            let old = user_must_exist(cx, id, "id")?;
            org::set_user_admin(cx.tx, id, admin)?;
            org::bump_acl_version(cx.tx)?;
            cx.audit(
                "user.set_admin",
                "user",
                Some(id.0),
                &json!({"admin": [old.admin, admin]}),
            )
        })
    }

    /// Moves a user to another department. Every record the user owns is re-stamped with the new
    /// department in the same transaction; returns how many were.
    pub fn move_user(&self, ctx: &Ctx, id: UserId, department: DepartmentId) -> Result<usize> {
        self.write(ctx, |cx| {
            cx.require_admin("move_user")?;
            let old = user_must_exist(cx, id, "id")?;
            department_must_exist(cx, department, "department_id")?;
            let restamped = org::move_user(cx.tx, id, department)?;
            org::bump_acl_version(cx.tx)?;
            cx.audit(
                "user.move",
                "user",
                Some(id.0),
                &json!({"department_id": [old.department_id, department], "restamped_records": restamped}),
            )?;
            Ok(restamped)
        })
    }

    // ---- roles ----

    /// Creates a role with its grants.
    pub fn create_role(&self, ctx: &Ctx, name: &str, grants: &[Grant]) -> Result<Role> {
        self.write(ctx, |cx| {
            cx.require_admin("create_role")?;
            let name = require_text("name", name, 200)?;
            validate_grants(grants)?;
            if org::role_name_taken(cx.tx, &name, None)? {
                return Err(CrmError::invalid(
                    "name",
                    format!("a role named {name:?} exists"),
                ));
            }
            let id = org::insert_role(cx.tx, &name)?;
            org::set_role_grants(cx.tx, id, grants)?;
            org::bump_acl_version(cx.tx)?;
            cx.audit(
                "role.create",
                "role",
                Some(id.0),
                &json!({"name": [null, name], "grants": [null, grants]}),
            )?;
            Ok(Role {
                id,
                name,
                grants: grants.to_vec(),
            })
        })
    }

    /// Replaces the grants of a role; takes effect for every holder at once.
    pub fn set_role_grants(&self, ctx: &Ctx, id: RoleId, grants: &[Grant]) -> Result<()> {
        self.write(ctx, |cx| {
            cx.require_admin("set_role_grants")?;
            let old = role_must_exist(cx, id, "id")?;
            validate_grants(grants)?;
            org::set_role_grants(cx.tx, id, grants)?;
            org::bump_acl_version(cx.tx)?;
            cx.audit(
                "role.update",
                "role",
                Some(id.0),
                &json!({"grants": [old.grants, grants]}),
            )
        })
    }

    /// Deletes a role, its assignments and the forbid rules that name it.
    pub fn delete_role(&self, ctx: &Ctx, id: RoleId) -> Result<()> {
        self.write(ctx, |cx| {
            cx.require_admin("delete_role")?;
            let old = role_must_exist(cx, id, "id")?;
            org::delete_role(cx.tx, id)?;
            org::bump_acl_version(cx.tx)?;
            cx.audit(
                "role.delete",
                "role",
                Some(id.0),
                &json!({"name": [old.name, null]}),
            )
        })
    }

    /// Every role.
    pub fn roles(&self, ctx: &Ctx) -> Result<Vec<Role>> {
        self.read(ctx, |c, _| org::roles(c))
    }

    /// Assigns a role to a user, a department's members, or a department's head. Assigning the
    /// same role to the same subject twice returns the existing assignment.
    pub fn assign_role(
        &self,
        ctx: &Ctx,
        role: RoleId,
        subject: &RoleSubject,
    ) -> Result<RoleAssignmentId> {
        self.write(ctx, |cx| {
            cx.require_admin("assign_role")?;
            role_must_exist(cx, role, "role_id")?;
            match *subject {
                RoleSubject::User { user_id } => {
                    drop(user_must_exist(cx, user_id, "subject.user_id")?)
                }
                RoleSubject::Department { department_id, .. }
                | RoleSubject::HeadOf { department_id } => drop(department_must_exist(
                    cx,
                    department_id,
                    "subject.department_id",
                )?),
            }
            let id = org::insert_assignment(cx.tx, role, subject)?;
            org::bump_acl_version(cx.tx)?;
            cx.audit(
                "role.assign",
                "role",
                Some(role.0),
                &json!({"assignment": [null, {"id": id, "subject": subject}]}),
            )?;
            Ok(id)
        })
    }

    /// Removes a role assignment.
    pub fn unassign_role(&self, ctx: &Ctx, id: RoleAssignmentId) -> Result<()> {
        self.write(ctx, |cx| {
            cx.require_admin("unassign_role")?;
            if !org::delete_assignment(cx.tx, id)? {
                return Err(CrmError::NotFound {
                    entity: "role_assignment",
                    id: id.0,
                });
            }
            org::bump_acl_version(cx.tx)?;
            cx.audit("role.unassign", "role_assignment", Some(id.0), &json!({}))
        })
    }

    /// Every role assignment.
    pub fn role_assignments(&self, ctx: &Ctx) -> Result<Vec<RoleAssignment>> {
        self.read(ctx, |c, _| org::assignments(c, None))
    }

    // ---- forbids ----

    /// Adds a forbid rule. Forbids always win over grants.
    pub fn add_forbid(&self, ctx: &Ctx, rule: &Forbid) -> Result<ForbidId> {
        self.write(ctx, |cx| {
            cx.require_admin("add_forbid")?;
            match rule.subject {
                ForbidSubject::User { user_id } => {
                    drop(user_must_exist(cx, user_id, "subject.user_id")?)
                }
                ForbidSubject::Department { department_id, .. } => drop(department_must_exist(
                    cx,
                    department_id,
                    "subject.department_id",
                )?),
                ForbidSubject::Role { role_id } => {
                    drop(role_must_exist(cx, role_id, "subject.role_id")?)
                }
            }
            if let ForbidTarget::Department { department_id }
            | ForbidTarget::DepartmentTree { department_id } = rule.target
            {
                department_must_exist(cx, department_id, "target.department_id")?;
            }
            let id = org::insert_forbid(cx.tx, rule)?;
            org::bump_acl_version(cx.tx)?;
            let stored = Forbid { id, ..rule.clone() };
            cx.audit(
                "forbid.create",
                "forbid",
                Some(id.0),
                &json!({"rule": [null, stored]}),
            )?;
            Ok(id)
        })
    }

    /// Removes a forbid rule.
    pub fn remove_forbid(&self, ctx: &Ctx, id: ForbidId) -> Result<()> {
        self.write(ctx, |cx| {
            cx.require_admin("remove_forbid")?;
            if !org::delete_forbid(cx.tx, id)? {
                return Err(CrmError::NotFound {
                    entity: "forbid",
                    id: id.0,
                });
            }
            org::bump_acl_version(cx.tx)?;
            cx.audit("forbid.delete", "forbid", Some(id.0), &json!({}))
        })
    }

    /// Every forbid rule.
    pub fn forbids(&self, ctx: &Ctx) -> Result<Vec<Forbid>> {
        self.read(ctx, |c, _| org::forbids(c))
    }

    // ---- explain ----

    /// Says whether `user` may perform `action` on a client, and which grant allowed it or which
    /// rule denied it. An administrator (or the system context) may ask about any user; a user may
    /// ask only about themselves and only for records they can read (otherwise `NotFound`, so
    /// explain cannot be used to probe ids). See [`Crm::explain_record`] for deals and activities.
    pub fn explain(
        &self,
        ctx: &Ctx,
        user: UserId,
        action: Action,
        client: ClientId,
    ) -> Result<Explanation> {
        self.explain_record(ctx, user, EntityType::Client, action, client.0)
    }

    /// [`Crm::explain`] for a record of any entity type.
    pub fn explain_record(
        &self,
        ctx: &Ctx,
        user: UserId,
        entity: EntityType,
        action: Action,
        id: i64,
    ) -> Result<Explanation> {
        self.read(ctx, |c, access| {
            let is_self = ctx.user_id() == Some(user);
            if !access.is_admin() && !is_self {
                return Err(CrmError::AdminRequired {
                    operation: "explain",
                });
            }
            let not_found = CrmError::NotFound {
                entity: entity.as_str(),
                id,
            };
            let acl = record_acl(c, entity, id)?.ok_or(not_found)?;
            if !access.is_admin() && !access.plan(entity, Action::Read).allows(&acl) {
                return Err(CrmError::NotFound {
                    entity: entity.as_str(),
                    id,
                });
            }
            let subject = org::user(c, user)?.ok_or(CrmError::NotFound {
                entity: "user",
                id: user.0,
            })?;
            let compiled = UserAccess::compile(&org::acl_snapshot(c, subject)?);
            Ok(access::explain(&compiled, entity, action, &acl))
        })
    }

    /// Whether the acting context may perform `action` on a client (`NotFound` when it may not
    /// even read it).
    pub fn can(&self, ctx: &Ctx, action: Action, client: ClientId) -> Result<bool> {
        self.can_record(ctx, EntityType::Client, action, client.0)
    }

    /// [`Crm::can`] for a record of any entity type.
    pub fn can_record(
        &self,
        ctx: &Ctx,
        entity: EntityType,
        action: Action,
        id: i64,
    ) -> Result<bool> {
        self.read(ctx, |c, access| {
            let acl = self.check_read(access, entity, id, record_acl(c, entity, id)?)?;
            Ok(access.plan(entity, action).allows(&acl))
        })
    }
}

impl Crm {
    /// The permission attributes of a client the actor may read (see [`Crm::check_read`]).
    pub(crate) fn readable_client(
        &self,
        c: &rusqlite::Connection,
        access: &Access,
        id: ClientId,
    ) -> Result<RecordAcl> {
        let acl = clients::acl(c, id)?.map(|(acl, _)| acl);
        self.check_read(access, EntityType::Client, id.0, acl)
    }
}

/// The permission attributes of any record.
pub(crate) fn record_acl(
    c: &rusqlite::Connection,
    entity: EntityType,
    id: i64,
) -> Result<Option<RecordAcl>> {
    match entity {
        EntityType::Client => Ok(clients::acl(c, ClientId(id))?.map(|(a, _)| a)),
        EntityType::Deal => crate::store::deals::acl(c, crate::ids::DealId(id)),
        EntityType::Activity => crate::store::activities::acl(c, crate::ids::ActivityId(id)),
    }
}
