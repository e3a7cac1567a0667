//! Engine settings and exchange rates.

use crate::crm::Crm;
use crate::error::{CrmError, Result};
use crate::money::{Currency, Rate};
use crate::period::parse_tz;
use crate::store::settings;
use crate::Ctx;
use chrono::NaiveDate;
use serde_json::json;

impl Crm {
    /// The IANA time zone whose calendar the stored report buckets follow (`UTC` by default).
    /// Funnel reports in this zone read precomputed buckets; other zones are computed exactly
    /// but more slowly.
    pub fn report_time_zone(&self, ctx: &Ctx) -> Result<String> {
        self.read(ctx, |c, _| Ok(settings::report_tz(c)?.name().to_string()))
    }

    /// Changes the report time zone (administrators); recomputes every stored bucket in one
    /// transaction.
    pub fn set_report_time_zone(&self, ctx: &Ctx, tz: &str) -> Result<()> {
        let tz = parse_tz(tz, "tz")?;
        self.write(ctx, |cx| {
            cx.require_admin("set_report_time_zone")?;
            let old = settings::report_tz(cx.tx)?;
            settings::set_report_tz(cx.tx, tz)?;
            cx.audit(
                "settings.report_tz",
                "settings",
                None,
                &json!({"report_tz": [old.name(), tz.name()]}),
            )
        })
    }

    /// Records that on `day` one unit of `currency` is worth `rate` units of `quote`
    /// (administrators). A later call for the same day replaces the rate.
    pub fn set_exchange_rate(
        &self,
        ctx: &Ctx,
        currency: &Currency,
        quote: &Currency,
        day: NaiveDate,
        rate: Rate,
    ) -> Result<()> {
        if currency == quote {
            return Err(CrmError::invalid("quote", "must differ from currency"));
        }
        self.write(ctx, |cx| {
            cx.require_admin("set_exchange_rate")?;
            let old = settings::rate_on(cx.tx, currency, quote, day)?;
            settings::set_rate(cx.tx, currency, quote, day, rate)?;
            cx.audit(
                "exchange_rate.set",
                "exchange_rate",
                None,
                &json!({"pair": format!("{currency}/{quote}"), "day": day, "rate": [old, rate]}),
            )
        })
    }

    /// The rate of `currency` in `quote` in force on `day` (the latest on or before it).
    pub fn exchange_rate(
        &self,
        ctx: &Ctx,
        currency: &Currency,
        quote: &Currency,
        day: NaiveDate,
    ) -> Result<Option<Rate>> {
        self.read(ctx, |c, _| settings::rate_on(c, currency, quote, day))
    }
}
