//! Funnel reports: what a head of sales asks for, counting only the deals the actor may read.

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::strings::{arg_json, to_c_string, Out};
use crm_core::model::FunnelQuery;
use std::ffi::c_char;

/// Computes the funnel report of a pipeline over a date range and writes it to `*out_json`.
///
/// `query_json`: `{"pipeline_id":1,"from":"2026-01-01","to":"2027-01-01"}` (`to` exclusive),
/// optionally with `"grouping"` ("day", "week", "month" (default) or "quarter"),
/// `"time_zone"` (IANA name; default the report time zone, see
/// `crm_report_time_zone_get`), `"owner_id"`, `"department_id"` (with its sub-departments),
/// `"reporting_currency"` (also convert totals into it, with the rates of
/// `crm_exchange_rate_set` in force on `"rate_date"`, default the last day of the range).
///
/// The report: `{"pipeline_id","pipeline_name","time_zone","grouping","stages":[open deals
/// per stage now],"summary":{"from","to","created","won","lost","win_rate",
/// "average_cycle_days"},"previous":{the range before, same length},"won_by_period",
/// "lost_by_period","forecast":[weighted open amounts by expected close period],"conversion",
/// "stage_times","by_manager","by_department","lost_reasons":[{"reason":"price","count":3}],
/// "cohorts","activity","missing_rates":["USD"]}`. Figures are `{"count":3,"amounts":[{"amount_minor":
/// 120000,"currency":"EUR"}],"converted":null}`: one amount per currency, never summed across
/// currencies; `converted` is the total in the reporting currency when every rate was known.
/// Rates and averages are JSON numbers or null.
#[no_mangle]
pub unsafe extern "C" fn crm_funnel_report(
    ctx: *const crm_ctx,
    query_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let query: FunnelQuery = unsafe { arg_json(query_json, "query_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let report = ctx.run(|crm, c| crm.funnel_report(c, &query))?;
        unsafe { out.write_json(&report) }
    })
}

/// Computes the funnel report as `crm_funnel_report` does (same `query_json`) and writes its
/// chart of open deals per stage to `*out_svg`: a standalone SVG document (UTF-8 text, one bar
/// per open stage labelled with the count and the amounts) for the host to show or save. Free
/// it with `crm_string_free`.
#[no_mangle]
pub unsafe extern "C" fn crm_funnel_report_svg(
    ctx: *const crm_ctx,
    query_json: *const c_char,
    out_svg: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let query: FunnelQuery = unsafe { arg_json(query_json, "query_json") }?;
        let out = Out::new(out_svg, "out_svg")?;
        let report = ctx.run(|crm, c| crm.funnel_report(c, &query))?;
        unsafe { out.write(to_c_string(report.to_svg())?) };
        Ok(())
    })
}

/// Writes only the stage x period x manager pivot of the deals created in the range to
/// `*out_json` (same `query_json` as `crm_funnel_report`; the cheapest funnel figure), as a
/// JSON array of `{"stage_id":2,"period":"2026-03","owner_id":3,"figures":{"count":4,
/// "amounts":[...],"converted":null}}`: deals by their current stage and owner.
#[no_mangle]
pub unsafe extern "C" fn crm_funnel_pivot(
    ctx: *const crm_ctx,
    query_json: *const c_char,
    out_json: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let query: FunnelQuery = unsafe { arg_json(query_json, "query_json") }?;
        let out = Out::new(out_json, "out_json")?;
        let cells = ctx.run(|crm, c| crm.funnel_pivot(c, &query))?;
        unsafe { out.write_json(&cells) }
    })
}
