//! The organisation: departments, users, roles, role assignments and forbid rules.
//!
//! Every change here needs an administrator (or the system context) and takes effect for every
//! user at once. Reading the organisation chart is open to every active user.

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::enums;
use crate::strings::{arg_json, arg_str, Out};
use crm_core::access::Grant;
use crm_core::ids::{DepartmentId, ForbidId, RoleAssignmentId, RoleId, UserId};
use crm_core::model::{Forbid, NewDepartment, NewUser, RoleSubject};
use std::ffi::c_char;

// ---- departments ----

/// Creates a department and writes it to `*out_json`:
/// `{"id":2,"name":"Sales","parent_id":1,"head_user_id":null}`.
/// `department_json`: `{"name":"Sales","parent_id":1}`; omit `parent_id` (or null) for a root.
#[no_mangle]
pub unsafe extern "C" fn crm_department_create(
    ctx: *const crm_ctx,
    department_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let new: NewDepartment = unsafe { arg_json(department_json, "department_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let dept = ctx.run(|crm, c| crm.create_department(c, &new))?;
        unsafe { out.write_json(&dept) }
    })
}

/// Renames a department; `name` is 1-200 characters.
#[no_mangle]
pub unsafe extern "C" fn crm_department_rename(
    ctx: *const crm_ctx,
    department_id: i64,
    name: *const c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let name = unsafe { arg_str(name, "name") }?;
        ctx.run(|crm, c| crm.rename_department(c, DepartmentId(department_id), name))?;
        Ok(())
    })
}

/// Moves a department, with its subtree, under `new_parent_id`, or to the root with
/// `CRM_NO_ID`. A move under itself or one of its descendants fails with
/// CRM_STATUS_CONSTRAINT.
#[no_mangle]
pub unsafe extern "C" fn crm_department_move(
    ctx: *const crm_ctx,
    department_id: i64,
    new_parent_id: i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let parent = enums::opt_id(new_parent_id).map(DepartmentId);
        ctx.run(|crm, c| crm.move_department(c, DepartmentId(department_id), parent))?;
        Ok(())
    })
}

/// Sets the head of a department to user `head_user_id`, or clears it with `CRM_NO_ID`. The
/// head gets the roles assigned to the department's head.
#[no_mangle]
pub unsafe extern "C" fn crm_department_set_head(
    ctx: *const crm_ctx,
    department_id: i64,
    head_user_id: i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let head = enums::opt_id(head_user_id).map(UserId);
        ctx.run(|crm, c| crm.set_department_head(c, DepartmentId(department_id), head))?;
        Ok(())
    })
}

/// Deletes a department that has no sub-departments, members or records (else
/// CRM_STATUS_CONSTRAINT), with the role assignments and forbid rules that name it.
#[no_mangle]
pub unsafe extern "C" fn crm_department_delete(
    ctx: *const crm_ctx,
    department_id: i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        ctx.run(|crm, c| crm.delete_department(c, DepartmentId(department_id)))?;
        Ok(())
    })
}

/// Writes every department to `*out_json`, as a JSON array of departments (see
/// `crm_department_create`).
#[no_mangle]
pub unsafe extern "C" fn crm_department_list(
    ctx: *const crm_ctx,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let depts = ctx.run(|crm, c| crm.departments(c))?;
        unsafe { out.write_json(&depts) }
    })
}

// ---- users ----

/// Creates a user and writes it to `*out_json`:
/// `{"id":3,"name":"Anna","email":"anna@example.com","department_id":2,"active":true,"admin":false}`.
/// `user_json`: `{"name":"Anna","email":"anna@example.com","department_id":2,"admin":false}`;
/// e-mails are unique (case-insensitive).
#[no_mangle]
pub unsafe extern "C" fn crm_user_create(
    ctx: *const crm_ctx,
    user_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let new: NewUser = unsafe { arg_json(user_json, "user_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let user = ctx.run(|crm, c| crm.create_user(c, &new))?;
        unsafe { out.write_json(&user) }
    })
}

/// Writes user `user_id` to `*out_json` (see `crm_user_create`).
#[no_mangle]
pub unsafe extern "C" fn crm_user_get(
    ctx: *const crm_ctx,
    user_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let user = ctx.run(|crm, c| crm.user(c, UserId(user_id)))?;
        unsafe { out.write_json(&user) }
    })
}

/// Writes every user to `*out_json`, as a JSON array of users.
#[no_mangle]
pub unsafe extern "C" fn crm_user_list(
    ctx: *const crm_ctx,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let users = ctx.run(|crm, c| crm.users(c))?;
        unsafe { out.write_json(&users) }
    })
}

/// Deactivates (`active` = 0) or reactivates (1) a user. A deactivated user loses all access at
/// once: every call with their context fails with CRM_STATUS_INACTIVE_USER.
#[no_mangle]
pub unsafe extern "C" fn crm_user_set_active(
    ctx: *const crm_ctx,
    user_id: i64,
    active: i32,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let active = enums::flag(active, "active")?;
        ctx.run(|crm, c| crm.set_user_active(c, UserId(user_id), active))?;
        Ok(())
    })
}

/// Grants (`admin` = 1) or revokes (0) the administrator flag of a user.
#[no_mangle]
pub unsafe extern "C" fn crm_user_set_admin(
    ctx: *const crm_ctx,
    user_id: i64,
    admin: i32,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let admin = enums::flag(admin, "admin")?;
        ctx.run(|crm, c| crm.set_user_admin(c, UserId(user_id), admin))?;
        Ok(())
    })
}

/// Moves a user to another department. Every record the user owns is re-stamped with the new
/// department in the same transaction; their number is written to `*out_restamped`.
#[no_mangle]
pub unsafe extern "C" fn crm_user_move(
    ctx: *const crm_ctx,
    user_id: i64,
    department_id: i64,
    out_restamped: *mut u64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_restamped, "out_restamped")?;
        let n = ctx.run(|crm, c| crm.move_user(c, UserId(user_id), DepartmentId(department_id)))?;
        unsafe { out.write(n as u64) };
        Ok(())
    })
}

// ---- roles ----

/// Creates a role and writes it to `*out_json`: `{"id":1,"name":"Sales rep","grants":[...]}`.
///
/// `name` is unique, 1-200 characters. `grants_json` is a JSON array of cells, at most one per
/// (entity, action): `[{"entity":"client","action":"read","level":"own","include_open":true}]`.
/// `action` is one of "read", "create", "update", "delete", "export", "import", "assign";
/// `level` one of "none", "own", "department", "department_tree", "all"; `include_open` adds
/// records flagged open to everyone.
#[no_mangle]
pub unsafe extern "C" fn crm_role_create(
    ctx: *const crm_ctx,
    name: *const c_char,
    grants_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let name = unsafe { arg_str(name, "name") }?;
        let grants: Vec<Grant> = unsafe { arg_json(grants_json, "grants_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let role = ctx.run(|crm, c| crm.create_role(c, name, &grants))?;
        unsafe { out.write_json(&role) }
    })
}

/// Replaces the grants of a role (`grants_json` as for `crm_role_create`); takes effect for
/// every holder at once.
#[no_mangle]
pub unsafe extern "C" fn crm_role_set_grants(
    ctx: *const crm_ctx,
    role_id: i64,
    grants_json: *const c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let grants: Vec<Grant> = unsafe { arg_json(grants_json, "grants_json") }?;
        ctx.run(|crm, c| crm.set_role_grants(c, RoleId(role_id), &grants))?;
        Ok(())
    })
}

/// Deletes a role, its assignments and the forbid rules that name it.
#[no_mangle]
pub unsafe extern "C" fn crm_role_delete(ctx: *const crm_ctx, role_id: i64) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        ctx.run(|crm, c| crm.delete_role(c, RoleId(role_id)))?;
        Ok(())
    })
}

/// Writes every role to `*out_json`, as a JSON array of roles (see `crm_role_create`).
#[no_mangle]
pub unsafe extern "C" fn crm_role_list(
    ctx: *const crm_ctx,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let roles = ctx.run(|crm, c| crm.roles(c))?;
        unsafe { out.write_json(&roles) }
    })
}

/// Assigns a role and writes the assignment's id to `*out_assignment_id`. Assigning the same
/// role to the same subject twice gives the existing assignment.
///
/// `subject_json` is one of `{"kind":"user","user_id":3}`,
/// `{"kind":"department","department_id":2,"include_subdepartments":true}` (every member, and
/// optionally the members of the departments below), `{"kind":"head_of","department_id":2}`
/// (whoever heads the department).
#[no_mangle]
pub unsafe extern "C" fn crm_role_assign(
    ctx: *const crm_ctx,
    role_id: i64,
    subject_json: *const c_char,
    out_assignment_id: *mut i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let subject: RoleSubject = unsafe { arg_json(subject_json, "subject_json") }?;
        let out = Out::new(out_assignment_id, "out_assignment_id")?;
        let id = ctx.run(|crm, c| crm.assign_role(c, RoleId(role_id), &subject))?;
        unsafe { out.write(id.0) };
        Ok(())
    })
}

/// Removes a role assignment (CRM_STATUS_NOT_FOUND if there is none with this id).
#[no_mangle]
pub unsafe extern "C" fn crm_role_unassign(ctx: *const crm_ctx, assignment_id: i64) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        ctx.run(|crm, c| crm.unassign_role(c, RoleAssignmentId(assignment_id)))?;
        Ok(())
    })
}

/// Writes every role assignment to `*out_json`, as a JSON array of
/// `{"id":1,"role_id":2,"subject":{"kind":"user","user_id":3}}`.
#[no_mangle]
pub unsafe extern "C" fn crm_role_assignment_list(
    ctx: *const crm_ctx,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let list = ctx.run(|crm, c| crm.role_assignments(c))?;
        unsafe { out.write_json(&list) }
    })
}

// ---- forbids ----

/// Adds a forbid rule (forbids always win over grants) and writes its id to `*out_forbid_id`.
///
/// `rule_json`: `{"subject":{"kind":"role","role_id":2},"entity":"client","action":"delete",
/// "target":{"kind":"department_tree","department_id":5}}`. `subject` is
/// `{"kind":"user","user_id":..}`, `{"kind":"department","department_id":..,
/// "include_subdepartments":false}` or `{"kind":"role","role_id":..}`; `target` is
/// `{"kind":"all_records"}`, `{"kind":"department","department_id":..}`,
/// `{"kind":"department_tree","department_id":..}` or `{"kind":"open_records"}`.
#[no_mangle]
pub unsafe extern "C" fn crm_forbid_add(
    ctx: *const crm_ctx,
    rule_json: *const c_char,
    out_forbid_id: *mut i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let rule: Forbid = unsafe { arg_json(rule_json, "rule_json") }?;
        let out = Out::new(out_forbid_id, "out_forbid_id")?;
        let id = ctx.run(|crm, c| crm.add_forbid(c, &rule))?;
        unsafe { out.write(id.0) };
        Ok(())
    })
}

/// Removes a forbid rule (CRM_STATUS_NOT_FOUND if there is none with this id).
#[no_mangle]
pub unsafe extern "C" fn crm_forbid_remove(ctx: *const crm_ctx, forbid_id: i64) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        ctx.run(|crm, c| crm.remove_forbid(c, ForbidId(forbid_id)))?;
        Ok(())
    })
}

/// Writes every forbid rule to `*out_json`, as a JSON array of rules (see `crm_forbid_add`,
/// each with its `"id"`).
#[no_mangle]
pub unsafe extern "C" fn crm_forbid_list(
    ctx: *const crm_ctx,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let rules = ctx.run(|crm, c| crm.forbids(c))?;
        unsafe { out.write_json(&rules) }
    })
}
