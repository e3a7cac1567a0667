//! Pipelines (sales funnels) and their stages: administrators define them, everyone reads them.

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::strings::{arg_json, Out};
use crm_core::ids::PipelineId;
use crm_core::model::StageSpec;
use crm_core::PipelineUpdate;
use serde::Deserialize;
use std::ffi::c_char;

/// The JSON of a new pipeline.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPipeline {
    name: String,
    stages: Vec<StageSpec>,
}

/// Creates a pipeline with its stages, in funnel order (administrators only), and writes it to
/// `*out_json`:
/// `{"id":1,"name":"Sales","stages":[{"id":1,"name":"Lead","probability":10,"kind":"open",
/// "rotting_days":null,"required_fields":[],"allowed_next":null}, ...]}`.
///
/// `pipeline_json`: `{"name":"Sales","stages":[{"name":"Lead","probability":10},
/// {"name":"Offer","probability":60,"rotting_days":14,"required_fields":["amount"],
/// "allowed_next":["Won","Lost"]},{"name":"Won","probability":100,"kind":"won"},
/// {"name":"Lost","probability":0,"kind":"lost"}]}`. Each stage needs `name` (unique in the
/// pipeline) and `probability` (0-100); `kind` is "open" (default), "won" or "lost";
/// `rotting_days` (>= 1) is how long a deal may sit in the stage; `required_fields` lists what
/// a deal needs to enter it ("amount", "expected_close_date", "client", "contact_person",
/// `{"custom":"key"}`); `allowed_next` names the stages a deal may move to from here (absent or
/// null: any). A pipeline has 1-100 stages and at least one open stage.
#[no_mangle]
pub unsafe extern "C" fn crm_pipeline_create(
    ctx: *const crm_ctx,
    pipeline_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let new: NewPipeline = unsafe { arg_json(pipeline_json, "pipeline_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let pipeline = ctx.run(|crm, c| crm.create_pipeline(c, &new.name, &new.stages))?;
        unsafe { out.write_json(&pipeline) }
    })
}

/// Redefines a pipeline (administrators only) and writes the new definition to `*out_json`.
///
/// `update_json`: `{"name":"Sales 2027","stages":[...],"remap":[{"from":4,"to":2}]}`. `name`
/// is optional. `stages` is the full new list, in order, as for `crm_pipeline_create`: an entry
/// with `"id"` keeps that existing stage (and its deals), an entry without creates a stage, and
/// an existing stage left out is removed. A removed stage that holds deals needs a `remap`
/// entry naming a kept stage of the same kind that receives them (else CRM_STATUS_CONSTRAINT);
/// the moves are recorded in the deals' histories. A stage's kind cannot change while it holds
/// deals.
#[no_mangle]
pub unsafe extern "C" fn crm_pipeline_update(
    ctx: *const crm_ctx,
    pipeline_id: i64,
    update_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let update: PipelineUpdate = unsafe { arg_json(update_json, "update_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let pipeline =
            ctx.run(|crm, c| crm.update_pipeline(c, PipelineId(pipeline_id), &update))?;
        unsafe { out.write_json(&pipeline) }
    })
}

/// Writes pipeline `pipeline_id` with its stages to `*out_json` (see `crm_pipeline_create`).
/// CRM_STATUS_NOT_FOUND if there is no such pipeline.
#[no_mangle]
pub unsafe extern "C" fn crm_pipeline_get(
    ctx: *const crm_ctx,
    pipeline_id: i64,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let pipeline = ctx.run(|crm, c| crm.pipeline(c, PipelineId(pipeline_id)))?;
        unsafe { out.write_json(&pipeline) }
    })
}

/// Writes every pipeline with its stages to `*out_json`, as a JSON array (see
/// `crm_pipeline_create`).
#[no_mangle]
pub unsafe extern "C" fn crm_pipeline_list(
    ctx: *const crm_ctx,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_json, "out_json")?;
        let pipelines = ctx.run(|crm, c| crm.pipelines(c))?;
        unsafe { out.write_json(&pipelines) }
    })
}
