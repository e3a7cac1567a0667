//! SQL for engine settings and exchange rates.

use crate::error::Result;
use crate::money::{Currency, Rate};
use crate::period::{day_number, local_date, month_number};
use chrono::NaiveDate;
use chrono_tz::Tz;
use rusqlite::{params, Connection, OptionalExtension};

/// The report time zone stored buckets follow (`UTC` unless changed).
pub fn report_tz(c: &Connection) -> Result<Tz> {
    let name: String = c
        .prepare_cached("SELECT value FROM settings WHERE key = 'report_tz'")?
        .query_row([], |r| r.get(0))?;
    crate::period::parse_tz(&name, "settings.report_tz").map_err(|e| crate::CrmError::Corrupt {
        what: "settings.report_tz".into(),
        message: e.to_string(),
    })
}

/// Changes the report time zone and recomputes every stored period bucket in it.
pub fn set_report_tz(c: &Connection, tz: Tz) -> Result<()> {
    c.execute(
        "UPDATE settings SET value = ? WHERE key = 'report_tz'",
        [tz.name()],
    )?;
    let rows: Vec<(i64, i64, Option<i64>)> = c
        .prepare("SELECT id, created_at, closed_at FROM deals")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = c.prepare(
        "UPDATE deals SET created_day = ?, created_month = ?, closed_day = ?, closed_month = ? WHERE id = ?",
    )?;
    for (id, created, closed) in rows {
        let (cd, cm) = buckets(created, tz);
        let closed = closed.map(|t| buckets(t, tz));
        st.execute(params![
            cd,
            cm,
            closed.map(|b| b.0),
            closed.map(|b| b.1),
            id
        ])?;
    }
    Ok(())
}

/// (day number, month number) of an instant in `tz`.
pub fn buckets(ts_ms: i64, tz: Tz) -> (i64, i64) {
    let d = local_date(ts_ms, tz);
    (day_number(d), month_number(d))
}

/// Stores the rate of `currency` in `quote` for `day` (replacing one for the same day).
pub fn set_rate(
    c: &Connection,
    currency: &Currency,
    quote: &Currency,
    day: NaiveDate,
    rate: Rate,
) -> Result<()> {
    c.execute(
        "INSERT INTO exchange_rates (currency, quote, day, rate_nanos) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (currency, quote, day) DO UPDATE SET rate_nanos = ?4",
        params![currency.as_str(), quote.as_str(), day.to_string(), rate.0],
    )?;
    Ok(())
}

/// The latest rate of `currency` in `quote` on or before `day`.
pub fn rate_on(
    c: &Connection,
    currency: &Currency,
    quote: &Currency,
    day: NaiveDate,
) -> Result<Option<Rate>> {
    Ok(c.prepare_cached(
        "SELECT rate_nanos FROM exchange_rates WHERE currency = ? AND quote = ? AND day <= ? ORDER BY day DESC LIMIT 1",
    )?
    .query_row(params![currency.as_str(), quote.as_str(), day.to_string()], |r| r.get(0))
    .optional()?
    .map(Rate))
}
