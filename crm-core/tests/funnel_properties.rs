//! Property tests of the funnel report against an independent model.
//!
//! Each case builds a random organisation (a small department tree, users with random roles that
//! grant deal reads at random levels, random department heads), a random pipeline (2–5 open
//! stages, one won and one lost stage) and random deals (owners, 2–3 real currencies, amounts,
//! open flags, creation times clustered around month boundaries, and random stage walks with
//! explicit `at` times) in a real SQLite file, then checks the report against:
//!
//! * what `list_deals` returns for the same user, page by page;
//! * a naive model of who may read what (owner / department / subtree / all / open records),
//!   written from docs/permissions.md;
//! * buckets computed here with chrono-tz in the report's time zone;
//! * `Rate::convert` of the per-currency amounts with the rates in force on the rate day.

mod funnel_common;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use crm_core::access::{AccessLevel, Action, EntityType};
use crm_core::ids::{DealId, StageId, UserId};
use crm_core::model::{
    CohortCell, DealQuery, Department, Figures, FunnelQuery, FunnelReport, NewDeal, PeriodFigures,
    Pipeline, RoleSubject, StageKind, StageMove, Summary, User,
};
use crm_core::money::{Currency, Money, Rate};
use crm_core::period::Grouping;
use crm_core::Ctx;
use funnel_common::*;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use std::collections::{BTreeMap, BTreeSet};

const CODES: [&str; 5] = ["EUR", "USD", "JPY", "GBP", "KWD"];
const REASONS: [&str; 3] = ["Price", "Timing", "Competitor"];
/// Zones other than UTC: whole-hour, half-hour and 45-minute offsets, DST in either hemisphere,
/// a 30-minute DST shift (Lord Howe) and DST changes at midnight (Havana).
const ZONES: [&str; 6] = [
    "America/New_York",
    "Asia/Kolkata",
    "America/Havana",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Europe/Berlin",
];
const DAY_MS: i64 = 86_400_000;

/// `cases` per property, unless `PROPTEST_CASES` asks for another number (for a longer soak).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Step {
    /// Stage index: `0..n_open` open, `n_open` won, `n_open + 1` lost.
    stage: Index,
    /// Close instead: won (`true`) or lost (`false`), so closed deals are common.
    close: Option<bool>,
    /// Minutes after the previous event.
    after_min: i64,
    reason: usize,
}

#[derive(Clone, Debug)]
struct DealSpec {
    owner: Index,
    currency: Index,
    amount: i64,
    open: bool,
    created_ms: i64,
    steps: Vec<Step>,
    close_in_days: Option<i64>,
}

#[derive(Clone, Debug)]
struct Scenario {
    n_open: usize,
    /// Parent of each department after the first (the root).
    parents: Vec<Index>,
    /// A head per department, maybe.
    heads: Vec<Option<Index>>,
    /// Per role: the deal read level and its open switch.
    roles: Vec<(AccessLevel, bool)>,
    /// Per user: department and held roles.
    users: Vec<(Index, Vec<Index>)>,
    codes: Vec<&'static str>,
    deals: Vec<DealSpec>,
}

fn ms_of(y: i32, m: u32, d: u32) -> i64 {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
        .single()
        .unwrap()
        .timestamp_millis()
}

/// A creation time in 2023–2024: uniform, or within 15 hours of a UTC month boundary (where
/// the month of a deal depends on the time zone).
fn instant() -> impl Strategy<Value = i64> {
    prop_oneof![
        ms_of(2023, 1, 1)..ms_of(2025, 1, 1),
        (0u32..24, -15 * 60i64..15 * 60).prop_map(|(m, min)| {
            ms_of(2023 + (m / 12) as i32, m % 12 + 1, 1) + min * 60_000 + 7_000
        }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (
        any::<Index>(),
        prop::option::weighted(0.3, any::<bool>()),
        prop_oneof![1i64..180, 180i64..60 * 24 * 90],
        0usize..REASONS.len(),
    )
        .prop_map(|(stage, close, after_min, reason)| Step {
            stage,
            close,
            after_min,
            reason,
        })
}

fn deal_spec() -> impl Strategy<Value = DealSpec> {
    (
        any::<Index>(),
        any::<Index>(),
        prop_oneof![Just(0i64), 1i64..100, 100i64..10_000_000],
        prop::bool::weighted(0.2),
        instant(),
        prop::collection::vec(step(), 0..=4),
        prop::option::of(0i64..400),
    )
        .prop_map(
            |(owner, currency, amount, open, created_ms, steps, close_in_days)| DealSpec {
                owner,
                currency,
                amount,
                open,
                created_ms,
                steps,
                close_in_days,
            },
        )
}

fn level() -> impl Strategy<Value = AccessLevel> {
    prop::sample::select(AccessLevel::ALL.to_vec())
}

fn scenario(max_deals: usize) -> impl Strategy<Value = Scenario> {
    (
        2usize..=5,
        prop::collection::vec(any::<Index>(), 1..=4),
        prop::collection::vec(prop::option::weighted(0.4, any::<Index>()), 5),
        prop::collection::vec((level(), prop::bool::weighted(0.3)), 1..=3),
        prop::collection::vec(
            (any::<Index>(), prop::collection::vec(any::<Index>(), 0..=2)),
            2..=5,
        ),
        (2usize..=3).prop_flat_map(|n| prop::sample::subsequence(CODES.to_vec(), n)),
        prop::collection::vec(deal_spec(), 0..=max_deals),
    )
        .prop_map(
            |(n_open, parents, heads, roles, users, codes, deals)| Scenario {
                n_open,
                heads: heads[..parents.len() + 1].to_vec(),
                parents,
                roles,
                users,
                codes,
                deals,
            },
        )
}

// ---------------------------------------------------------------------------------------------
// The world: the scenario built through the public API, and the model of it
// ---------------------------------------------------------------------------------------------

/// A deal as the model knows it.
#[derive(Clone, Debug)]
struct MDeal {
    id: DealId,
    owner: usize,
    dept: usize,
    currency: String,
    amount: i64,
    open: bool,
    created_ms: i64,
    /// Current stage index.
    stage: usize,
    closed_ms: Option<i64>,
    /// Stage indices entered, in order, from the creation on.
    entered: Vec<usize>,
    /// When each of them was entered.
    entered_ms: Vec<i64>,
    /// The lost reason while lost.
    lost_reason: Option<&'static str>,
    expected_close: Option<NaiveDate>,
}

struct World {
    env: Env,
    n_open: usize,
    parents: Vec<Option<usize>>,
    heads: Vec<Option<usize>>,
    depts: Vec<Department>,
    users: Vec<User>,
    user_dept: Vec<usize>,
    /// Effective deal read per user: highest level, any open switch.
    read: Vec<(AccessLevel, bool)>,
    pipeline: Pipeline,
    codes: Vec<&'static str>,
    deals: Vec<MDeal>,
}

impl World {
    fn build(s: &Scenario) -> World {
        let env = Env::new();
        let crm = &env.crm;
        let sys = &env.sys;
        let mut parents = vec![None];
        let mut depts = vec![env.dept("D0", None)];
        for (i, p) in s.parents.iter().enumerate() {
            let parent = p.index(i + 1);
            parents.push(Some(parent));
            let d = env.dept(&format!("D{}", i + 1), Some(&depts[parent]));
            depts.push(d);
        }
        let mut users = Vec::new();
        let mut user_dept = Vec::new();
        for (i, (d, _)) in s.users.iter().enumerate() {
            let d = d.index(depts.len());
            users.push(env.user(&format!("U{i}"), &depts[d]));
            user_dept.push(d);
        }
        let roles: Vec<_> = s
            .roles
            .iter()
            .enumerate()
            .map(|(i, (level, open))| {
                crm.create_role(
                    sys,
                    &format!("R{i}"),
                    &[grant(EntityType::Deal, Action::Read, *level, *open)],
                )
                .unwrap()
            })
            .collect();
        let mut read = Vec::new();
        for (u, (_, held)) in s.users.iter().enumerate() {
            let held: BTreeSet<usize> = held.iter().map(|r| r.index(roles.len())).collect();
            let mut eff = (AccessLevel::None, false);
            for r in held {
                crm.assign_role(
                    sys,
                    roles[r].id,
                    &RoleSubject::User {
                        user_id: users[u].id,
                    },
                )
                .unwrap();
                eff.0 = eff.0.max(s.roles[r].0);
                eff.1 |= s.roles[r].1;
            }
            read.push(eff);
        }
        let heads: Vec<Option<usize>> = s
            .heads
            .iter()
            .map(|h| h.map(|i| i.index(users.len())))
            .collect();
        for (d, h) in heads.iter().enumerate() {
            if let Some(u) = h {
                crm.set_department_head(sys, depts[d].id, Some(users[*u].id))
                    .unwrap();
            }
        }
        let names: Vec<String> = (0..s.n_open).map(|i| format!("S{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let pipeline = env.pipeline("Funnel", &names);
        assert_eq!(pipeline.stages.len(), s.n_open + 2);

        let cap = Utc::now().timestamp_millis() - 60_000;
        let mut deals = Vec::new();
        for (i, spec) in s.deals.iter().enumerate() {
            let owner = spec.owner.index(users.len());
            let currency = s.codes[spec.currency.index(s.codes.len())];
            let created = from_ms(spec.created_ms);
            let expected_close = spec
                .close_in_days
                .map(|n| created.date_naive() + Duration::days(n));
            let d = crm
                .create_deal(
                    sys,
                    &NewDeal {
                        open: spec.open,
                        created_at: Some(created),
                        expected_close_date: expected_close,
                        ..owned(
                            new_deal(&format!("Deal {i}"), pipeline.id, currency, spec.amount),
                            users[owner].id,
                        )
                    },
                )
                .unwrap();
            assert_eq!(d.stage_id, pipeline.stages[0].id);
            let mut m = MDeal {
                id: d.id,
                owner,
                dept: user_dept[owner],
                currency: currency.to_string(),
                amount: spec.amount,
                open: spec.open,
                created_ms: spec.created_ms,
                stage: 0,
                closed_ms: None,
                entered: vec![0],
                entered_ms: vec![spec.created_ms],
                lost_reason: None,
                expected_close,
            };
            let mut version = d.version;
            let mut t = spec.created_ms;
            for st in &spec.steps {
                let target = match st.close {
                    Some(true) => s.n_open,
                    Some(false) => s.n_open + 1,
                    None => st.stage.index(s.n_open + 2),
                };
                if target == m.stage {
                    continue;
                }
                t += st.after_min * 60_000;
                if t > cap {
                    break;
                }
                let kind = pipeline.stages[target].kind;
                let moved = crm
                    .move_deal(
                        sys,
                        d.id,
                        version,
                        &StageMove {
                            stage_id: pipeline.stages[target].id,
                            lost_reason: (kind == StageKind::Lost)
                                .then(|| REASONS[st.reason].to_string()),
                            at: Some(from_ms(t)),
                        },
                    )
                    .unwrap();
                version = moved.version;
                m.stage = target;
                m.closed_ms = (kind != StageKind::Open).then_some(t);
                m.entered.push(target);
                m.entered_ms.push(t);
                m.lost_reason = (kind == StageKind::Lost).then_some(REASONS[st.reason]);
                assert_eq!(moved.status, kind);
                assert_eq!(moved.closed_at.map(|c| c.timestamp_millis()), m.closed_ms);
            }
            deals.push(m);
        }
        World {
            env,
            n_open: s.n_open,
            parents,
            heads,
            depts,
            users,
            user_dept,
            read,
            pipeline,
            codes: s.codes.clone(),
            deals,
        }
    }

    fn crm(&self) -> &crm_core::Crm {
        &self.env.crm
    }

    fn ctx(&self, u: Option<usize>) -> Ctx {
        match u {
            Some(u) => self.env.ctx(&self.users[u]),
            None => self.env.sys.clone(),
        }
    }

    fn kind(&self, stage: usize) -> StageKind {
        match stage {
            s if s < self.n_open => StageKind::Open,
            s if s == self.n_open => StageKind::Won,
            _ => StageKind::Lost,
        }
    }

    fn stage_id(&self, stage: usize) -> StageId {
        self.pipeline.stages[stage].id
    }

    /// Whether `ancestor` is `d` or lies above it.
    fn above_or_self(&self, ancestor: usize, d: usize) -> bool {
        let mut cur = Some(d);
        while let Some(c) = cur {
            if c == ancestor {
                return true;
            }
            cur = self.parents[c];
        }
        false
    }

    /// The naive read rule: `None` is the system context, which reads everything.
    fn readable(&self, u: Option<usize>, d: &MDeal) -> bool {
        let Some(u) = u else { return true };
        let (level, open) = self.read[u];
        if open && d.open {
            return true;
        }
        let mut own: BTreeSet<usize> = BTreeSet::from([self.user_dept[u]]);
        own.extend(
            self.heads
                .iter()
                .enumerate()
                .filter(|(_, h)| **h == Some(u))
                .map(|(i, _)| i),
        );
        match level {
            AccessLevel::None => false,
            AccessLevel::Own => d.owner == u,
            AccessLevel::Department => own.contains(&d.dept),
            AccessLevel::DepartmentTree => own.iter().any(|a| self.above_or_self(*a, d.dept)),
            AccessLevel::All => true,
        }
    }

    fn visible(&self, u: Option<usize>) -> Vec<&MDeal> {
        self.deals.iter().filter(|d| self.readable(u, d)).collect()
    }

    fn query(&self, from: NaiveDate, to: NaiveDate) -> FunnelQuery {
        FunnelQuery {
            pipeline_id: self.pipeline.id,
            from,
            to,
            grouping: Grouping::Month,
            time_zone: None,
            owner_id: None,
            department_id: None,
            reporting_currency: None,
            rate_date: None,
        }
    }

    fn report(&self, ctx: &Ctx, q: &FunnelQuery) -> FunnelReport {
        self.crm().funnel_report(ctx, q).expect("funnel report")
    }

    fn subtree(&self, root: usize) -> Vec<usize> {
        (0..self.depts.len())
            .filter(|d| self.above_or_self(root, *d))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Figures and the model's calendar
// ---------------------------------------------------------------------------------------------

/// A count and per-currency sums.
type Fig = (u64, BTreeMap<String, i64>);

/// The figures as (count, per-currency amounts), checking that no currency appears twice and the
/// amounts are sorted by currency.
fn fig(f: &Figures) -> Fig {
    let codes: Vec<&str> = f.amounts.iter().map(|m| m.currency.as_str()).collect();
    assert!(
        codes.windows(2).all(|w| w[0] < w[1]),
        "amounts not one per currency, sorted: {codes:?}"
    );
    (
        f.count,
        f.amounts
            .iter()
            .map(|m| (m.currency.as_str().to_string(), m.amount_minor))
            .collect(),
    )
}

fn fig_of<'a>(deals: impl IntoIterator<Item = &'a MDeal>) -> Fig {
    let mut out: Fig = (0, BTreeMap::new());
    for d in deals {
        out.0 += 1;
        *out.1.entry(d.currency.clone()).or_default() += d.amount;
    }
    out
}

fn fig_of_api<'a>(deals: impl IntoIterator<Item = &'a crm_core::model::Deal>) -> Fig {
    let mut out: Fig = (0, BTreeMap::new());
    for d in deals {
        out.0 += 1;
        *out.1.entry(d.currency.as_str().to_string()).or_default() += d.amount_minor;
    }
    out
}

fn add(acc: &mut Fig, f: &Fig) {
    acc.0 += f.0;
    for (c, a) in &f.1 {
        *acc.1.entry(c.clone()).or_default() += a;
    }
}

fn local_date(ms: i64, tz: Tz) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap()
        .with_timezone(&tz)
        .date_naive()
}

/// The period containing `d`: its first day and label, computed here.
fn period(d: NaiveDate, g: Grouping) -> (NaiveDate, String) {
    match g {
        Grouping::Day => (d, d.format("%Y-%m-%d").to_string()),
        Grouping::Week => {
            let start = d - Duration::days(i64::from(d.weekday().num_days_from_monday()));
            let w = start.iso_week();
            (start, format!("{}-W{:02}", w.year(), w.week()))
        }
        Grouping::Month => {
            let start = NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap();
            (start, start.format("%Y-%m").to_string())
        }
        Grouping::Quarter => {
            let q = (d.month() - 1) / 3;
            let start = NaiveDate::from_ymd_opt(d.year(), q * 3 + 1, 1).unwrap();
            (start, format!("{}-Q{}", d.year(), q + 1))
        }
    }
}

fn in_range(ms: i64, tz: Tz, from: NaiveDate, to: NaiveDate) -> bool {
    let d = local_date(ms, tz);
    from <= d && d < to
}

/// What the model says a range's summary holds: created, won, lost, and the cycle time sum.
struct MSummary {
    created: Fig,
    won: Fig,
    lost: Fig,
    cycle_ms: i128,
}

fn model_summary(w: &World, deals: &[&MDeal], tz: Tz, from: NaiveDate, to: NaiveDate) -> MSummary {
    let created = fig_of(
        deals
            .iter()
            .copied()
            .filter(|d| in_range(d.created_ms, tz, from, to)),
    );
    let closed = |kind: StageKind| {
        deals
            .iter()
            .copied()
            .filter(move |d| {
                w.kind(d.stage) == kind && d.closed_ms.is_some_and(|c| in_range(c, tz, from, to))
            })
            .collect::<Vec<_>>()
    };
    let won = closed(StageKind::Won);
    let cycle_ms = won
        .iter()
        .map(|d| i128::from(d.closed_ms.unwrap() - d.created_ms))
        .sum();
    MSummary {
        created,
        won: fig_of(won),
        lost: fig_of(closed(StageKind::Lost)),
        cycle_ms,
    }
}

fn check_summary(s: &Summary, m: &MSummary, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(fig(&s.created), m.created.clone(), "{}: created", what);
    prop_assert_eq!(fig(&s.won), m.won.clone(), "{}: won", what);
    prop_assert_eq!(fig(&s.lost), m.lost.clone(), "{}: lost", what);
    let (won, lost) = (m.won.0, m.lost.0);
    let rate = (won + lost > 0).then(|| won as f64 / (won + lost) as f64);
    prop_assert_eq!(s.win_rate, rate, "{}: win rate", what);
    match (s.average_cycle_days, won) {
        (None, 0) => {}
        (Some(avg), n) if n > 0 => {
            let expected = m.cycle_ms as f64 / n as f64 / DAY_MS as f64;
            prop_assert!(
                (avg - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                "{}: average cycle {} != {}",
                what,
                avg,
                expected
            );
        }
        (avg, n) => prop_assert!(false, "{}: average cycle {:?} with {} won", what, avg, n),
    }
    Ok(())
}

/// A random report range: whole months, or any days.
#[derive(Clone, Debug)]
enum RangeSpec {
    Months { start: u32, len: u32 },
    Days { start: i64, len: i64 },
}

fn range_spec() -> impl Strategy<Value = RangeSpec> {
    prop_oneof![
        2 => (0u32..30, 1u32..=18).prop_map(|(start, len)| RangeSpec::Months { start, len }),
        2 => (0i64..760, 1i64..=200).prop_map(|(start, len)| RangeSpec::Days { start, len }),
        // Most of the data: the years 2023 and 2024, give or take a few days or months.
        1 => (0u32..=3, 24u32..=27).prop_map(|(start, len)| RangeSpec::Months { start, len }),
        1 => (0i64..=40, 720i64..=760).prop_map(|(start, len)| RangeSpec::Days { start, len }),
    ]
}

impl RangeSpec {
    fn dates(&self) -> (NaiveDate, NaiveDate) {
        match *self {
            RangeSpec::Months { start, len } => {
                let from = day(2022, 10, 1)
                    .checked_add_months(chrono::Months::new(start))
                    .unwrap();
                (
                    from,
                    from.checked_add_months(chrono::Months::new(len)).unwrap(),
                )
            }
            RangeSpec::Days { start, len } => {
                let from = day(2022, 12, 1) + Duration::days(start);
                (from, from + Duration::days(len))
            }
        }
    }
}

fn zone(name: &str) -> Tz {
    name.parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// (1), (2), (3): open sums, conversion, nothing unreadable counted
// ---------------------------------------------------------------------------------------------

fn check_scope_and_open_sums(w: &World, page: u32, range: &RangeSpec) -> Result<(), TestCaseError> {
    let crm = w.crm();
    let everyone: Vec<Option<usize>> = std::iter::once(None)
        .chain((0..w.users.len()).map(Some))
        .collect();
    let (from, to) = range.dates();
    for u in everyone {
        let ctx = w.ctx(u);
        let who = format!("user {u:?} ({:?})", u.map(|u| w.read[u]));
        let listed = all_deals(
            crm,
            &ctx,
            &DealQuery {
                pipeline_id: Some(w.pipeline.id),
                ..Default::default()
            },
            page,
        );
        // The list against the naive model.
        let listed_ids: BTreeSet<DealId> = listed.iter().map(|d| d.id).collect();
        let model_ids: BTreeSet<DealId> = w.visible(u).iter().map(|d| d.id).collect();
        prop_assert_eq!(&listed_ids, &model_ids, "{}: list vs naive model", &who);

        // (1) Per-stage open sums: the list, stage by stage, and the model.
        let report = w.report(&ctx, &w.query(day(2022, 1, 1), day(2027, 1, 1)));
        prop_assert_eq!(report.stages.len(), w.pipeline.stages.len());
        let mut total: Fig = (0, BTreeMap::new());
        for (i, s) in report.stages.iter().enumerate() {
            prop_assert_eq!(s.stage_id, w.stage_id(i));
            prop_assert_eq!(s.kind, w.kind(i));
            let from_list = fig_of_api(
                listed
                    .iter()
                    .filter(|d| d.stage_id == s.stage_id && d.status == StageKind::Open),
            );
            let from_model = fig_of(
                w.visible(u)
                    .into_iter()
                    .filter(|d| d.stage == i && w.kind(i) == StageKind::Open),
            );
            prop_assert_eq!(
                fig(&s.open),
                from_list.clone(),
                "{}: stage {} vs list",
                &who,
                i
            );
            prop_assert_eq!(&from_list, &from_model, "{}: stage {} vs model", &who, i);
            prop_assert_eq!(s.open.converted.clone(), None);
            add(&mut total, &fig(&s.open));
        }
        let open_listed = all_deals(
            crm,
            &ctx,
            &DealQuery {
                pipeline_id: Some(w.pipeline.id),
                status: Some(StageKind::Open),
                ..Default::default()
            },
            page,
        );
        prop_assert_eq!(&total, &fig_of_api(&open_listed), "{}: open total", &who);
        // The same open deals per manager and per department.
        for b in &report.by_manager {
            let mine = fig_of_api(open_listed.iter().filter(|d| d.owner_id.0 == b.id));
            prop_assert_eq!(fig(&b.open), mine, "{}: manager {} open", &who, b.id);
        }
        for b in &report.by_department {
            let theirs = fig_of_api(open_listed.iter().filter(|d| d.department_id.0 == b.id));
            prop_assert_eq!(fig(&b.open), theirs, "{}: department {} open", &who, b.id);
        }
        let managers: u64 = report.by_manager.iter().map(|b| b.open.count).sum();
        prop_assert_eq!(managers, total.0);

        // (2) Conversion: rates in [0, 1], `reached` never grows along the funnel, and the
        // counts are those of the model's stage histories.
        let conv = &report.conversion;
        prop_assert_eq!(conv.len(), w.n_open);
        let in_range_deals: Vec<&MDeal> = w
            .visible(u)
            .into_iter()
            .filter(|d| in_range(d.created_ms, Tz::UTC, day(2022, 1, 1), day(2027, 1, 1)))
            .collect();
        for (i, c) in conv.iter().enumerate() {
            prop_assert_eq!(c.from_stage_id, w.stage_id(i));
            let next = if i + 1 < w.n_open { i + 1 } else { w.n_open };
            prop_assert_eq!(c.to_stage_id, Some(w.stage_id(next)));
            prop_assert!(c.advanced <= c.reached, "{}: {:?}", &who, c);
            match c.rate {
                Some(r) => {
                    prop_assert!((0.0..=1.0).contains(&r), "{}: rate {}", &who, r);
                    prop_assert_eq!(r, c.advanced as f64 / c.reached as f64);
                }
                None => prop_assert_eq!(c.reached, 0),
            }
            if i > 0 {
                prop_assert!(c.reached <= conv[i - 1].reached, "{}: reached grows", &who);
                prop_assert_eq!(c.reached, conv[i - 1].advanced);
            }
            // Reached stage i: entered stage i, a later open stage, or a won stage.
            let reached = |i: usize| {
                in_range_deals
                    .iter()
                    .filter(|d| {
                        d.entered
                            .iter()
                            .any(|&s| w.kind(s) != StageKind::Lost && s >= i)
                    })
                    .count() as u64
            };
            prop_assert_eq!(c.reached, reached(i), "{}: reached {}", &who, i);
            prop_assert_eq!(c.advanced, reached(i + 1), "{}: advanced {}", &who, i);
        }

        // (3) A report over a random range counts only what the user may read, exactly.
        let report = w.report(&ctx, &w.query(from, to));
        let tz = Tz::UTC;
        let created = listed
            .iter()
            .filter(|d| in_range(d.created_at.timestamp_millis(), tz, from, to));
        prop_assert_eq!(
            fig(&report.summary.created),
            fig_of_api(created),
            "{}: created",
            &who
        );
        for kind in [StageKind::Won, StageKind::Lost] {
            let closed = listed.iter().filter(|d| {
                d.status == kind
                    && d.closed_at
                        .is_some_and(|c| in_range(c.timestamp_millis(), tz, from, to))
            });
            let f = if kind == StageKind::Won {
                &report.summary.won
            } else {
                &report.summary.lost
            };
            prop_assert_eq!(fig(f), fig_of_api(closed), "{}: {:?}", &who, kind);
        }
        let visible_owners: BTreeSet<i64> = listed.iter().map(|d| d.owner_id.0).collect();
        let visible_depts: BTreeSet<i64> = listed.iter().map(|d| d.department_id.0).collect();
        for b in &report.by_manager {
            prop_assert!(visible_owners.contains(&b.id), "{}: manager {}", &who, b.id);
        }
        for b in &report.by_department {
            prop_assert!(
                visible_depts.contains(&b.id),
                "{}: department {}",
                &who,
                b.id
            );
        }
        let cohort_count: u64 = report.cohorts.iter().map(|c| c.figures.count).sum();
        prop_assert_eq!(cohort_count, report.summary.created.count);
        for c in &report.cohorts {
            prop_assert!(visible_owners.contains(&c.owner_id.0));
        }
        let lost_reasons: u64 = report.lost_reasons.iter().map(|l| l.count).sum();
        prop_assert_eq!(lost_reasons, report.summary.lost.count);
        let won_periods: u64 = report.won_by_period.iter().map(|p| p.figures.count).sum();
        prop_assert_eq!(won_periods, report.summary.won.count);
        // The forecast: open deals by expected close period, amount × probability.
        let mut groups: BTreeMap<(NaiveDate, String, u8), (u64, i64)> = BTreeMap::new();
        for d in w.visible(u) {
            let Some(close) = d.expected_close else {
                continue;
            };
            if w.kind(d.stage) != StageKind::Open || close < from || close >= to {
                continue;
            }
            let prob = w.pipeline.stages[d.stage].probability;
            let g = groups.entry((close, d.currency.clone(), prob)).or_default();
            g.0 += 1;
            g.1 += d.amount;
        }
        let mut forecast: BTreeMap<String, Fig> = BTreeMap::new();
        for ((close, currency, prob), (n, sum)) in groups {
            let weighted = (i128::from(sum) * i128::from(prob) + 50) / 100;
            let f = forecast
                .entry(period(close, Grouping::Month).1)
                .or_default();
            f.0 += n;
            *f.1.entry(currency).or_default() += i64::try_from(weighted).unwrap();
        }
        let got: BTreeMap<String, Fig> = report
            .forecast
            .iter()
            .map(|p| (p.period.clone(), fig(&p.figures)))
            .collect();
        prop_assert_eq!(got, forecast, "{}: forecast", &who);
        let stays: u64 = report.stage_times.iter().map(|s| s.stays).sum();
        let moves: u64 = w
            .visible(u)
            .iter()
            .filter(|d| in_range(d.created_ms, tz, from, to))
            .map(|d| (d.entered.len() - 1) as u64)
            .sum();
        prop_assert_eq!(stays, moves, "{}: stays", &who);
        // Time in stage: the stays of deals created in the range, from their histories.
        let mut model_stays: BTreeMap<usize, (u64, i64)> = BTreeMap::new();
        for d in w
            .visible(u)
            .iter()
            .filter(|d| in_range(d.created_ms, tz, from, to))
        {
            for k in 1..d.entered.len() {
                let e = model_stays.entry(d.entered[k - 1]).or_default();
                e.0 += 1;
                e.1 += d.entered_ms[k] - d.entered_ms[k - 1];
            }
        }
        prop_assert_eq!(report.stage_times.len(), w.pipeline.stages.len());
        for (i, st) in report.stage_times.iter().enumerate() {
            prop_assert_eq!(st.stage_id, w.stage_id(i));
            let (n, total) = model_stays.get(&i).copied().unwrap_or_default();
            prop_assert_eq!(st.stays, n, "{}: stays in stage {}", &who, i);
            match st.average_days {
                None => prop_assert_eq!(n, 0),
                Some(avg) => {
                    let expected = total as f64 / n as f64 / DAY_MS as f64;
                    prop_assert!(
                        (avg - expected).abs() <= 1e-9 * expected.max(1.0),
                        "{}: {} vs {}",
                        &who,
                        avg,
                        expected
                    );
                }
            }
        }
        // Lost reasons of deals lost in the range, most frequent first.
        let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
        for d in w.visible(u) {
            if w.kind(d.stage) == StageKind::Lost
                && d.closed_ms.is_some_and(|c| in_range(c, tz, from, to))
            {
                *reasons.entry(d.lost_reason.unwrap()).or_default() += 1;
            }
        }
        let mut reasons: Vec<(String, u64)> = reasons
            .into_iter()
            .map(|(r, n)| (r.to_string(), n))
            .collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let got: Vec<(String, u64)> = report
            .lost_reasons
            .iter()
            .map(|l| (l.reason.clone(), l.count))
            .collect();
        prop_assert_eq!(&got, &reasons, "{}: lost reasons", &who);
        // Managers: who brought in the most first.
        let order: Vec<(std::cmp::Reverse<u64>, i64)> = report
            .by_manager
            .iter()
            .map(|b| (std::cmp::Reverse(b.won.count), b.id))
            .collect();
        prop_assert!(
            order.windows(2).all(|p| p[0] < p[1]),
            "{}: managers out of order {:?}",
            &who,
            order
        );
        for b in &report.by_manager {
            let name = &w.users.iter().find(|x| x.id.0 == b.id).unwrap().name;
            prop_assert_eq!(&b.name, name);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(48))]

    /// (1) per-stage open sums equal the open deals in scope (the list and the naive model);
    /// (2) conversion rates lie in [0, 1] and `reached` never grows; (3) no report counts a deal
    /// its user cannot read.
    #[test]
    fn open_sums_conversion_and_scope(s in scenario(24), page in 1u32..=7, range in range_spec()) {
        let w = World::build(&s);
        check_scope_and_open_sums(&w, page, &range)?;
    }
}

// ---------------------------------------------------------------------------------------------
// (4) A department subtree is the sum of its members
// ---------------------------------------------------------------------------------------------

fn open_total(r: &FunnelReport) -> Fig {
    let mut t: Fig = (0, BTreeMap::new());
    for s in &r.stages {
        add(&mut t, &fig(&s.open));
    }
    t
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn a_department_subtree_is_the_sum_of_its_members(
        s in scenario(20),
        who in any::<Index>(),
        range in range_spec(),
    ) {
        let w = World::build(&s);
        let (from, to) = range.dates();
        let u = who.index(w.users.len());
        for viewer in [None, Some(u)] {
            let ctx = w.ctx(viewer);
            let by_owner: Vec<FunnelReport> = w
                .users
                .iter()
                .map(|m| w.report(&ctx, &FunnelQuery { owner_id: Some(m.id), ..w.query(from, to) }))
                .collect();
            for d in 0..w.depts.len() {
                let sub = w.subtree(d);
                let dept = w.report(
                    &ctx,
                    &FunnelQuery { department_id: Some(w.depts[d].id), ..w.query(from, to) },
                );
                let members: Vec<usize> =
                    (0..w.users.len()).filter(|m| sub.contains(&w.user_dept[*m])).collect();
                let mut sums: [Fig; 4] = Default::default();
                for &m in &members {
                    let r = &by_owner[m];
                    add(&mut sums[0], &fig(&r.summary.created));
                    add(&mut sums[1], &fig(&r.summary.won));
                    add(&mut sums[2], &fig(&r.summary.lost));
                    add(&mut sums[3], &open_total(r));
                }
                let what = format!("viewer {viewer:?}, department {d} (members {members:?})");
                prop_assert_eq!(fig(&dept.summary.created), sums[0].clone(), "{}: created", &what);
                prop_assert_eq!(fig(&dept.summary.won), sums[1].clone(), "{}: won", &what);
                prop_assert_eq!(fig(&dept.summary.lost), sums[2].clone(), "{}: lost", &what);
                prop_assert_eq!(open_total(&dept), sums[3].clone(), "{}: open", &what);
                // And the model agrees.
                let in_sub: Vec<&MDeal> = w
                    .visible(viewer)
                    .into_iter()
                    .filter(|x| sub.contains(&x.dept))
                    .collect();
                let m = model_summary(&w, &in_sub, Tz::UTC, from, to);
                check_summary(&dept.summary, &m, &what)?;
                let open = fig_of(in_sub.iter().copied().filter(|x| w.kind(x.stage) == StageKind::Open));
                prop_assert_eq!(open_total(&dept), open, "{}: open vs model", &what);
                // Breakdown rows of a department report stay inside the subtree.
                for b in &dept.by_department {
                    prop_assert!(sub.iter().any(|x| w.depts[*x].id.0 == b.id), "{}: row {}", &what, b.id);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (5) The previous period is the report of the previous range
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn previous_figures_are_the_report_of_the_previous_range(
        s in scenario(20),
        who in prop::option::of(any::<Index>()),
        range in range_spec(),
        tz in prop::option::of(prop::sample::select(ZONES.to_vec())),
        grouping in prop::sample::select(vec![Grouping::Day, Grouping::Week, Grouping::Month, Grouping::Quarter]),
    ) {
        let w = World::build(&s);
        let viewer = who.map(|i| i.index(w.users.len()));
        let ctx = w.ctx(viewer);
        let (from, to) = range.dates();
        let q = FunnelQuery {
            time_zone: tz.map(str::to_string),
            grouping,
            ..w.query(from, to)
        };
        let report = w.report(&ctx, &q);
        // Same length immediately before; whole months for whole-month ranges.
        let (pf, pt) = if from.day() == 1 && to.day() == 1 {
            let months = (to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32;
            (from.checked_sub_months(chrono::Months::new(months as u32)).unwrap(), from)
        } else {
            (from - (to - from), from)
        };
        prop_assert_eq!((report.previous.from, report.previous.to), (pf, pt));
        prop_assert_eq!((report.summary.from, report.summary.to), (from, to));
        let before = w.report(&ctx, &FunnelQuery { from: pf, to: pt, ..q.clone() });
        prop_assert_eq!(&report.previous, &before.summary);
        // Both against the model.
        let zone = tz.map(zone).unwrap_or(Tz::UTC);
        let visible = w.visible(viewer);
        check_summary(&report.summary, &model_summary(&w, &visible, zone, from, to), "summary")?;
        check_summary(&report.previous, &model_summary(&w, &visible, zone, pf, pt), "previous")?;
    }
}

// ---------------------------------------------------------------------------------------------
// (6) Time zones: buckets computed here; stored buckets equal computed ones
// ---------------------------------------------------------------------------------------------

/// The cohort pivot as the model sees it: (stage, period label, owner) → figures.
fn model_cohorts(
    w: &World,
    deals: &[&MDeal],
    tz: Tz,
    g: Grouping,
    from: NaiveDate,
    to: NaiveDate,
) -> BTreeMap<(StageId, String, UserId), Fig> {
    let mut out: BTreeMap<(StageId, String, UserId), Vec<&MDeal>> = BTreeMap::new();
    for d in deals
        .iter()
        .copied()
        .filter(|d| in_range(d.created_ms, tz, from, to))
    {
        let (_, label) = period(local_date(d.created_ms, tz), g);
        out.entry((w.stage_id(d.stage), label, w.users[d.owner].id))
            .or_default()
            .push(d);
    }
    out.into_iter().map(|(k, v)| (k, fig_of(v))).collect()
}

fn cohorts_of(cells: &[CohortCell]) -> BTreeMap<(StageId, String, UserId), Fig> {
    let mut out = BTreeMap::new();
    for c in cells {
        let prev = out.insert((c.stage_id, c.period.clone(), c.owner_id), fig(&c.figures));
        assert!(prev.is_none(), "cohort cell {c:?} listed twice");
    }
    out
}

fn model_closed_by_period(
    w: &World,
    deals: &[&MDeal],
    kind: StageKind,
    tz: Tz,
    g: Grouping,
    from: NaiveDate,
    to: NaiveDate,
) -> BTreeMap<String, (NaiveDate, Fig)> {
    let mut out: BTreeMap<String, (NaiveDate, Vec<&MDeal>)> = BTreeMap::new();
    for d in deals.iter().copied() {
        let Some(c) = d.closed_ms else { continue };
        if w.kind(d.stage) != kind || !in_range(c, tz, from, to) {
            continue;
        }
        let (start, label) = period(local_date(c, tz), g);
        out.entry(label).or_insert((start, vec![])).1.push(d);
    }
    out.into_iter()
        .map(|(k, (start, v))| (k, (start, fig_of(v))))
        .collect()
}

fn periods_of(p: &[PeriodFigures]) -> BTreeMap<String, (NaiveDate, Fig)> {
    let starts: Vec<NaiveDate> = p.iter().map(|x| x.start).collect();
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "periods out of order: {starts:?}"
    );
    p.iter()
        .map(|x| (x.period.clone(), (x.start, fig(&x.figures))))
        .collect()
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn time_zone_buckets_match_chrono_tz_and_stored_buckets_match_computed_ones(
        s in scenario(24),
        who in prop::option::of(any::<Index>()),
        zone_name in prop::sample::select(ZONES.to_vec()),
        range in range_spec(),
        months in (0u32..30, 1u32..=28),
        grouping in prop::sample::select(vec![Grouping::Day, Grouping::Week, Grouping::Month, Grouping::Quarter]),
        monthly in prop::sample::select(vec![Grouping::Month, Grouping::Quarter]),
    ) {
        let w = World::build(&s);
        let viewer = who.map(|i| i.index(w.users.len()));
        let ctx = w.ctx(viewer);
        let visible = w.visible(viewer);
        let tz = zone(zone_name);
        let crm = w.crm();
        prop_assert_eq!(crm.report_time_zone(&ctx).unwrap(), "UTC");

        // A report in another zone than the database's: computed buckets.
        let (from, to) = range.dates();
        let q = FunnelQuery {
            time_zone: Some(zone_name.to_string()),
            grouping,
            ..w.query(from, to)
        };
        let slow = w.report(&ctx, &q);
        prop_assert_eq!(&slow.time_zone, zone_name);
        prop_assert_eq!(slow.grouping, grouping);
        prop_assert_eq!(
            cohorts_of(&slow.cohorts),
            model_cohorts(&w, &visible, tz, grouping, from, to),
            "cohorts in {}", zone_name
        );
        for (kind, got) in [(StageKind::Won, &slow.won_by_period), (StageKind::Lost, &slow.lost_by_period)] {
            prop_assert_eq!(
                periods_of(got),
                model_closed_by_period(&w, &visible, kind, tz, grouping, from, to),
                "{:?} by period in {}", kind, zone_name
            );
        }
        check_summary(&slow.summary, &model_summary(&w, &visible, tz, from, to), zone_name)?;

        // A whole-month pivot, by month or quarter, in the zone and in UTC, before the switch.
        let first = day(2022, 9, 1).checked_add_months(chrono::Months::new(months.0)).unwrap();
        let pq = FunnelQuery {
            grouping: monthly,
            time_zone: Some(zone_name.to_string()),
            ..w.query(first, first.checked_add_months(chrono::Months::new(months.1)).unwrap())
        };
        let pq_utc = FunnelQuery { time_zone: Some("UTC".into()), ..pq.clone() };
        let pivot_zone_before = crm.funnel_pivot(&ctx, &pq).unwrap();
        let pivot_utc_before = crm.funnel_pivot(&ctx, &pq_utc).unwrap();
        prop_assert_eq!(
            cohorts_of(&pivot_zone_before),
            model_cohorts(&w, &visible, tz, monthly, pq.from, pq.to),
            "pivot in {} (computed)", zone_name
        );
        prop_assert_eq!(
            cohorts_of(&pivot_utc_before),
            model_cohorts(&w, &visible, Tz::UTC, monthly, pq.from, pq.to),
            "pivot in UTC (stored)"
        );

        // Switch the database's zone: the stored buckets now follow it.
        crm.set_report_time_zone(&w.env.sys, zone_name).unwrap();
        prop_assert_eq!(crm.report_time_zone(&ctx).unwrap(), zone_name);
        let pivot_zone_after = crm.funnel_pivot(&ctx, &pq).unwrap();
        prop_assert_eq!(&pivot_zone_after, &pivot_zone_before, "stored vs computed pivot in {}", zone_name);
        let pivot_default = crm
            .funnel_pivot(&ctx, &FunnelQuery { time_zone: None, ..pq.clone() })
            .unwrap();
        prop_assert_eq!(&pivot_default, &pivot_zone_before);
        let pivot_utc_after = crm.funnel_pivot(&ctx, &pq_utc).unwrap();
        prop_assert_eq!(&pivot_utc_after, &pivot_utc_before, "UTC pivot, stored vs computed");
        // The full report is the same by either path, whole months or not.
        let fast = w.report(&ctx, &FunnelQuery { time_zone: None, ..q.clone() });
        prop_assert_eq!(&fast, &slow, "report in {} before and after the switch", zone_name);
        // After the switch, UTC is just another zone: still the model's buckets.
        let third = if zone_name == "America/New_York" { "Asia/Kolkata" } else { "America/New_York" };
        let other = w.report(&ctx, &FunnelQuery { time_zone: Some(third.into()), ..q.clone() });
        prop_assert_eq!(
            cohorts_of(&other.cohorts),
            model_cohorts(&w, &visible, zone(third), grouping, from, to),
            "cohorts in {} while the database is in {}", third, zone_name
        );
        check_summary(&other.summary, &model_summary(&w, &visible, zone(third), from, to), third)?;
        let whole = FunnelQuery { grouping: monthly, ..pq.clone() };
        crm.set_report_time_zone(&w.env.sys, "UTC").unwrap();
        let whole_computed = w.report(&ctx, &whole);
        crm.set_report_time_zone(&w.env.sys, zone_name).unwrap();
        let whole_stored = w.report(&ctx, &whole);
        prop_assert_eq!(&whole_stored, &whole_computed, "monthly report, stored vs computed");
    }
}

// ---------------------------------------------------------------------------------------------
// (7) Currencies are never summed without a rate
// ---------------------------------------------------------------------------------------------

/// Every figure of a report.
fn all_figures(r: &FunnelReport) -> Vec<&Figures> {
    let mut out: Vec<&Figures> = Vec::new();
    out.extend(r.stages.iter().map(|s| &s.open));
    for s in [&r.summary, &r.previous] {
        out.extend([&s.created, &s.won, &s.lost]);
    }
    for p in [&r.won_by_period, &r.lost_by_period, &r.forecast] {
        out.extend(p.iter().map(|x| &x.figures));
    }
    for b in r.by_manager.iter().chain(&r.by_department) {
        out.extend([&b.created, &b.won, &b.lost, &b.open]);
    }
    out.extend(r.cohorts.iter().map(|c| &c.figures));
    out
}

/// The converted total the figures should carry: the sum of `Rate::convert` of each amount, or
/// nothing when a rate is missing.
fn expected_converted(
    f: &Figures,
    reporting: &Currency,
    rates: &BTreeMap<String, Option<Rate>>,
) -> Option<Money> {
    let mut total = 0i64;
    for m in &f.amounts {
        let part = if &m.currency == reporting {
            m.amount_minor
        } else {
            rates.get(m.currency.as_str()).copied().flatten()?.convert(
                m.amount_minor,
                &m.currency,
                reporting,
            )?
        };
        total = total.checked_add(part)?;
    }
    Some(Money {
        amount_minor: total,
        currency: reporting.clone(),
    })
}

#[derive(Clone, Debug)]
struct RateSpec {
    /// Days after 2022-12-01.
    day: i64,
    nanos: i64,
}

fn rate_spec() -> impl Strategy<Value = RateSpec> {
    (0i64..1000, 1i64..2_000_000_000_000).prop_map(|(day, nanos)| RateSpec { day, nanos })
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn amounts_are_never_summed_across_currencies(
        s in scenario(20),
        who in prop::option::of(any::<Index>()),
        reporting in any::<Index>(),
        rates in prop::collection::vec(prop::collection::vec(rate_spec(), 0..=3), 3),
        rate_day in prop::option::of(0i64..1000),
        range in range_spec(),
    ) {
        let w = World::build(&s);
        let viewer = who.map(|i| i.index(w.users.len()));
        let ctx = w.ctx(viewer);
        let crm = w.crm();
        let (from, to) = range.dates();
        let reporting = cur(w.codes[reporting.index(w.codes.len())]);
        let others: Vec<&str> = w.codes.iter().copied().filter(|c| *c != reporting.as_str()).collect();

        // Without a reporting currency nothing is converted and nothing is missing.
        let plain = w.report(&ctx, &w.query(from, to));
        prop_assert!(plain.missing_rates.is_empty());
        for f in all_figures(&plain) {
            prop_assert_eq!(&f.converted, &None);
            fig(f);
        }

        // With one but no rates: only figures in the reporting currency alone are converted,
        // and every other currency that appears is named as missing.
        let q = FunnelQuery {
            reporting_currency: Some(reporting.clone()),
            rate_date: rate_day.map(|n| day(2022, 12, 1) + Duration::days(n)),
            ..w.query(from, to)
        };
        let bare = w.report(&ctx, &q);
        // Every user, even one whose grants reach no deal, gets zero converted on empty figures
        // (see `a_user_who_reads_no_deal_gets_zero_converted_too`).
        let expected_converted =
            |f: &Figures, rates: &BTreeMap<String, Option<Rate>>| expected_converted(f, &reporting, rates);
        let no_rates: BTreeMap<String, Option<Rate>> = BTreeMap::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for (f, p) in all_figures(&bare).into_iter().zip(all_figures(&plain)) {
            prop_assert_eq!(fig(f), fig(p), "the amounts do not depend on the reporting currency");
            prop_assert_eq!(&f.converted, &expected_converted(f, &no_rates));
            seen.extend(f.amounts.iter().map(|m| m.currency.as_str().to_string()));
        }
        let missing: Vec<String> = bare.missing_rates.iter().map(|c| c.as_str().to_string()).collect();
        let expected_missing: Vec<String> =
            seen.iter().filter(|c| *c != reporting.as_str()).cloned().collect();
        prop_assert_eq!(&missing, &expected_missing, "missing rates without any rate");

        // Set rates: the one in force is the latest on or before the rate day.
        let rate_day = q.rate_date.unwrap_or(to - Duration::days(1));
        let mut in_force: BTreeMap<String, Option<Rate>> = BTreeMap::new();
        for (code, specs) in others.iter().zip(&rates) {
            let mut by_day: BTreeMap<NaiveDate, Rate> = BTreeMap::new();
            for r in specs {
                let d = day(2022, 12, 1) + Duration::days(r.day);
                crm.set_exchange_rate(&w.env.sys, &cur(code), &reporting, d, Rate(r.nanos)).unwrap();
                by_day.insert(d, Rate(r.nanos));
            }
            let rate = by_day.range(..=rate_day).next_back().map(|(_, r)| *r);
            prop_assert_eq!(crm.exchange_rate(&ctx, &cur(code), &reporting, rate_day).unwrap(), rate);
            in_force.insert(code.to_string(), rate);
        }
        let converted = w.report(&ctx, &q);
        for (f, p) in all_figures(&converted).into_iter().zip(all_figures(&plain)) {
            prop_assert_eq!(fig(f), fig(p));
            let expected = expected_converted(f, &in_force);
            prop_assert_eq!(&f.converted, &expected, "figures {:?}", f.amounts);
        }
        let missing: Vec<String> = converted.missing_rates.iter().map(|c| c.as_str().to_string()).collect();
        let expected_missing: Vec<String> = seen
            .iter()
            .filter(|c| *c != reporting.as_str() && in_force.get(*c).copied().flatten().is_none())
            .cloned()
            .collect();
        prop_assert_eq!(&missing, &expected_missing, "missing rates with rates set");
        // The pivot converts the same way.
        for c in crm.funnel_pivot(&ctx, &q).unwrap() {
            prop_assert_eq!(&c.figures.converted, &expected_converted(&c.figures, &in_force));
        }
    }
}

/// An empty figure with a reporting currency converts to zero, whoever asks: a user whose grants
/// reach no deal at all gets the same (empty) report as a user whose grants reach deals that
/// happen not to exist.
#[test]
fn a_user_who_reads_no_deal_gets_zero_converted_too() {
    let env = Env::new();
    let d = env.dept("Sales", None);
    let reader = env.user("Reader", &d);
    let blind = env.user("Blind", &d);
    env.give_role(
        &reader,
        "Reads own",
        &[grant(
            EntityType::Deal,
            Action::Read,
            AccessLevel::Own,
            false,
        )],
    );
    let p = env.pipeline("Empty", &["Lead"]);
    let q = FunnelQuery {
        pipeline_id: p.id,
        from: day(2024, 1, 1),
        to: day(2024, 2, 1),
        grouping: Grouping::Month,
        time_zone: None,
        owner_id: None,
        department_id: None,
        reporting_currency: Some(cur("EUR")),
        rate_date: None,
    };
    let seen = env.crm.funnel_report(&env.ctx(&reader), &q).unwrap();
    let unseen = env.crm.funnel_report(&env.ctx(&blind), &q).unwrap();
    let zero = Some(Money {
        amount_minor: 0,
        currency: cur("EUR"),
    });
    assert_eq!(seen.stages[0].open.converted, zero);
    assert_eq!(seen.summary.created.converted, zero);
    assert_eq!(
        unseen.stages[0].open.converted, zero,
        "stage figures of a user who reads no deal"
    );
    assert_eq!(
        unseen.summary.created.converted, zero,
        "summary of a user who reads no deal"
    );
    assert_eq!(unseen, seen);
}

/// Deals created after the report zone changed get their stored buckets in the new zone, and a
/// day that starts with a DST gap at midnight (Havana) starts at the first local time that exists.
#[test]
fn buckets_of_new_deals_follow_the_report_zone_and_dst_gaps_at_midnight() {
    let env = Env::new();
    let d = env.dept("Sales", None);
    let ann = env.user("Ann", &d);
    let p = env.pipeline("Zones", &["Lead"]);
    let crm = &env.crm;
    env.crm
        .set_report_time_zone(&env.sys, "America/New_York")
        .unwrap();
    expect_invalid(crm.set_report_time_zone(&env.sys, "Mars/Olympus"), "tz");
    expect_code(crm.set_report_time_zone(&env.ctx(&ann), "Europe/Berlin"), 4);
    let mk = |title: &str, at: DateTime<Utc>, currency: &str| {
        crm.create_deal(
            &env.sys,
            &NewDeal {
                created_at: Some(at),
                ..owned(new_deal(title, p.id, currency, 100), ann.id)
            },
        )
        .unwrap()
    };
    // 23:30 on 31 March in New York, 00:30 on 1 April.
    mk(
        "march",
        Utc.with_ymd_and_hms(2024, 4, 1, 3, 30, 0).unwrap(),
        "EUR",
    );
    mk(
        "april",
        Utc.with_ymd_and_hms(2024, 4, 1, 4, 30, 0).unwrap(),
        "USD",
    );
    let q = |zone: Option<&str>| FunnelQuery {
        pipeline_id: p.id,
        from: day(2024, 3, 1),
        to: day(2024, 5, 1),
        grouping: Grouping::Month,
        time_zone: zone.map(str::to_string),
        owner_id: None,
        department_id: None,
        reporting_currency: None,
        rate_date: None,
    };
    let periods = |cells: Vec<CohortCell>| -> Vec<(String, u64)> {
        cells
            .into_iter()
            .map(|c| (c.period, c.figures.count))
            .collect()
    };
    let stored = crm.funnel_pivot(&env.sys, &q(None)).unwrap();
    assert_eq!(
        periods(stored.clone()),
        [("2024-03".to_string(), 1), ("2024-04".to_string(), 1)]
    );
    assert_eq!(
        periods(crm.funnel_pivot(&env.sys, &q(Some("UTC"))).unwrap()),
        [("2024-04".to_string(), 2)]
    );
    crm.set_report_time_zone(&env.sys, "UTC").unwrap();
    assert_eq!(
        crm.funnel_pivot(&env.sys, &q(Some("America/New_York")))
            .unwrap(),
        stored
    );

    // Havana skips from 00:00 to 01:00 on 12 March 2023.
    mk(
        "before the gap",
        Utc.with_ymd_and_hms(2023, 3, 12, 4, 30, 0).unwrap(),
        "EUR",
    );
    mk(
        "after the gap",
        Utc.with_ymd_and_hms(2023, 3, 12, 5, 30, 0).unwrap(),
        "EUR",
    );
    let havana = |from: NaiveDate| FunnelQuery {
        from,
        to: from + Duration::days(1),
        grouping: Grouping::Day,
        time_zone: Some("America/Havana".into()),
        ..q(None)
    };
    let r = crm
        .funnel_report(&env.sys, &havana(day(2023, 3, 11)))
        .unwrap();
    assert_eq!(r.summary.created.count, 1);
    assert_eq!(r.cohorts[0].period, "2023-03-11");
    let r = crm
        .funnel_report(&env.sys, &havana(day(2023, 3, 12)))
        .unwrap();
    assert_eq!(r.summary.created.count, 1);
    assert_eq!(r.cohorts[0].period, "2023-03-12");
    assert_eq!(r.previous.created.count, 1);
}
