//! SQL for the organisation: departments (with their closure table), users, roles, role
//! assignments, forbid rules and the ACL version.

use crate::access::{AccessLevel, AclSnapshot, Action, DeptTree, EntityType, Grant};
use crate::error::{CrmError, Result};
use crate::ids::{DepartmentId, ForbidId, RoleAssignmentId, RoleId, UserId};
use crate::model::{
    Department, Forbid, ForbidSubject, ForbidTarget, Role, RoleAssignment, RoleSubject, User,
};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::HashMap;

/// Marks every cached access plan stale. Called by every change that can alter rights.
pub fn bump_acl_version(c: &Connection) -> Result<()> {
    c.execute(
        "UPDATE meta SET value = value + 1 WHERE key = 'acl_version'",
        [],
    )?;
    Ok(())
}

/// Raises the ACL version to at least `at_least` (and by at least one).
pub fn raise_acl_version(c: &Connection, at_least: i64) -> Result<()> {
    c.execute(
        "UPDATE meta SET value = max(value + 1, ?) WHERE key = 'acl_version'",
        [at_least],
    )?;
    Ok(())
}

/// The current ACL version.
pub fn acl_version(c: &Connection) -> Result<i64> {
    Ok(
        c.prepare_cached("SELECT value FROM meta WHERE key = 'acl_version'")?
            .query_row([], |r| r.get(0))?,
    )
}

// ---- departments ----

fn department_from_row(r: &Row<'_>) -> rusqlite::Result<Department> {
    Ok(Department {
        id: r.get(0)?,
        name: r.get(1)?,
        parent_id: r.get(2)?,
        head_user_id: r.get(3)?,
    })
}

/// A department by id.
pub fn department(c: &Connection, id: DepartmentId) -> Result<Option<Department>> {
    Ok(
        c.prepare_cached("SELECT id, name, parent_id, head_user_id FROM departments WHERE id = ?")?
            .query_row([id], department_from_row)
            .optional()?,
    )
}

/// Every department, parents before children is not guaranteed; ordered by id.
pub fn departments(c: &Connection) -> Result<Vec<Department>> {
    let mut st =
        c.prepare_cached("SELECT id, name, parent_id, head_user_id FROM departments ORDER BY id")?;
    let rows = st.query_map([], department_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Inserts a department and its closure rows.
pub fn insert_department(
    c: &Connection,
    name: &str,
    parent: Option<DepartmentId>,
) -> Result<DepartmentId> {
    c.execute(
        "INSERT INTO departments (name, parent_id) VALUES (?, ?)",
        params![name, parent],
    )?;
    let id = DepartmentId(c.last_insert_rowid());
    c.execute(
        "INSERT INTO department_closure (ancestor, descendant, depth) VALUES (?1, ?1, 0)",
        [id],
    )?;
    if let Some(p) = parent {
        c.execute(
            "INSERT INTO department_closure (ancestor, descendant, depth)
             SELECT ancestor, ?1, depth + 1 FROM department_closure WHERE descendant = ?2",
            params![id, p],
        )?;
    }
    Ok(id)
}

/// Whether `d` is `ancestor` or lies below it.
pub fn is_within(c: &Connection, d: DepartmentId, ancestor: DepartmentId) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT 1 FROM department_closure WHERE ancestor = ? AND descendant = ?")?
            .exists(params![ancestor, d])?,
    )
}

/// Moves the subtree rooted at `id` under `new_parent` (the caller has checked for cycles).
pub fn reparent_department(
    c: &Connection,
    id: DepartmentId,
    new_parent: Option<DepartmentId>,
) -> Result<()> {
    // Standard closure-table move: cut the subtree from its old ancestors, link it to the new ones.
    c.execute(
        "DELETE FROM department_closure
         WHERE descendant IN (SELECT descendant FROM department_closure WHERE ancestor = ?1)
           AND ancestor NOT IN (SELECT descendant FROM department_closure WHERE ancestor = ?1)",
        [id],
    )?;
    if let Some(p) = new_parent {
        c.execute(
            "INSERT INTO department_closure (ancestor, descendant, depth)
             SELECT up.ancestor, down.descendant, up.depth + down.depth + 1
             FROM department_closure up, department_closure down
             WHERE up.descendant = ?1 AND down.ancestor = ?2",
            params![p, id],
        )?;
    }
    c.execute(
        "UPDATE departments SET parent_id = ? WHERE id = ?",
        params![new_parent, id],
    )?;
    Ok(())
}

/// Renames a department.
pub fn rename_department(c: &Connection, id: DepartmentId, name: &str) -> Result<()> {
    c.execute(
        "UPDATE departments SET name = ? WHERE id = ?",
        params![name, id],
    )?;
    Ok(())
}

/// Sets or clears the head of a department.
pub fn set_department_head(c: &Connection, id: DepartmentId, head: Option<UserId>) -> Result<()> {
    c.execute(
        "UPDATE departments SET head_user_id = ? WHERE id = ?",
        params![head, id],
    )?;
    Ok(())
}

/// Deletes an empty department (the caller checked it has no members, children or records).
pub fn delete_department(c: &Connection, id: DepartmentId) -> Result<()> {
    c.execute("DELETE FROM department_closure WHERE descendant = ?", [id])?;
    c.execute("DELETE FROM role_assignments WHERE subject_kind IN ('department', 'head') AND subject_id = ?", [id])?;
    c.execute(
        "DELETE FROM forbid_rules WHERE (subject_kind = 'department' AND subject_id = ?1)
            OR (target_kind IN ('department', 'department_tree') AND target_id = ?1)",
        [id],
    )?;
    c.execute("DELETE FROM departments WHERE id = ?", [id])?;
    Ok(())
}

/// What still uses a department: (child departments, members, stamped records).
pub fn department_usage(c: &Connection, id: DepartmentId) -> Result<(i64, i64, i64)> {
    Ok(c.query_row(
        "SELECT (SELECT count(*) FROM departments WHERE parent_id = ?1),
                (SELECT count(*) FROM users WHERE dept_id = ?1),
                (SELECT count(*) FROM clients WHERE dept_id = ?1)
                + (SELECT count(*) FROM deals WHERE dept_id = ?1)
                + (SELECT count(*) FROM activities WHERE dept_id = ?1)",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

// ---- users ----

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        email: r.get(2)?,
        department_id: r.get(3)?,
        active: r.get(4)?,
        admin: r.get(5)?,
    })
}

const USER_COLUMNS: &str = "id, name, email, dept_id, active, admin";

/// A user by id.
pub fn user(c: &Connection, id: UserId) -> Result<Option<User>> {
    Ok(
        c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))?
            .query_row([id], user_from_row)
            .optional()?,
    )
}

/// Every user, by id.
pub fn users(c: &Connection) -> Result<Vec<User>> {
    let mut st = c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))?;
    let rows = st.query_map([], user_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether another user already has this e-mail key.
pub fn user_email_taken(c: &Connection, email_key: &str, except: Option<UserId>) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT 1 FROM users WHERE email_key = ? AND id IS NOT ?")?
            .exists(params![email_key, except])?,
    )
}

/// Inserts a user.
pub fn insert_user(
    c: &Connection,
    name: &str,
    email: &str,
    email_key: &str,
    dept: DepartmentId,
    admin: bool,
    now: i64,
) -> Result<UserId> {
    c.execute(
        "INSERT INTO users (name, email, email_key, dept_id, admin, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        params![name, email, email_key, dept, admin, now],
    )?;
    Ok(UserId(c.last_insert_rowid()))
}

/// Sets the active flag.
pub fn set_user_active(c: &Connection, id: UserId, active: bool) -> Result<()> {
    c.execute(
        "UPDATE users SET active = ? WHERE id = ?",
        params![active, id],
    )?;
    Ok(())
}

/// Sets the administrator flag.
pub fn set_user_admin(c: &Connection, id: UserId, admin: bool) -> Result<()> {
    c.execute(
        "UPDATE users SET admin = ? WHERE id = ?",
        params![admin, id],
    )?;
    Ok(())
}

/// Moves a user to another department and re-stamps every record the user owns, in the
/// caller's transaction, so no stamp is ever stale. Returns the number of re-stamped records.
pub fn move_user(c: &Connection, id: UserId, dept: DepartmentId) -> Result<usize> {
    c.execute(
        "UPDATE users SET dept_id = ? WHERE id = ?",
        params![dept, id],
    )?;
    let mut n = 0;
    for table in STAMPED_TABLES {
        let restamped = c.execute(
            &format!("UPDATE {table} SET dept_id = ?1 WHERE owner_id = ?2 AND dept_id != ?1"),
            params![dept, id],
        )?;
        // Clients' search documents carry the department term.
        if table == "clients" && restamped > 0 {
            super::client_search::rewrite_owned_by(c, id)?;
        }
        n += restamped;
    }
    Ok(n)
}

/// Tables whose rows carry an owner and the owner's department stamp.
pub const STAMPED_TABLES: [&str; 3] = ["clients", "deals", "activities"];

// ---- roles ----

/// A role by id, with its grants.
pub fn role(c: &Connection, id: RoleId) -> Result<Option<Role>> {
    let name: Option<String> = c
        .prepare_cached("SELECT name FROM roles WHERE id = ?")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    match name {
        Some(name) => Ok(Some(Role {
            id,
            name,
            grants: role_grants(c, id)?,
        })),
        None => Ok(None),
    }
}

/// Every role, by id.
pub fn roles(c: &Connection) -> Result<Vec<Role>> {
    let ids: Vec<RoleId> = c
        .prepare_cached("SELECT id FROM roles ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.into_iter()
        .filter_map(|id| role(c, id).transpose())
        .collect()
}

fn role_grants(c: &Connection, id: RoleId) -> Result<Vec<Grant>> {
    let mut st = c.prepare_cached(
        "SELECT entity, action, level, include_open FROM role_grants WHERE role_id = ? ORDER BY entity, action",
    )?;
    let rows = st.query_map([id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, bool>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (entity, action, level, include_open) = row?;
        let corrupt = |e: CrmError| CrmError::Corrupt {
            what: format!("role_grants of role {id}"),
            message: e.to_string(),
        };
        out.push(Grant {
            entity: EntityType::parse(&entity, "entity").map_err(corrupt)?,
            action: Action::parse(&action, "action").map_err(corrupt)?,
            level: AccessLevel::from_i64(level, "level").map_err(corrupt)?,
            include_open,
        });
    }
    Ok(out)
}

/// Whether a role with this name exists (other than `except`).
pub fn role_name_taken(c: &Connection, name: &str, except: Option<RoleId>) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT 1 FROM roles WHERE name = ? AND id IS NOT ?")?
            .exists(params![name, except])?,
    )
}

/// Inserts a role.
pub fn insert_role(c: &Connection, name: &str) -> Result<RoleId> {
    c.execute("INSERT INTO roles (name) VALUES (?)", [name])?;
    Ok(RoleId(c.last_insert_rowid()))
}

/// Replaces all grants of a role.
pub fn set_role_grants(c: &Connection, id: RoleId, grants: &[Grant]) -> Result<()> {
    c.execute("DELETE FROM role_grants WHERE role_id = ?", [id])?;
    let mut st = c.prepare_cached(
        "INSERT INTO role_grants (role_id, entity, action, level, include_open) VALUES (?, ?, ?, ?, ?)",
    )?;
    for g in grants {
        st.execute(params![
            id,
            g.entity.as_str(),
            g.action.as_str(),
            g.level.as_i64(),
            g.include_open
        ])?;
    }
    Ok(())
}

/// Deletes a role, its grants and assignments, and forbids that name it.
pub fn delete_role(c: &Connection, id: RoleId) -> Result<()> {
    c.execute(
        "DELETE FROM forbid_rules WHERE subject_kind = 'role' AND subject_id = ?",
        [id],
    )?;
    c.execute("DELETE FROM roles WHERE id = ?", [id])?;
    Ok(())
}

// ---- assignments ----

fn subject_columns(s: &RoleSubject) -> (&'static str, i64, bool) {
    match *s {
        RoleSubject::User { user_id } => ("user", user_id.0, false),
        RoleSubject::Department {
            department_id,
            include_subdepartments,
        } => ("department", department_id.0, include_subdepartments),
        RoleSubject::HeadOf { department_id } => ("head", department_id.0, false),
    }
}

/// Inserts an assignment, or returns the existing identical one.
pub fn insert_assignment(
    c: &Connection,
    role: RoleId,
    s: &RoleSubject,
) -> Result<RoleAssignmentId> {
    let (kind, id, sub) = subject_columns(s);
    c.execute(
        "INSERT OR IGNORE INTO role_assignments (role_id, subject_kind, subject_id, include_subdepartments) VALUES (?, ?, ?, ?)",
        params![role, kind, id, sub],
    )?;
    Ok(c.query_row(
        "SELECT id FROM role_assignments WHERE role_id = ? AND subject_kind = ? AND subject_id = ? AND include_subdepartments = ?",
        params![role, kind, id, sub],
        |r| r.get(0),
    )?)
}

/// Deletes an assignment; returns whether it existed.
pub fn delete_assignment(c: &Connection, id: RoleAssignmentId) -> Result<bool> {
    Ok(c.execute("DELETE FROM role_assignments WHERE id = ?", [id])? > 0)
}

/// Every role assignment, by id; with `for_user`, only department and head assignments and
/// that user's own.
pub fn assignments(c: &Connection, for_user: Option<UserId>) -> Result<Vec<RoleAssignment>> {
    let mut st = c.prepare_cached(
        "SELECT id, role_id, subject_kind, subject_id, include_subdepartments FROM role_assignments
         WHERE ?1 IS NULL OR subject_kind != 'user' OR subject_id = ?1 ORDER BY id",
    )?;
    let rows = st.query_map([for_user], |r| {
        Ok((
            r.get::<_, RoleAssignmentId>(0)?,
            r.get::<_, RoleId>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, bool>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, role_id, kind, sid, sub) = row?;
        let subject = match kind.as_str() {
            "user" => RoleSubject::User {
                user_id: UserId(sid),
            },
            "department" => RoleSubject::Department {
                department_id: DepartmentId(sid),
                include_subdepartments: sub,
            },
            "head" => RoleSubject::HeadOf {
                department_id: DepartmentId(sid),
            },
            other => {
                return Err(CrmError::Corrupt {
                    what: format!("role_assignments {id}"),
                    message: format!("unknown subject kind {other:?}"),
                })
            }
        };
        out.push(RoleAssignment {
            id,
            role_id,
            subject,
        });
    }
    Ok(out)
}

// ---- forbids ----

/// Inserts a forbid rule.
pub fn insert_forbid(c: &Connection, f: &Forbid) -> Result<ForbidId> {
    let (skind, sid, sub) = match f.subject {
        ForbidSubject::User { user_id } => ("user", user_id.0, false),
        ForbidSubject::Department {
            department_id,
            include_subdepartments,
        } => ("department", department_id.0, include_subdepartments),
        ForbidSubject::Role { role_id } => ("role", role_id.0, false),
    };
    let (tkind, tid) = match f.target {
        ForbidTarget::AllRecords => ("all", None),
        ForbidTarget::Department { department_id } => ("department", Some(department_id.0)),
        ForbidTarget::DepartmentTree { department_id } => {
            ("department_tree", Some(department_id.0))
        }
        ForbidTarget::OpenRecords => ("open", None),
    };
    c.execute(
        "INSERT INTO forbid_rules (subject_kind, subject_id, include_subdepartments, entity, action, target_kind, target_id)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        params![skind, sid, sub, f.entity.as_str(), f.action.as_str(), tkind, tid],
    )?;
    Ok(ForbidId(c.last_insert_rowid()))
}

/// Deletes a forbid rule; returns whether it existed.
pub fn delete_forbid(c: &Connection, id: ForbidId) -> Result<bool> {
    Ok(c.execute("DELETE FROM forbid_rules WHERE id = ?", [id])? > 0)
}

/// Every forbid rule, by id.
pub fn forbids(c: &Connection) -> Result<Vec<Forbid>> {
    let mut st = c.prepare_cached(
        "SELECT id, subject_kind, subject_id, include_subdepartments, entity, action, target_kind, target_id FROM forbid_rules ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, ForbidId>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, bool>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, Option<i64>>(7)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, skind, sid, sub, entity, action, tkind, tid) = row?;
        let corrupt = |m: String| CrmError::Corrupt {
            what: format!("forbid_rules {id}"),
            message: m,
        };
        let subject = match skind.as_str() {
            "user" => ForbidSubject::User {
                user_id: UserId(sid),
            },
            "department" => ForbidSubject::Department {
                department_id: DepartmentId(sid),
                include_subdepartments: sub,
            },
            "role" => ForbidSubject::Role {
                role_id: RoleId(sid),
            },
            other => return Err(corrupt(format!("unknown subject kind {other:?}"))),
        };
        let dept = || {
            tid.map(DepartmentId)
                .ok_or_else(|| corrupt("missing target department".into()))
        };
        let target = match tkind.as_str() {
            "all" => ForbidTarget::AllRecords,
            "department" => ForbidTarget::Department {
                department_id: dept()?,
            },
            "department_tree" => ForbidTarget::DepartmentTree {
                department_id: dept()?,
            },
            "open" => ForbidTarget::OpenRecords,
            other => return Err(corrupt(format!("unknown target kind {other:?}"))),
        };
        out.push(Forbid {
            id,
            subject,
            entity: EntityType::parse(&entity, "entity").map_err(|e| corrupt(e.to_string()))?,
            action: Action::parse(&action, "action").map_err(|e| corrupt(e.to_string()))?,
            target,
        });
    }
    Ok(out)
}

// ---- snapshot ----

/// Everything needed to compile `user`'s access, read in the caller's transaction.
pub fn acl_snapshot(c: &Connection, user: User) -> Result<AclSnapshot> {
    let tree = DeptTree::new(
        departments(c)?
            .into_iter()
            .map(|d| (d.id, d.parent_id, d.head_user_id)),
    );
    // Department and head assignments are few (bounded by the tree); user assignments are
    // fetched for this user only.
    let assignments = assignments(c, Some(user.id))?;
    let mut roles = HashMap::new();
    for a in &assignments {
        if let std::collections::hash_map::Entry::Vacant(e) = roles.entry(a.role_id) {
            if let Some(r) = role(c, a.role_id)? {
                e.insert(r);
            }
        }
    }
    Ok(AclSnapshot {
        user,
        tree,
        assignments,
        roles,
        forbids: forbids(c)?,
    })
}
