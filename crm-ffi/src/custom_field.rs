//! Custom fields: administrators define typed fields; everyone reads the definitions.

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::enums;
use crate::strings::{arg_json, Out};
use crm_core::ids::CustomFieldId;
use crm_core::model::NewCustomField;
use std::ffi::c_char;

/// Defines a custom field (administrators only) and writes the definition to `*out_json`.
///
/// `field_json`: `{"entity":"client","key":"segment","label":"Segment","field_type":"enum",
/// "options":["smb","enterprise"],"required":false}`; `entity` is "client" or "deal"
/// (activities have no custom fields). `field_type` is one of "text", "number",
/// "money" (values `{"amount_minor":12345,"currency":"EUR"}`), "date" ("YYYY-MM-DD"), "bool",
/// "enum" (values from `options`). Keys are lower-case letters, digits and `_`, unique per
/// entity type. A required field can only be defined before any record of the type exists.
#[no_mangle]
pub unsafe extern "C" fn crm_custom_field_define(
    ctx: *const crm_ctx,
    field_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let new: NewCustomField = unsafe { arg_json(field_json, "field_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let field = ctx.run(|crm, c| crm.define_custom_field(c, &new))?;
        unsafe { out.write_json(&field) }
    })
}

/// Writes the custom field definitions of an entity type (`entity` is a CRM_ENTITY_* constant)
/// to `*out_json`, as a JSON array ordered by key (always `[]` for CRM_ENTITY_ACTIVITY).
#[no_mangle]
pub unsafe extern "C" fn crm_custom_field_list(
    ctx: *const crm_ctx,
    entity: i32,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let entity = enums::entity(entity, "entity")?;
        let out = Out::new(out_json, "out_json")?;
        let fields = ctx.run(|crm, c| crm.custom_fields(c, entity))?;
        unsafe { out.write_json(&fields) }
    })
}

/// Deletes a custom field of an entity type (administrators only) and removes its values from
/// every record, in one transaction.
#[no_mangle]
pub unsafe extern "C" fn crm_custom_field_delete(
    ctx: *const crm_ctx,
    entity: i32,
    field_id: i64,
) -> crm_status {
    ffi_boundary!({
        // SAFETY: arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let entity = enums::entity(entity, "entity")?;
        ctx.run(|crm, c| crm.delete_custom_field(c, entity, CustomFieldId(field_id)))?;
        Ok(())
    })
}
