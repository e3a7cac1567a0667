//! Funnel analytics: what a head of sales asks for, scoped to what the acting user may read.
//! SQL aggregates per stage, owner, department and day (or month, straight from the covering
//! index); this module folds them into periods of the requested calendar and converts
//! currencies only where a rate is known.

use super::activities::activity_read_access;
use super::deals::deal_read_access;
use crate::access::SqlAccess;
use crate::crm::Crm;
use crate::error::{CrmError, Result};
use crate::ids::{DealId, StageId, UserId};
use crate::model::{
    Breakdown, CohortCell, Conversion, Figures, FunnelQuery, FunnelReport, LostReason,
    ManagerActivity, PeriodFigures, Pipeline, StageFigures, StageKind, StageTime, Summary,
};
use crate::money::{Currency, Money, Rate};
use crate::period::{
    local_date, local_day_start_ms, month_number, month_start, next_period, period_label,
    period_start, Grouping,
};
use crate::store::funnel::{self, Agg, Scope};
use crate::store::{org, pipelines, settings};
use crate::Ctx;
use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;
use rusqlite::Connection;
use std::collections::{BTreeMap, BTreeSet};

const MAX_PERIODS: i64 = 1_000;
const DAY_MS: f64 = 86_400_000.0;

/// Counts and per-currency sums, before conversion.
#[derive(Clone, Debug, Default)]
struct Acc {
    count: u64,
    sums: BTreeMap<String, i128>,
}

impl Acc {
    fn add(&mut self, currency: &str, count: u64, amount: i64) {
        self.count += count;
        *self.sums.entry(currency.to_string()).or_default() += i128::from(amount);
    }
}

/// The calendar, conversion rates and range of one report.
struct Calendar {
    tz: Tz,
    grouping: Grouping,
    /// The stored month buckets follow this calendar.
    stored_months: bool,
    reporting: Option<Currency>,
    rates: BTreeMap<String, Option<Rate>>,
}

impl Calendar {
    fn period_of_ms(&self, ms: i64) -> NaiveDate {
        period_start(local_date(ms, self.tz), self.grouping)
    }

    fn period_of_month(&self, month: i64) -> NaiveDate {
        period_start(month_start(month), self.grouping)
    }

    fn figures(&self, acc: &Acc, missing: &mut BTreeSet<String>) -> Result<Figures> {
        let mut amounts = Vec::new();
        let mut converted: Option<i64> = Some(0);
        for (code, sum) in &acc.sums {
            let amount_minor = i64::try_from(*sum)
                .map_err(|_| CrmError::invalid("amount_minor", "sum out of range"))?;
            let currency = Currency::parse(code, "currency").map_err(|e| CrmError::Corrupt {
                what: "deals.currency".into(),
                message: e.to_string(),
            })?;
            if let Some(r) = &self.reporting {
                let part = if &currency == r {
                    Some(amount_minor)
                } else {
                    match self.rates.get(code).copied().flatten() {
                        Some(rate) => rate.convert(amount_minor, &currency, r),
                        None => {
                            missing.insert(code.clone());
                            None
                        }
                    }
                };
                converted = converted.zip(part).and_then(|(a, b)| a.checked_add(b));
            }
            amounts.push(Money {
                amount_minor,
                currency,
            });
        }
        let converted = match (&self.reporting, converted) {
            (Some(r), Some(total)) => Some(Money {
                amount_minor: total,
                currency: r.clone(),
            }),
            _ => None,
        };
        Ok(Figures {
            count: acc.count,
            amounts,
            converted,
        })
    }
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// The range before `[from, to)` of the same length: whole months when the range is whole
/// months, else the same number of days.
pub(crate) fn previous_range(from: NaiveDate, to: NaiveDate) -> (NaiveDate, NaiveDate) {
    if from.day() == 1 && to.day() == 1 {
        let months = (month_number(to) - month_number(from)).max(0) as u32;
        if let Some(start) = from.checked_sub_months(chrono::Months::new(months)) {
            return (start, from);
        }
    }
    (from - (to - from), from)
}

impl Crm {
    /// The full funnel report for a pipeline and range. See [`FunnelReport`] for the figures.
    pub fn funnel_report(&self, ctx: &Ctx, q: &FunnelQuery) -> Result<FunnelReport> {
        self.read(ctx, |c, access| {
            let (pipeline, cal) = prepare(c, q)?;
            let mut missing = BTreeSet::new();
            // A user who may read no deal gets the same report over nothing.
            let deals = deal_read_access(access).unwrap_or_else(SqlAccess::nothing);
            let scope = Scope {
                pipeline: pipeline.id,
                access: &deals,
                owner: q.owner_id,
                department: q.department_id,
            };
            let from_ms = local_day_start_ms(q.from, cal.tz);
            let to_ms = local_day_start_ms(q.to, cal.tz);

            // Open deals now: per stage, manager and department.
            let open = funnel::open_deals(c, &scope)?;
            let mut per_stage: BTreeMap<StageId, Acc> = BTreeMap::new();
            let mut mgr: BTreeMap<i64, [Acc; 4]> = BTreeMap::new();
            let mut dep: BTreeMap<i64, [Acc; 4]> = BTreeMap::new();
            const CREATED: usize = 0;
            const WON: usize = 1;
            const LOST: usize = 2;
            const OPEN: usize = 3;
            for a in &open {
                per_stage
                    .entry(a.stage)
                    .or_default()
                    .add(&a.currency, a.count, a.amount);
                mgr.entry(a.owner.0).or_default()[OPEN].add(&a.currency, a.count, a.amount);
                dep.entry(a.dept.0).or_default()[OPEN].add(&a.currency, a.count, a.amount);
            }
            let stages = pipeline
                .stages
                .iter()
                .map(|s| {
                    Ok(StageFigures {
                        stage_id: s.id,
                        name: s.name.clone(),
                        kind: s.kind,
                        open: cal.figures(
                            per_stage.get(&s.id).unwrap_or(&Acc::default()),
                            &mut missing,
                        )?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;

            // Created deals: cohorts and breakdowns.
            let created = created_rows(c, &scope, &cal, q.from, q.to)?;
            let mut cohorts: BTreeMap<(StageId, NaiveDate, UserId), Acc> = BTreeMap::new();
            for (period, a) in &created {
                cohorts.entry((a.stage, *period, a.owner)).or_default().add(
                    &a.currency,
                    a.count,
                    a.amount,
                );
                mgr.entry(a.owner.0).or_default()[CREATED].add(&a.currency, a.count, a.amount);
                dep.entry(a.dept.0).or_default()[CREATED].add(&a.currency, a.count, a.amount);
            }

            // Closed deals: per period, manager, department.
            let closed = funnel::closed_deals(c, &scope, from_ms, to_ms)?;
            let mut won_by: BTreeMap<NaiveDate, Acc> = BTreeMap::new();
            let mut lost_by: BTreeMap<NaiveDate, Acc> = BTreeMap::new();
            for a in &closed {
                let (slot, by) = if a.status == StageKind::Won.as_i64() {
                    (WON, &mut won_by)
                } else {
                    (LOST, &mut lost_by)
                };
                by.entry(cal.period_of_ms(a.time))
                    .or_default()
                    .add(&a.currency, a.count, a.amount);
                mgr.entry(a.owner.0).or_default()[slot].add(&a.currency, a.count, a.amount);
                dep.entry(a.dept.0).or_default()[slot].add(&a.currency, a.count, a.amount);
            }
            let summary = summarize(&cal, q.from, q.to, &created, &closed, &mut missing)?;
            let (pf, pt) = previous_range(q.from, q.to);
            let previous = {
                let created = created_rows(c, &scope, &cal, pf, pt)?;
                let closed = funnel::closed_deals(
                    c,
                    &scope,
                    local_day_start_ms(pf, cal.tz),
                    local_day_start_ms(pt, cal.tz),
                )?;
                summarize(&cal, pf, pt, &created, &closed, &mut missing)?
            };

            // Forecast by expected-close period (dates, no time zone).
            let mut fc: BTreeMap<NaiveDate, Acc> = BTreeMap::new();
            for (date, currency, prob, count, sum) in
                funnel::forecast(c, &scope, &q.from.to_string(), &q.to.to_string())?
            {
                let Some(d) = crate::model::parse_date(&date) else {
                    continue;
                };
                let weighted = (i128::from(sum) * i128::from(prob) + 50) / 100;
                fc.entry(period_start(d, cal.grouping)).or_default().add(
                    &currency,
                    count,
                    i64::try_from(weighted).unwrap_or(i64::MAX),
                );
            }

            let (conversion, stage_times) =
                conversion(&pipeline, &funnel::events(c, &scope, from_ms, to_ms)?);

            let users: BTreeMap<i64, String> = org::users(c)?
                .into_iter()
                .map(|u| (u.id.0, u.name))
                .collect();
            let depts: BTreeMap<i64, String> = org::departments(c)?
                .into_iter()
                .map(|d| (d.id.0, d.name))
                .collect();
            let breakdown = |m: BTreeMap<i64, [Acc; 4]>,
                             names: &BTreeMap<i64, String>,
                             missing: &mut BTreeSet<String>|
             -> Result<Vec<Breakdown>> {
                let mut out = m
                    .into_iter()
                    .map(|(id, [cr, w, l, o])| {
                        Ok(Breakdown {
                            id,
                            name: names.get(&id).cloned().unwrap_or_default(),
                            created: cal.figures(&cr, missing)?,
                            won: cal.figures(&w, missing)?,
                            lost: cal.figures(&l, missing)?,
                            open: cal.figures(&o, missing)?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                // Who brought in the most first.
                out.sort_by(|a, b| b.won.count.cmp(&a.won.count).then(a.id.cmp(&b.id)));
                Ok(out)
            };
            let by_manager = breakdown(mgr, &users, &mut missing)?;
            let by_department = breakdown(dep, &depts, &mut missing)?;

            let by_period = |m: BTreeMap<NaiveDate, Acc>,
                             missing: &mut BTreeSet<String>|
             -> Result<Vec<PeriodFigures>> {
                m.into_iter()
                    .map(|(start, acc)| {
                        Ok(PeriodFigures {
                            period: period_label(start, cal.grouping),
                            start,
                            figures: cal.figures(&acc, missing)?,
                        })
                    })
                    .collect()
            };
            let won_by_period = by_period(won_by, &mut missing)?;
            let lost_by_period = by_period(lost_by, &mut missing)?;
            let forecast = by_period(fc, &mut missing)?;
            let cohorts = cohorts
                .into_iter()
                .map(|((stage_id, start, owner_id), acc)| {
                    Ok(CohortCell {
                        stage_id,
                        period: period_label(start, cal.grouping),
                        owner_id,
                        figures: cal.figures(&acc, &mut missing)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;

            let activity = match activity_read_access(access) {
                Some(sql) => manager_activity(
                    &cal,
                    funnel::done_activities(c, &sql, q.owner_id, q.department_id, from_ms, to_ms)?,
                ),
                None => vec![],
            };
            Ok(FunnelReport {
                pipeline_id: pipeline.id,
                pipeline_name: pipeline.name.clone(),
                time_zone: cal.tz.name().to_string(),
                grouping: cal.grouping,
                stages,
                summary,
                previous,
                won_by_period,
                lost_by_period,
                forecast,
                conversion,
                stage_times,
                by_manager,
                by_department,
                lost_reasons: funnel::lost_reasons(c, &scope, from_ms, to_ms)?
                    .into_iter()
                    .map(|(reason, count)| LostReason { reason, count })
                    .collect(),
                cohorts,
                activity,
                missing_rates: missing
                    .into_iter()
                    .filter_map(|m| Currency::parse(&m, "currency").ok())
                    .collect(),
            })
        })
    }

    /// Only the stage × period × manager pivot of deals created in the range: the cheapest
    /// funnel figure, answered from the covering index when the calendar is the report time
    /// zone's and the grouping is by month or quarter.
    pub fn funnel_pivot(&self, ctx: &Ctx, q: &FunnelQuery) -> Result<Vec<CohortCell>> {
        self.read(ctx, |c, access| {
            let (pipeline, cal) = prepare(c, q)?;
            let Some(deals) = deal_read_access(access) else {
                return Ok(vec![]);
            };
            let scope = Scope {
                pipeline: pipeline.id,
                access: &deals,
                owner: q.owner_id,
                department: q.department_id,
            };
            let mut cells: BTreeMap<(StageId, NaiveDate, UserId), Acc> = BTreeMap::new();
            for (period, a) in created_rows(c, &scope, &cal, q.from, q.to)? {
                cells.entry((a.stage, period, a.owner)).or_default().add(
                    &a.currency,
                    a.count,
                    a.amount,
                );
            }
            let mut missing = BTreeSet::new();
            cells
                .into_iter()
                .map(|((stage_id, start, owner_id), acc)| {
                    Ok(CohortCell {
                        stage_id,
                        period: period_label(start, cal.grouping),
                        owner_id,
                        figures: cal.figures(&acc, &mut missing)?,
                    })
                })
                .collect()
        })
    }
}

/// Validates the query and builds its calendar.
fn prepare(c: &Connection, q: &FunnelQuery) -> Result<(Pipeline, Calendar)> {
    let pipeline = pipelines::get(c, q.pipeline_id)?.ok_or_else(|| {
        CrmError::invalid("pipeline_id", format!("no pipeline {}", q.pipeline_id))
    })?;
    if q.from >= q.to {
        return Err(CrmError::invalid("to", "must be after from"));
    }
    let report_tz = settings::report_tz(c)?;
    let tz = match &q.time_zone {
        Some(name) => crate::period::parse_tz(name, "time_zone")?,
        None => report_tz,
    };
    let grouping = q.grouping;
    let mut periods = 0;
    let mut p = period_start(q.from, grouping);
    while p < q.to {
        periods += 1;
        if periods > MAX_PERIODS {
            return Err(CrmError::invalid(
                "to",
                format!("the range spans more than {MAX_PERIODS} periods"),
            ));
        }
        p = next_period(p, grouping);
    }
    let rate_day = q.rate_date.unwrap_or(q.to - chrono::Duration::days(1));
    let mut rates = BTreeMap::new();
    if let Some(r) = &q.reporting_currency {
        for code in funnel::currencies(c, pipeline.id)? {
            if code != r.as_str() {
                let cur = Currency::parse(&code, "currency").map_err(|e| CrmError::Corrupt {
                    what: "deals.currency".into(),
                    message: e.to_string(),
                })?;
                rates.insert(code, settings::rate_on(c, &cur, r, rate_day)?);
            }
        }
    }
    let cal = Calendar {
        tz,
        grouping,
        stored_months: tz == report_tz,
        reporting: q.reporting_currency.clone(),
        rates,
    };
    Ok((pipeline, cal))
}

/// Deals created in `[from, to)` with the start of their creation period.
fn created_rows(
    c: &Connection,
    scope: &Scope<'_>,
    cal: &Calendar,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, Agg)>> {
    let monthly = matches!(cal.grouping, Grouping::Month | Grouping::Quarter)
        && from.day() == 1
        && to.day() == 1;
    let months = (cal.stored_months && monthly).then(|| (month_number(from), month_number(to) - 1));
    let rows = funnel::created_deals(
        c,
        scope,
        local_day_start_ms(from, cal.tz),
        local_day_start_ms(to, cal.tz),
        months,
    )?;
    Ok(rows
        .into_iter()
        .map(|a| {
            let period = if months.is_some() {
                cal.period_of_month(a.time)
            } else {
                cal.period_of_ms(a.time)
            };
            (period, a)
        })
        .collect())
}

fn summarize(
    cal: &Calendar,
    from: NaiveDate,
    to: NaiveDate,
    created: &[(NaiveDate, Agg)],
    closed: &[Agg],
    missing: &mut BTreeSet<String>,
) -> Result<Summary> {
    let mut cr = Acc::default();
    for (_, a) in created {
        cr.add(&a.currency, a.count, a.amount);
    }
    let (mut won, mut lost, mut cycle_ms) = (Acc::default(), Acc::default(), 0i128);
    for a in closed {
        if a.status == StageKind::Won.as_i64() {
            won.add(&a.currency, a.count, a.amount);
            cycle_ms += i128::from(a.cycle_ms);
        } else {
            lost.add(&a.currency, a.count, a.amount);
        }
    }
    Ok(Summary {
        from,
        to,
        win_rate: ratio(won.count, won.count + lost.count),
        average_cycle_days: (won.count > 0).then(|| cycle_ms as f64 / won.count as f64 / DAY_MS),
        created: cal.figures(&cr, missing)?,
        won: cal.figures(&won, missing)?,
        lost: cal.figures(&lost, missing)?,
    })
}

/// Stage-to-stage conversion and time in stage, from the stage events of each deal (in time
/// order). A deal "reached" open stage `i` when it entered stage `i`, a later open stage or a
/// won stage, so the counts never grow along the funnel and every rate lies in [0, 1].
fn conversion(
    pipeline: &Pipeline,
    events: &[(DealId, StageId, i64)],
) -> (Vec<Conversion>, Vec<StageTime>) {
    let open: Vec<&crate::model::Stage> = pipeline
        .stages
        .iter()
        .filter(|s| s.kind == StageKind::Open)
        .collect();
    let k = open.len();
    let pos = |s: StageId| -> Option<usize> {
        match pipeline.stage(s)?.kind {
            StageKind::Open => open.iter().position(|o| o.id == s),
            StageKind::Won => Some(k),
            StageKind::Lost => None,
        }
    };
    let mut reached = vec![0u64; k + 1];
    let mut stays: BTreeMap<StageId, (u64, i64)> = BTreeMap::new();
    for deal in events.chunk_by(|a, b| a.0 == b.0) {
        if let Some(max) = deal.iter().filter_map(|e| pos(e.1)).max() {
            for r in reached.iter_mut().take(max + 1) {
                *r += 1;
            }
        }
        for w in deal.windows(2) {
            let e = stays.entry(w[0].1).or_default();
            e.0 += 1;
            e.1 += w[1].2 - w[0].2;
        }
    }
    let first_won = pipeline
        .stages
        .iter()
        .find(|s| s.kind == StageKind::Won)
        .map(|s| s.id);
    let conversion = open
        .iter()
        .enumerate()
        .map(|(i, s)| Conversion {
            from_stage_id: s.id,
            to_stage_id: open.get(i + 1).map(|n| n.id).or(first_won),
            reached: reached[i],
            advanced: reached[i + 1],
            rate: ratio(reached[i + 1], reached[i]),
        })
        .collect();
    let times = pipeline
        .stages
        .iter()
        .map(|s| {
            let (n, total) = stays.get(&s.id).copied().unwrap_or_default();
            StageTime {
                stage_id: s.id,
                stays: n,
                average_days: (n > 0).then(|| total as f64 / n as f64 / DAY_MS),
            }
        })
        .collect();
    (conversion, times)
}

fn manager_activity(cal: &Calendar, rows: Vec<(UserId, String, i64)>) -> Vec<ManagerActivity> {
    let mut m: BTreeMap<(UserId, NaiveDate), ManagerActivity> = BTreeMap::new();
    for (user, kind, at) in rows {
        let start = cal.period_of_ms(at);
        let e = m.entry((user, start)).or_insert_with(|| ManagerActivity {
            user_id: user,
            period: period_label(start, cal.grouping),
            ..Default::default()
        });
        match kind.as_str() {
            "task" => e.tasks += 1,
            "call" => e.calls += 1,
            "meeting" => e.meetings += 1,
            "email" => e.emails += 1,
            _ => e.notes += 1,
        }
    }
    m.into_values().collect()
}
