//! Calendar periods in an IANA time zone, for reports: day and month numbers stored with deals,
//! and the grouping of days into weeks, months and quarters.

use crate::error::{CrmError, Result};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How a report groups time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// Calendar days.
    Day,
    /// ISO weeks (Monday first).
    Week,
    /// Calendar months.
    #[default]
    Month,
    /// Calendar quarters.
    Quarter,
}

/// Parses an IANA time zone name such as `Europe/Berlin`; `field` names the input.
pub fn parse_tz(name: &str, field: &str) -> Result<Tz> {
    name.parse::<Tz>()
        .map_err(|_| CrmError::invalid(field, format!("{name:?} is not an IANA time zone")))
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a date"),
};

/// The local calendar date of an instant.
pub fn local_date(ts_ms: i64, tz: Tz) -> NaiveDate {
    let utc = DateTime::<Utc>::from_timestamp_millis(ts_ms).unwrap_or_default();
    tz.from_utc_datetime(&utc.naive_utc()).date_naive()
}

/// Days since 1970-01-01 of a date.
pub fn day_number(d: NaiveDate) -> i64 {
    (d - EPOCH).num_days()
}

/// The date of a day number.
pub fn day_date(n: i64) -> NaiveDate {
    EPOCH + chrono::Duration::days(n)
}

/// `year * 12 + month - 1` of a date.
pub fn month_number(d: NaiveDate) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

/// The first day of the month with number `year * 12 + month - 1`.
pub fn month_start(month: i64) -> NaiveDate {
    let year = i32::try_from(month.div_euclid(12)).unwrap_or(1970);
    let m = u32::try_from(month.rem_euclid(12)).unwrap_or(0) + 1;
    NaiveDate::from_ymd_opt(year, m, 1).unwrap_or(EPOCH)
}

/// The first day of the period of `grouping` that contains `d`.
pub fn period_start(d: NaiveDate, grouping: Grouping) -> NaiveDate {
    match grouping {
        Grouping::Day => d,
        Grouping::Week => d - chrono::Duration::days(i64::from(d.weekday().num_days_from_monday())),
        Grouping::Month => d.with_day(1).unwrap_or(d),
        Grouping::Quarter => {
            NaiveDate::from_ymd_opt(d.year(), d.month0() / 3 * 3 + 1, 1).unwrap_or(d)
        }
    }
}

/// The first day of the period after the one starting at `start`.
pub fn next_period(start: NaiveDate, grouping: Grouping) -> NaiveDate {
    match grouping {
        Grouping::Day => start + chrono::Duration::days(1),
        Grouping::Week => start + chrono::Duration::days(7),
        Grouping::Month => start
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(start),
        Grouping::Quarter => start
            .checked_add_months(chrono::Months::new(3))
            .unwrap_or(start),
    }
}

/// A label for the period starting at `start`: `2024-03-15`, `2024-W11`, `2024-03`, `2024-Q1`.
pub fn period_label(start: NaiveDate, grouping: Grouping) -> String {
    match grouping {
        Grouping::Day => start.format("%Y-%m-%d").to_string(),
        Grouping::Week => {
            let w = start.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        }
        Grouping::Month => start.format("%Y-%m").to_string(),
        Grouping::Quarter => format!("{}-Q{}", start.year(), start.month0() / 3 + 1),
    }
}

/// The UTC instant at which local date `d` begins in `tz` (the first valid local time that day).
pub fn local_day_start_ms(d: NaiveDate, tz: Tz) -> i64 {
    let mut t = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A DST gap can swallow midnight; step forward until the local time exists.
    for _ in 0..96 {
        if let Some(dt) = tz.from_local_datetime(&t).earliest() {
            return dt.timestamp_millis();
        }
        t += chrono::Duration::minutes(15);
    }
    t.and_utc().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_evening_in_new_york_is_the_next_day_in_utc() {
        let ts = DateTime::parse_from_rfc3339("2024-03-31T23:30:00-04:00")
            .unwrap()
            .timestamp_millis();
        let ny = parse_tz("America/New_York", "tz").unwrap();
        assert_eq!(
            local_date(ts, ny),
            NaiveDate::from_ymd_opt(2024, 3, 31).unwrap()
        );
        assert_eq!(
            local_date(ts, Tz::UTC),
            NaiveDate::from_ymd_opt(2024, 4, 1).unwrap()
        );
    }

    #[test]
    fn periods_and_labels() {
        let d = NaiveDate::from_ymd_opt(2024, 5, 15).unwrap();
        assert_eq!(
            period_label(period_start(d, Grouping::Quarter), Grouping::Quarter),
            "2024-Q2"
        );
        assert_eq!(
            period_start(d, Grouping::Week),
            NaiveDate::from_ymd_opt(2024, 5, 13).unwrap()
        );
        assert_eq!(period_label(d, Grouping::Week), "2024-W20");
        assert_eq!(
            next_period(
                NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
                Grouping::Month
            ),
            NaiveDate::from_ymd_opt(2024, 2, 1).unwrap()
        );
        assert_eq!(day_date(day_number(d)), d);
        assert!(parse_tz("Mars/Olympus", "tz").is_err());
    }
}
