//! The deals fixture: an organisation, a pipeline, N deals spread over 24 months and one client
//! with a long timeline, built through the public API as the system context and cached under
//! `target/bench-data/deals-{n}-v{SCHEMA_VERSION}.db`.
//!
//! The organisation: `Company` → 4 regions → 4 teams each, and 2 sub-teams under the SMB team of
//! every region (29 departments). 200 users: 4 at the company, a head in each region, 8 in each
//! team and sub-team. Roles:
//! - "Sales rep" (Own: read, create, update, change stage of clients, deals and activities),
//!   given to the whole company;
//! - "Head of sales" (All, the same actions plus assign), given to the first company user;
//! - "Regional head" (DepartmentTree, the same actions), given to the head of each region. A
//!   region's subtree is 7 departments holding 49 of the 200 users, about a quarter of the deals.
//!
//! No grant includes records open to everyone, so the tree scope is exactly the 7 departments.
//!
//! The pipeline "New business": Lead, Qualified, Proposal, Negotiation (open), Won, Lost. Each
//! deal is created (`create_deal`, `created_at` uniform over the 24 whole months before the
//! build month) in an open stage (40/30/20/10 %), with a uniformly random owner, EUR (70 %) or
//! USD, an amount of 100.00–50,000.00, an expected close date for half of them and 1 % open to
//! everyone. `CLOSE_PCT` % are then closed with `move_deal` (three fifths won, two fifths lost,
//! 1–90 days after creation).
//!
//! The timeline client: an organisation owned by a user of region North, with 20 deals (each
//! moved Lead → Qualified → Proposal → Negotiation) and 400 activities: 400 activities + 80 stage
//! events + 81 audited changes of the client and its deals.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use crm_core::access::{AccessLevel, Action, EntityType, Grant};
use crm_core::ids::{ClientId, DealId, DepartmentId, PipelineId, StageId, UserId};
use crm_core::model::{
    ActivityKind, NewActivity, NewClient, NewDeal, NewDepartment, NewUser, RoleSubject, StageKind,
    StageMove, StageSpec,
};
use crm_core::money::Currency;
use crm_core::{Crm, SCHEMA_VERSION};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bumped whenever the generator changes, so a cached file from an older generator is rebuilt.
const FIXTURE_VERSION: i64 = 1;
const SEED: u64 = 0xDEA1_5EED_2024;
/// Percentage of deals closed after creation.
pub const CLOSE_PCT: u64 = 20;
const MONTHS: u32 = 24;
const TIMELINE_DEALS: usize = 20;
const TIMELINE_ACTIVITIES: usize = 400;
const PROGRESS_EVERY: usize = 50_000;

/// A built (or reused) fixture.
pub struct Fixture {
    pub path: PathBuf,
    /// Number of bulk deals (the timeline client's 20 deals come on top).
    pub n: usize,
    pub build_secs: f64,
    pub built_now: bool,
    pub pipeline: PipelineId,
    /// Lead, Qualified, Proposal, Negotiation, Won, Lost.
    pub stages: Vec<StageId>,
    /// Read (and change stage) at All.
    pub all_user: UserId,
    /// Read (and change stage) at DepartmentTree of region North.
    pub tree_user: UserId,
    pub region: DepartmentId,
    pub timeline_client: ClientId,
    /// First day of the 24 months the deals were created in.
    pub start: NaiveDate,
    /// First day of the build month: the deals were created before it.
    pub end: NaiveDate,
    /// Everything else recorded at build time (rates, counts).
    pub meta: Value,
}

/// Deterministic generator (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

fn io_err(e: std::io::Error) -> crm_core::CrmError {
    crm_core::CrmError::invalid("bench fixture", e.to_string())
}

/// `deals-1m`, `deals-100k`, `deals-1234`.
fn size_label(n: usize) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}m", n / 1_000_000)
    } else if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// The cached fixture for `n` deals under `dir`, built first when missing or stale.
pub fn load_or_build(dir: &Path, n: usize) -> crm_core::Result<Fixture> {
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let stem = format!("deals-{}-v{SCHEMA_VERSION}", size_label(n));
    let path = dir.join(format!("{stem}.db"));
    let meta_path = dir.join(format!("{stem}.json"));
    if path.exists() {
        if let Some(meta) = std::fs::read(&meta_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(|m| m["fixture_version"] == FIXTURE_VERSION && m["n"] == n)
        {
            return Ok(from_meta(path, meta, false));
        }
    }
    println!(
        "building fixture {} ({n} deals); later runs reuse it",
        path.display()
    );
    let tmp = dir.join(format!("{stem}.building.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
    }
    let started = Instant::now();
    let mut meta = build(&tmp, n)?;
    // Fold the WAL into the main file so the cached file stands alone.
    let conn = rusqlite::Connection::open(&tmp)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    drop(conn);
    let secs = started.elapsed().as_secs_f64();
    meta["build_secs"] = json!(secs);
    std::fs::rename(&tmp, &path).map_err(io_err)?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
    }
    std::fs::write(&meta_path, meta.to_string()).map_err(io_err)?;
    Ok(from_meta(path, meta, true))
}

fn from_meta(path: PathBuf, m: Value, built_now: bool) -> Fixture {
    let id = |k: &str| m[k].as_i64().unwrap_or_default();
    let date = |k: &str| {
        m[k].as_str()
            .and_then(|s| s.parse::<NaiveDate>().ok())
            .unwrap_or_default()
    };
    Fixture {
        path,
        n: m["n"].as_u64().unwrap_or_default() as usize,
        build_secs: m["build_secs"].as_f64().unwrap_or_default(),
        built_now,
        pipeline: PipelineId(id("pipeline")),
        stages: m["stages"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).map(StageId).collect())
            .unwrap_or_default(),
        all_user: UserId(id("all_user")),
        tree_user: UserId(id("tree_user")),
        region: DepartmentId(id("region")),
        timeline_client: ClientId(id("timeline_client")),
        start: date("start"),
        end: date("end"),
        meta: m,
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn build(path: &Path, n: usize) -> crm_core::Result<Value> {
    let crm = Crm::open(path)?;
    let sys = crm.system_context("funnel bench fixture")?;
    let mut rng = Rng(SEED);

    // The organisation.
    let dept = |name: String, parent: Option<DepartmentId>| {
        crm.create_department(
            &sys,
            &NewDepartment {
                name,
                parent_id: parent,
            },
        )
        .map(|d| d.id)
    };
    let mut user_no = 0;
    let mut user = |d: DepartmentId| {
        user_no += 1;
        crm.create_user(
            &sys,
            &NewUser {
                name: format!("Manager {user_no}"),
                email: format!("manager.{user_no}@bench.example"),
                department_id: d,
                admin: false,
            },
        )
        .map(|u| u.id)
    };
    let company = dept("Company".into(), None)?;
    let mut users = Vec::new();
    for _ in 0..4 {
        users.push(user(company)?);
    }
    let all_user = users[0];
    let mut regions = Vec::new();
    for region in ["North", "South", "East", "West"] {
        let r = dept(format!("Region {region}"), Some(company))?;
        let head = user(r)?;
        users.push(head);
        crm.set_department_head(&sys, r, Some(head))?;
        let mut teams = Vec::new();
        for team in ["Key Accounts", "Mid-Market", "SMB", "Public Sector"] {
            let t = dept(format!("{region} {team}"), Some(r))?;
            teams.push(t);
            if team == "SMB" {
                for sub in ["Inbound", "Outbound"] {
                    teams.push(dept(format!("{region} SMB {sub}"), Some(t))?);
                }
            }
        }
        let mut members = Vec::new();
        for t in teams {
            for _ in 0..8 {
                members.push(user(t)?);
            }
        }
        users.extend(&members);
        regions.push((r, head, members));
    }

    let grants = |level, actions: &[Action]| -> Vec<Grant> {
        EntityType::ALL
            .iter()
            .flat_map(|&entity| {
                actions.iter().map(move |&action| Grant {
                    entity,
                    action,
                    level,
                    include_open: false,
                })
            })
            .collect()
    };
    use Action::{Assign, ChangeStage, Create, Read, Update};
    let rep = crm.create_role(
        &sys,
        "Sales rep",
        &grants(AccessLevel::Own, &[Read, Create, Update, ChangeStage]),
    )?;
    crm.assign_role(
        &sys,
        rep.id,
        &RoleSubject::Department {
            department_id: company,
            include_subdepartments: true,
        },
    )?;
    let boss = crm.create_role(
        &sys,
        "Head of sales",
        &grants(
            AccessLevel::All,
            &[Read, Create, Update, ChangeStage, Assign],
        ),
    )?;
    crm.assign_role(&sys, boss.id, &RoleSubject::User { user_id: all_user })?;
    let head = crm.create_role(
        &sys,
        "Regional head",
        &grants(
            AccessLevel::DepartmentTree,
            &[Read, Create, Update, ChangeStage, Assign],
        ),
    )?;
    for (r, _, _) in &regions {
        crm.assign_role(&sys, head.id, &RoleSubject::HeadOf { department_id: *r })?;
    }

    let pipeline = crm.create_pipeline(
        &sys,
        "New business",
        &[
            StageSpec::new("Lead", 10, StageKind::Open),
            StageSpec::new("Qualified", 25, StageKind::Open),
            StageSpec::new("Proposal", 50, StageKind::Open),
            StageSpec::new("Negotiation", 75, StageKind::Open),
            StageSpec::new("Won", 100, StageKind::Won),
            StageSpec::new("Lost", 0, StageKind::Lost),
        ],
    )?;
    let stages: Vec<StageId> = pipeline.stages.iter().map(|s| s.id).collect();
    let eur = Currency::parse("EUR", "currency")?;
    let usd = Currency::parse("USD", "currency")?;

    let now = Utc::now();
    let today = now.date_naive();
    let end = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
    let start = end
        .checked_sub_months(chrono::Months::new(MONTHS))
        .unwrap_or(end);
    let start_ms = ms(start.and_time(chrono::NaiveTime::MIN).and_utc());
    let end_ms = ms(end.and_time(chrono::NaiveTime::MIN).and_utc());

    let new_deal = |i: usize,
                    rng: &mut Rng,
                    owner: UserId,
                    stage: StageId,
                    created: i64,
                    client: Option<ClientId>| {
        let amount_minor = 10_000 + rng.below(4_990_001) as i64;
        let currency = if rng.below(10) < 7 {
            eur.clone()
        } else {
            usd.clone()
        };
        let expected_close_date = (rng.below(2) == 0)
            .then(|| at(created).date_naive() + Duration::days(30 + rng.below(150) as i64));
        NewDeal {
            client_id: client,
            stage_id: Some(stage),
            amount_minor,
            expected_close_date,
            owner_id: Some(owner),
            open: rng.below(100) == 0,
            created_at: Some(at(created)),
            ..NewDeal::new(format!("Deal {i}"), pipeline.id, currency)
        }
    };

    // The timeline client, its deals (walked through the open stages) and its activities.
    let (north, _, north_members) = &regions[0];
    let tl_owner = north_members[0];
    let client = crm.create_client(
        &sys,
        &NewClient {
            owner_id: Some(tl_owner),
            ..NewClient::organization("Timeline Showcase GmbH")
        },
    )?;
    let mut tl_deals = Vec::new();
    for i in 0..TIMELINE_DEALS {
        let created = ms(now) - 40 * 86_400_000 + i as i64 * 3_600_000;
        let mut d = crm.create_deal(
            &sys,
            &new_deal(i, &mut rng, tl_owner, stages[0], created, Some(client.id)),
        )?;
        for (step, s) in stages[1..4].iter().enumerate() {
            d = crm.move_deal(
                &sys,
                d.id,
                d.version,
                &StageMove {
                    stage_id: *s,
                    lost_reason: None,
                    at: Some(at(created + (step as i64 + 1) * 7 * 86_400_000)),
                },
            )?;
        }
        tl_deals.push(d.id);
    }
    for i in 0..TIMELINE_ACTIVITIES {
        let kind = ActivityKind::ALL[i % ActivityKind::ALL.len()];
        let done = kind != ActivityKind::Task;
        crm.create_activity(
            &sys,
            &NewActivity {
                body: (i % 3 == 0).then(|| "Discussed the proposal; follow up next week.".into()),
                client_id: Some(client.id),
                deal_id: (i % 4 == 0).then(|| tl_deals[i % TIMELINE_DEALS]),
                assignee_id: Some(tl_owner),
                due_at: (!done).then(|| now + Duration::days(7)),
                done_at: done.then_some(now),
                ..NewActivity::new(kind, format!("{kind:?} #{i} with Timeline Showcase"))
            },
        )?;
    }

    // The bulk deals.
    let open_weights = [40u64, 30, 20, 10];
    let started = Instant::now();
    let (mut create_secs, mut close_secs, mut closed, mut won) = (0.0, 0.0, 0usize, 0usize);
    let (mut chunk_started, mut chunk_start_done) = (Instant::now(), 0usize);
    for i in 0..n {
        let owner = users[rng.below(users.len() as u64) as usize];
        let mut w = rng.below(100);
        let mut stage = stages[3];
        for (k, weight) in open_weights.iter().enumerate() {
            if w < *weight {
                stage = stages[k];
                break;
            }
            w -= weight;
        }
        let created = start_ms + rng.below((end_ms - start_ms) as u64) as i64;
        let nd = new_deal(TIMELINE_DEALS + i, &mut rng, owner, stage, created, None);
        let t = Instant::now();
        let d = crm.create_deal(&sys, &nd)?;
        create_secs += t.elapsed().as_secs_f64();
        if rng.below(100) < CLOSE_PCT {
            let is_won = rng.below(5) < 3;
            let when = (created + 86_400_000 * (1 + rng.below(90) as i64)).min(end_ms - 1);
            let t = Instant::now();
            crm.move_deal(
                &sys,
                d.id,
                d.version,
                &StageMove {
                    stage_id: if is_won { stages[4] } else { stages[5] },
                    lost_reason: (!is_won).then(|| {
                        ["Price too high", "Went with a competitor", "No budget"]
                            [rng.below(3) as usize]
                            .to_string()
                    }),
                    at: Some(at(when)),
                },
            )?;
            close_secs += t.elapsed().as_secs_f64();
            closed += 1;
            won += usize::from(is_won);
        }
        let done = i + 1;
        if done % PROGRESS_EVERY == 0 || done == n {
            let secs = started.elapsed().as_secs_f64();
            let chunk = chunk_started.elapsed().as_secs_f64();
            let chunk_done = done - chunk_start_done;
            (chunk_started, chunk_start_done) = (Instant::now(), done);
            println!(
                "  {done:>9} deals  {secs:7.1} s  {:6.0} deals/s overall, {:6.0} in the last chunk \
                 (create_deal {:.0} µs avg, close move_deal {:.0} µs avg)",
                done as f64 / secs,
                chunk_done as f64 / chunk,
                create_secs / done as f64 * 1e6,
                if closed > 0 {
                    close_secs / closed as f64 * 1e6
                } else {
                    0.0
                },
            );
        }
    }
    let bulk_secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "fixture_version": FIXTURE_VERSION,
        "n": n,
        "schema_version": SCHEMA_VERSION,
        "departments": 29,
        "users": users.len(),
        "pipeline": pipeline.id,
        "stages": stages,
        "all_user": all_user,
        "tree_user": regions[0].1,
        "region": north,
        "timeline_client": client.id,
        "timeline": {
            "deals": TIMELINE_DEALS,
            "activities": TIMELINE_ACTIVITIES,
            "stage_events": TIMELINE_DEALS * 4,
            "audited_changes": 1 + TIMELINE_DEALS * 4,
        },
        "start": start.to_string(),
        "end": end.to_string(),
        "closed": closed,
        "won": won,
        "bulk_secs": bulk_secs,
        "create_deal_avg_us": create_secs / n.max(1) as f64 * 1e6,
        "close_move_avg_us": if closed > 0 { close_secs / closed as f64 * 1e6 } else { 0.0 },
        "deals_per_s": n as f64 / bulk_secs,
    }))
}

/// Deals ids of the bulk set in one stage, for the move bench (never the timeline client's).
pub fn deals_in_stage(
    conn: &rusqlite::Connection,
    stage: StageId,
    every: i64,
    limit: usize,
) -> rusqlite::Result<Vec<(DealId, i64)>> {
    let mut st = conn.prepare(
        "SELECT id, version FROM deals WHERE stage_id = ? AND client_id IS NULL AND id % ? = 0 ORDER BY id LIMIT ?",
    )?;
    let rows = st.query_map(rusqlite::params![stage.0, every, limit as i64], |r| {
        Ok((DealId(r.get(0)?), r.get(1)?))
    })?;
    rows.collect()
}
