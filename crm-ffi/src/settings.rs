//! Engine settings: the report time zone, and exchange rates for converting report totals.

use crate::crm_status;
use crate::ctx::{crm_ctx, ctx_arg};
use crate::strings::{arg_date, arg_str, to_c_string, Out};
use crm_core::money::{Currency, Rate};
use std::ffi::c_char;
use std::ptr;

/// Writes the report time zone to `*out_tz`, an IANA name such as "Europe/Berlin" ("UTC"
/// until set). Funnel reports in this zone read precomputed buckets; other zones are computed
/// exactly, only more slowly. Free it with `crm_string_free`.
#[no_mangle]
pub unsafe extern "C" fn crm_report_time_zone_get(
    ctx: *const crm_ctx,
    out_tz: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let out = Out::new(out_tz, "out_tz")?;
        let tz = ctx.run(|crm, c| crm.report_time_zone(c))?;
        unsafe { out.write(to_c_string(tz)?) };
        Ok(())
    })
}

/// Sets the report time zone to `tz`, an IANA name such as "Europe/Berlin" (administrators
/// only); recomputes every stored report bucket in one transaction. CRM_STATUS_VALIDATION for
/// an unknown zone.
#[no_mangle]
pub unsafe extern "C" fn crm_report_time_zone_set(
    ctx: *const crm_ctx,
    tz: *const c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let tz = unsafe { arg_str(tz, "tz") }?;
        ctx.run(|crm, c| crm.set_report_time_zone(c, tz))?;
        Ok(())
    })
}

/// Records that from `day` ("YYYY-MM-DD") on, one unit of `currency` is worth `rate` units of
/// `quote` (administrators only). Currencies are ISO 4217 codes ("EUR", "USD"); `rate` is a
/// positive decimal with at most 9 decimals, as text ("1.0845"): no floating point. A later
/// call for the same day replaces the rate. Funnel reports use the rates to convert totals.
#[no_mangle]
pub unsafe extern "C" fn crm_exchange_rate_set(
    ctx: *const crm_ctx,
    currency: *const c_char,
    quote: *const c_char,
    day: *const c_char,
    rate: *const c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let currency = Currency::parse(unsafe { arg_str(currency, "currency") }?, "currency")?;
        let quote = Currency::parse(unsafe { arg_str(quote, "quote") }?, "quote")?;
        let day = unsafe { arg_date(day, "day") }?;
        let rate = Rate::parse(unsafe { arg_str(rate, "rate") }?, "rate")?;
        ctx.run(|crm, c| crm.set_exchange_rate(c, &currency, &quote, day, rate))?;
        Ok(())
    })
}

/// Writes the rate of `currency` in `quote` in force on `day` ("YYYY-MM-DD": the latest rate
/// set for that day or before) to `*out_rate` as decimal text such as "1.0845", or NULL when
/// no rate is known for that day (a success all the same). Free it with `crm_string_free`.
#[no_mangle]
pub unsafe extern "C" fn crm_exchange_rate_get(
    ctx: *const crm_ctx,
    currency: *const c_char,
    quote: *const c_char,
    day: *const c_char,
    out_rate: *mut *mut c_char,
) -> crm_status {
    ffi_boundary!({
        // SAFETY (all blocks below): arguments are valid for the call by the C contract.
        let ctx = unsafe { ctx_arg(ctx) }?;
        let currency = Currency::parse(unsafe { arg_str(currency, "currency") }?, "currency")?;
        let quote = Currency::parse(unsafe { arg_str(quote, "quote") }?, "quote")?;
        let day = unsafe { arg_date(day, "day") }?;
        let out = Out::new(out_rate, "out_rate")?;
        let rate = ctx.run(|crm, c| crm.exchange_rate(c, &currency, &quote, day))?;
        let text = match rate {
            Some(r) => to_c_string(String::from(r))?,
            None => ptr::null_mut(),
        };
        unsafe { out.write(text) };
        Ok(())
    })
}
