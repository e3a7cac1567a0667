//! End-to-end test on real data: the Maven Analytics "CRM Sales Opportunities" data set
//! (`../shared/data/maven-crm/`, see its SOURCE.md), loaded through the public API only, then
//! checked against figures computed independently from the CSV files with plain Rust.
//!
//! Mapping of the data set onto the engine:
//! - `sales_teams.csv` → a root department "Maven Sales" (headed by a "Head of Sales" who holds
//!   level All), one department per regional office (headed by a regional director created by
//!   this test, level DepartmentTree as `HeadOf`), one department per manager below it (headed
//!   by the manager, level Department as `HeadOf`); agents are members of their manager's
//!   department and get level Own through a role assigned to that department.
//! - `accounts.csv` → organisations (parents first, `subsidiary_of` as the parent), owned by the
//!   Head of Sales and open to everyone; sector etc. as custom fields.
//! - `sales_pipeline.csv` → deals in pipeline "Maven" (Prospecting → Engaging → Won / Lost), owned
//!   by the agent, client = the account (none when the account is blank), amount = close_value
//!   USD × 100 (blank = 0). Every deal is created in Prospecting at its engage date (UTC
//!   midnight); Prospecting deals have no engage date and are created at [`PROSPECTING_CREATED`].
//!   Engaging, Won and Lost deals move to Engaging at the engage date; Won and Lost deals then
//!   move to Won / Lost at their close date (UTC midnight), lost with reason [`LOST_REASON`].

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use crm_core::access::{AccessLevel, Action, EntityType, Grant};
use crm_core::ids::{ClientId, DealId, DepartmentId, UserId};
use crm_core::model::{
    ClientQuery, CustomFieldType, DealQuery, Figures, FunnelQuery, FunnelReport, NewClient,
    NewCustomField, NewDeal, NewDepartment, NewUser, RoleSubject, StageKind, StageMove, StageSpec,
};
use crm_core::money::Currency;
use crm_core::period::Grouping;
use crm_core::{Crm, CrmError, Ctx};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Creation date of the 500 Prospecting deals, which have no engage date in the data set: the
/// first day of the data set's first quarter (the earliest engage date is 2016-10-20).
const PROSPECTING_CREATED: (i32, u32, u32) = (2016, 10, 1);
/// Lost reason of every lost deal (the data set has none).
const LOST_REASON: &str = "Lost (from CSV)";

// ---------------------------------------------------------------------------------------------
// The CSV files (no quoting in them, so splitting on ',' is exact).

fn read_csv(dir: &Path, name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let header = lines.next().expect("a header line");
    let width = header.split(',').count();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let cols: Vec<String> = l.split(',').map(str::to_string).collect();
            assert_eq!(cols.len(), width, "{name}: bad line {l:?}");
            cols
        })
        .collect()
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn date(s: &str) -> Option<NaiveDate> {
    (!s.is_empty()).then(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("bad date {s:?}: {e}"))
    })
}

struct TeamRow {
    agent: String,
    manager: String,
    office: String,
}

struct AccountRow {
    name: String,
    sector: String,
    year_established: i64,
    revenue_musd: f64,
    employees: i64,
    office_location: String,
    subsidiary_of: Option<String>,
}

#[derive(Clone)]
struct Opp {
    id: String,
    agent: String,
    product: String,
    account: Option<String>,
    stage: String,
    engage: Option<NaiveDate>,
    close: Option<NaiveDate>,
    /// close_value in whole USD (0 when blank).
    value: i64,
}

fn load_teams(dir: &Path) -> Vec<TeamRow> {
    read_csv(dir, "sales_teams.csv")
        .into_iter()
        .map(|c| TeamRow {
            agent: c[0].clone(),
            manager: c[1].clone(),
            office: c[2].clone(),
        })
        .collect()
}

fn load_accounts(dir: &Path) -> Vec<AccountRow> {
    read_csv(dir, "accounts.csv")
        .into_iter()
        .map(|c| AccountRow {
            name: c[0].clone(),
            sector: c[1].clone(),
            year_established: c[2].parse().expect("year_established"),
            revenue_musd: c[3].parse().expect("revenue"),
            employees: c[4].parse().expect("employees"),
            office_location: c[5].clone(),
            subsidiary_of: opt(&c[6]),
        })
        .collect()
}

fn load_opps(dir: &Path) -> Vec<Opp> {
    read_csv(dir, "sales_pipeline.csv")
        .into_iter()
        .map(|c| Opp {
            id: c[0].clone(),
            agent: c[1].clone(),
            product: c[2].clone(),
            account: opt(&c[3]),
            stage: c[4].clone(),
            engage: date(&c[5]),
            close: date(&c[6]),
            value: if c[7].is_empty() {
                0
            } else {
                c[7].parse().expect("close_value")
            },
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Independent figures: what the CSV says, and the same figures read from a report.

fn quarter_label(d: NaiveDate) -> String {
    format!("{}-Q{}", d.year(), (d.month() - 1) / 3 + 1)
}

/// The figures compared between the CSV and a funnel report.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    /// Open deals now per open stage.
    prospecting: u64,
    engaging: u64,
    /// Deals created in the range.
    created: u64,
    won: u64,
    lost: u64,
    /// Won value in USD minor units.
    won_usd: i64,
    /// Per quarter of the close date: (won, lost, won USD minor units).
    by_quarter: BTreeMap<String, (u64, u64, i64)>,
}

fn expected<'a>(opps: impl IntoIterator<Item = &'a Opp>) -> Tally {
    let mut t = Tally::default();
    for o in opps {
        t.created += 1;
        match o.stage.as_str() {
            "Prospecting" => t.prospecting += 1,
            "Engaging" => t.engaging += 1,
            "Won" | "Lost" => {
                let q = t
                    .by_quarter
                    .entry(quarter_label(
                        o.close.expect("closed deals have a close date"),
                    ))
                    .or_default();
                if o.stage == "Won" {
                    t.won += 1;
                    t.won_usd += o.value * 100;
                    q.0 += 1;
                    q.2 += o.value * 100;
                } else {
                    t.lost += 1;
                    q.1 += 1;
                }
            }
            other => panic!("unknown deal_stage {other:?}"),
        }
    }
    t
}

/// The USD total of some figures; fails on any other currency.
fn usd(f: &Figures) -> i64 {
    f.amounts
        .iter()
        .map(|m| {
            assert_eq!(m.currency.as_str(), "USD", "only USD amounts expected");
            m.amount_minor
        })
        .sum()
}

fn observed(r: &FunnelReport) -> Tally {
    let open = |name: &str| {
        r.stages
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no stage {name} in the report"))
            .open
            .count
    };
    for s in r.stages.iter().filter(|s| s.kind != StageKind::Open) {
        assert_eq!(s.open.count, 0, "open deals in closed stage {}", s.name);
    }
    let mut by_quarter: BTreeMap<String, (u64, u64, i64)> = BTreeMap::new();
    for p in &r.won_by_period {
        let q = by_quarter.entry(p.period.clone()).or_default();
        q.0 += p.figures.count;
        q.2 += usd(&p.figures);
    }
    for p in &r.lost_by_period {
        by_quarter.entry(p.period.clone()).or_default().1 += p.figures.count;
    }
    Tally {
        prospecting: open("Prospecting"),
        engaging: open("Engaging"),
        created: r.summary.created.count,
        won: r.summary.won.count,
        lost: r.summary.lost.count,
        won_usd: usd(&r.summary.won),
        by_quarter,
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers over the API.

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

fn email(name: &str) -> String {
    let local: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' { '.' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .collect();
    format!("{local}@maven.example")
}

fn grants(level: AccessLevel, actions: &[Action], open_clients: bool) -> Vec<Grant> {
    [EntityType::Client, EntityType::Deal]
        .into_iter()
        .flat_map(|entity| {
            actions.iter().map(move |&action| Grant {
                entity,
                action,
                level,
                include_open: open_clients && entity == EntityType::Client,
            })
        })
        .collect()
}

/// Every deal the actor can list, walking all pages.
fn all_deals(crm: &Crm, ctx: &Ctx) -> crm_core::Result<Vec<crm_core::model::Deal>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = crm.list_deals(
            ctx,
            &DealQuery {
                limit: Some(500),
                after: after.take(),
                ..Default::default()
            },
        )?;
        out.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

fn ids(deals: &[crm_core::model::Deal]) -> BTreeSet<DealId> {
    let set: BTreeSet<DealId> = deals.iter().map(|d| d.id).collect();
    assert_eq!(set.len(), deals.len(), "a deal listed twice");
    set
}

// ---------------------------------------------------------------------------------------------

#[test]
fn maven_crm_data_set_end_to_end() -> crm_core::Result<()> {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/maven-crm");
    if !data.join("sales_pipeline.csv").is_file() {
        println!(
            "SKIPPED maven_e2e: data set not found at {} (see the project's shared data)",
            data.display()
        );
        return Ok(());
    }
    let t0 = Instant::now();
    let teams = load_teams(&data);
    let accounts = load_accounts(&data);
    let opps = load_opps(&data);
    assert_eq!(
        (teams.len(), accounts.len(), opps.len()),
        (35, 85, 8_800),
        "rows of sales_teams, accounts, sales_pipeline"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let crm = Crm::open(dir.path().join("maven.db"))?;
    let sys = crm.system_context("maven e2e import")?;

    // ---- organisation ----
    let dept = |name: &str, parent: Option<DepartmentId>| {
        crm.create_department(
            &sys,
            &NewDepartment {
                name: name.into(),
                parent_id: parent,
            },
        )
    };
    let user = |name: &str, department_id: DepartmentId| {
        crm.create_user(
            &sys,
            &NewUser {
                name: name.into(),
                email: email(name),
                department_id,
                admin: false,
            },
        )
    };
    use Action::{Assign, ChangeStage, Create, Read, Update};
    let agent_role = crm.create_role(
        &sys,
        "Sales agent",
        &grants(AccessLevel::Own, &[Read, Create, Update, ChangeStage], true),
    )?;
    let manager_role = crm.create_role(
        &sys,
        "Sales manager",
        &grants(
            AccessLevel::Department,
            &[Read, Create, Update, Assign, ChangeStage],
            true,
        ),
    )?;
    let director_role = crm.create_role(
        &sys,
        "Regional director",
        &grants(
            AccessLevel::DepartmentTree,
            &[Read, Create, Update, Assign, ChangeStage],
            true,
        ),
    )?;
    let all_role = crm.create_role(
        &sys,
        "Head of sales",
        &grants(AccessLevel::All, &[Read, Create, Update, Assign], true),
    )?;

    let root = dept("Maven Sales", None)?;
    let head_of_sales = user("Head of Sales", root.id)?;
    crm.set_department_head(&sys, root.id, Some(head_of_sales.id))?;
    crm.assign_role(
        &sys,
        all_role.id,
        &RoleSubject::User {
            user_id: head_of_sales.id,
        },
    )?;

    // office → (department, director); manager → (department, user, office); agent → user.
    let mut offices: BTreeMap<String, (DepartmentId, UserId)> = BTreeMap::new();
    let mut managers: BTreeMap<String, (DepartmentId, UserId, String)> = BTreeMap::new();
    let mut agents: BTreeMap<String, UserId> = BTreeMap::new();
    let mut team_of: HashMap<String, String> = HashMap::new(); // agent → manager
    for t in &teams {
        if !offices.contains_key(&t.office) {
            let d = dept(&t.office, Some(root.id))?;
            let director = user(&format!("{} Regional Director", t.office), d.id)?;
            crm.set_department_head(&sys, d.id, Some(director.id))?;
            crm.assign_role(
                &sys,
                director_role.id,
                &RoleSubject::HeadOf {
                    department_id: d.id,
                },
            )?;
            offices.insert(t.office.clone(), (d.id, director.id));
        }
        if !managers.contains_key(&t.manager) {
            let office = offices[&t.office].0;
            let d = dept(&format!("{} / {}", t.office, t.manager), Some(office))?;
            let m = user(&t.manager, d.id)?;
            crm.set_department_head(&sys, d.id, Some(m.id))?;
            crm.assign_role(
                &sys,
                manager_role.id,
                &RoleSubject::HeadOf {
                    department_id: d.id,
                },
            )?;
            crm.assign_role(
                &sys,
                agent_role.id,
                &RoleSubject::Department {
                    department_id: d.id,
                    include_subdepartments: false,
                },
            )?;
            managers.insert(t.manager.clone(), (d.id, m.id, t.office.clone()));
        } else {
            assert_eq!(managers[&t.manager].2, t.office, "a manager in two offices");
        }
        let a = user(&t.agent, managers[&t.manager].0)?;
        assert!(
            agents.insert(t.agent.clone(), a.id).is_none(),
            "agent twice"
        );
        team_of.insert(t.agent.clone(), t.manager.clone());
    }
    assert_eq!((offices.len(), managers.len(), agents.len()), (3, 6, 35));

    // ---- accounts, parents first ----
    for (key, label, field_type) in [
        ("sector", "Sector", CustomFieldType::Text),
        (
            "year_established",
            "Year established",
            CustomFieldType::Number,
        ),
        (
            "revenue_musd",
            "Revenue (USD millions)",
            CustomFieldType::Number,
        ),
        ("employees", "Employees", CustomFieldType::Number),
        ("office_location", "Office location", CustomFieldType::Text),
    ] {
        crm.define_custom_field(
            &sys,
            &NewCustomField {
                entity: EntityType::Client,
                key: key.into(),
                label: label.into(),
                field_type,
                options: vec![],
                required: false,
            },
        )?;
    }
    let mut account_ids: HashMap<String, ClientId> = HashMap::new();
    let mut pending: Vec<&AccountRow> = accounts.iter().collect();
    while !pending.is_empty() {
        let (ready, rest): (Vec<&AccountRow>, Vec<&AccountRow>) =
            pending.into_iter().partition(|a| {
                a.subsidiary_of
                    .as_ref()
                    .is_none_or(|p| account_ids.contains_key(p))
            });
        assert!(!ready.is_empty(), "subsidiary_of has a cycle or a gap");
        let batch: Vec<NewClient> = ready
            .iter()
            .map(|a| NewClient {
                parent_id: a.subsidiary_of.as_ref().map(|p| account_ids[p]),
                owner_id: Some(head_of_sales.id),
                open: true,
                custom: [
                    ("sector".to_string(), json!(a.sector)),
                    ("year_established".to_string(), json!(a.year_established)),
                    ("revenue_musd".to_string(), json!(a.revenue_musd)),
                    ("employees".to_string(), json!(a.employees)),
                    ("office_location".to_string(), json!(a.office_location)),
                ]
                .into(),
                ..NewClient::organization(a.name.clone())
            })
            .collect();
        let created = crm.create_clients(&sys, &batch)?;
        for (a, id) in ready.iter().zip(created) {
            assert!(account_ids.insert(a.name.clone(), id).is_none());
        }
        pending = rest;
    }
    // The hierarchy as stored: each parent's direct subsidiaries.
    let mut subsidiaries: BTreeMap<&str, BTreeSet<ClientId>> = BTreeMap::new();
    for a in &accounts {
        if let Some(p) = &a.subsidiary_of {
            subsidiaries
                .entry(p.as_str())
                .or_default()
                .insert(account_ids[&a.name]);
        }
    }
    for (parent, children) in &subsidiaries {
        let page = crm.list_clients(
            &sys,
            &ClientQuery {
                parent_id: Some(account_ids[*parent]),
                limit: Some(500),
                ..Default::default()
            },
        )?;
        let got: BTreeSet<ClientId> = page.items.iter().map(|c| c.id).collect();
        assert_eq!(&got, children, "subsidiaries of {parent}");
    }
    let t_org = t0.elapsed();

    // ---- pipeline and deals ----
    let pipeline = crm.create_pipeline(
        &sys,
        "Maven",
        &[
            StageSpec::new("Prospecting", 10, StageKind::Open),
            StageSpec::new("Engaging", 40, StageKind::Open),
            StageSpec::new("Won", 100, StageKind::Won),
            StageSpec::new("Lost", 0, StageKind::Lost),
        ],
    )?;
    let stage = |name: &str| {
        pipeline
            .stages
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.id)
            .expect("stage")
    };
    let (engaging, won, lost) = (stage("Engaging"), stage("Won"), stage("Lost"));
    let usd_code = Currency::parse("USD", "currency")?;
    let (y, m, d) = PROSPECTING_CREATED;
    let prospecting_created = NaiveDate::from_ymd_opt(y, m, d).expect("date");

    let mut deal_of: Vec<DealId> = Vec::with_capacity(opps.len());
    for o in &opps {
        let created_on = o.engage.unwrap_or(prospecting_created);
        let mut deal = crm.create_deal(
            &sys,
            &NewDeal {
                client_id: o.account.as_ref().map(|a| account_ids[a]),
                amount_minor: o.value * 100,
                owner_id: Some(agents[&o.agent]),
                created_at: Some(midnight(created_on)),
                ..NewDeal::new(
                    format!("{} {}", o.id, o.product),
                    pipeline.id,
                    usd_code.clone(),
                )
            },
        )?;
        let mut steps: Vec<(crm_core::ids::StageId, NaiveDate, Option<String>)> = vec![];
        match o.stage.as_str() {
            "Prospecting" => {}
            "Engaging" => steps.push((engaging, created_on, None)),
            "Won" | "Lost" => {
                steps.push((engaging, created_on, None));
                let close = o.close.expect("close date");
                if o.stage == "Won" {
                    steps.push((won, close, None));
                } else {
                    steps.push((lost, close, Some(LOST_REASON.to_string())));
                }
            }
            other => panic!("unknown deal_stage {other:?}"),
        }
        for (stage_id, on, lost_reason) in steps {
            deal = crm.move_deal(
                &sys,
                deal.id,
                deal.version,
                &StageMove {
                    stage_id,
                    lost_reason,
                    at: Some(midnight(on)),
                },
            )?;
        }
        deal_of.push(deal.id);
    }
    let t_deals = t0.elapsed();

    // ---- the whole funnel, as the system and as the Head of Sales (level All) ----
    let query = |department_id: Option<DepartmentId>| FunnelQuery {
        pipeline_id: pipeline.id,
        from: prospecting_created,
        to: NaiveDate::from_ymd_opt(2018, 1, 1).expect("date"),
        grouping: Grouping::Quarter,
        time_zone: Some("UTC".into()),
        owner_id: None,
        department_id,
        reporting_currency: None,
        rate_date: None,
    };
    let report = crm.funnel_report(&sys, &query(None))?;
    let want = expected(&opps);
    assert_eq!(
        (want.prospecting, want.engaging, want.won, want.lost),
        (500, 1_589, 4_238, 2_473),
        "the CSV itself"
    );
    assert_eq!(observed(&report), want, "whole funnel (system context)");
    let as_head = crm.user_context(head_of_sales.id)?;
    let head_report = crm.funnel_report(&as_head, &query(None))?;
    assert_eq!(head_report, report, "level All sees what the system sees");

    println!(
        "\nMaven funnel, {} to {}:",
        query(None).from,
        query(None).to
    );
    println!(
        "  open: Prospecting {}, Engaging {}; won {} (USD {}), lost {}, win rate {:.4}",
        want.prospecting,
        want.engaging,
        want.won,
        want.won_usd / 100,
        want.lost,
        report.summary.win_rate.unwrap_or(f64::NAN)
    );

    // Win rate per quarter of the close date.
    println!("  quarter   won  lost  win rate  won USD");
    for (q, (w, l, v)) in &want.by_quarter {
        let rw = report
            .won_by_period
            .iter()
            .find(|p| &p.period == q)
            .map_or(0, |p| p.figures.count);
        let rl = report
            .lost_by_period
            .iter()
            .find(|p| &p.period == q)
            .map_or(0, |p| p.figures.count);
        let rate = *w as f64 / (*w + *l) as f64;
        let got = rw as f64 / (rw + rl) as f64;
        assert!((rate - got).abs() < 1e-12, "win rate {q}: {rate} vs {got}");
        println!("  {q}  {w:>5} {l:>5}  {rate:.4}  {:>9}", v / 100);
    }
    let overall = want.won as f64 / (want.won + want.lost) as f64;
    let rate = report.summary.win_rate.expect("a win rate");
    assert!(
        (overall - rate).abs() < 1e-12,
        "win rate {overall} vs {rate}"
    );

    // Average sales cycle of won deals: close - engage.
    let won_days: Vec<i64> = opps
        .iter()
        .filter(|o| o.stage == "Won")
        .map(|o| (o.close.expect("close") - o.engage.expect("engage")).num_days())
        .collect();
    let cycle = won_days.iter().sum::<i64>() as f64 / won_days.len() as f64;
    let got = report.summary.average_cycle_days.expect("a cycle");
    assert!((cycle - got).abs() < 1e-6, "cycle {cycle} vs {got}");
    println!("  average cycle of won deals: {cycle:.3} days");

    // Stage conversion: everyone starts in Prospecting; all but the Prospecting deals reached
    // Engaging; the won deals went on from Engaging.
    let conv: Vec<(u64, u64)> = report
        .conversion
        .iter()
        .map(|c| (c.reached, c.advanced))
        .collect();
    assert_eq!(
        conv,
        vec![(8_800, 8_300), (8_300, 4_238)],
        "conversion Prospecting→Engaging→Won"
    );
    assert_eq!(
        report.lost_reasons,
        vec![crm_core::model::LostReason {
            reason: LOST_REASON.to_string(),
            count: 2_473
        }],
        "lost reasons"
    );
    assert_eq!(report.previous.created.count, 0, "nothing before the range");
    assert_eq!(
        report.cohorts.iter().map(|c| c.figures.count).sum::<u64>(),
        8_800,
        "cohorts cover every deal"
    );

    // Per manager department (by_department) and per regional office.
    let team_opps = |manager: &str| {
        opps.iter()
            .filter(|o| team_of[&o.agent] == manager)
            .collect::<Vec<_>>()
    };
    let office_opps = |office: &str| {
        opps.iter()
            .filter(|o| managers[&team_of[&o.agent]].2 == office)
            .collect::<Vec<_>>()
    };
    let breakdown_by_id = |list: &[crm_core::model::Breakdown], id: i64| {
        list.iter()
            .find(|b| b.id == id)
            .map(|b| (b.won.count, usd(&b.won), b.lost.count, b.open.count))
            .unwrap_or_default()
    };
    let csv_breakdown = |os: &[&Opp]| {
        let t = expected(os.iter().copied());
        (t.won, t.won_usd, t.lost, t.prospecting + t.engaging)
    };
    println!("  won value per manager (department):");
    for (name, (d, _, office)) in &managers {
        let want = csv_breakdown(&team_opps(name));
        let got = breakdown_by_id(&report.by_department, d.0);
        assert_eq!(
            got, want,
            "by_department of {name}'s team (won, USD, lost, open)"
        );
        println!(
            "    {office:<8} {name:<18} won {:>4}  USD {:>10}",
            want.0,
            want.1 / 100
        );
    }
    assert_eq!(
        report.by_department.len(),
        managers.len(),
        "deals are stamped with manager departments only"
    );
    for (name, a) in &agents {
        let os: Vec<&Opp> = opps.iter().filter(|o| &o.agent == name).collect();
        let got = breakdown_by_id(&report.by_manager, a.0);
        assert_eq!(got, csv_breakdown(&os), "by_manager of agent {name}");
    }
    println!("  won value per regional office:");
    for (office, (d, _)) in &offices {
        let os = office_opps(office);
        let want = expected(os.iter().copied());
        let summed: i64 = managers
            .values()
            .filter(|m| &m.2 == office)
            .map(|m| breakdown_by_id(&report.by_department, m.0 .0).1)
            .sum();
        assert_eq!(
            summed, want.won_usd,
            "won USD of {office} from by_department"
        );
        let filtered = crm.funnel_report(&sys, &query(Some(*d)))?;
        assert_eq!(observed(&filtered), want, "department filter {office}");
        println!(
            "    {office:<8} won {:>4}  USD {:>10}  lost {:>4}  win rate {:.4}",
            want.won,
            want.won_usd / 100,
            want.lost,
            want.won as f64 / (want.won + want.lost) as f64
        );
    }

    // Deals created per quarter (the cohort pivot), from the stored month buckets.
    let mut want_created: BTreeMap<String, u64> = BTreeMap::new();
    for o in &opps {
        *want_created
            .entry(quarter_label(o.engage.unwrap_or(prospecting_created)))
            .or_default() += 1;
    }
    let mut got_created: BTreeMap<String, u64> = BTreeMap::new();
    for c in &report.cohorts {
        *got_created.entry(c.period.clone()).or_default() += c.figures.count;
    }
    assert_eq!(got_created, want_created, "deals created per quarter");
    assert_eq!(
        crm.funnel_pivot(&sys, &query(None))?,
        report.cohorts,
        "funnel_pivot is the report's pivot"
    );

    // The same data on a New York calendar by month: UTC midnight is the evening before there,
    // so every date moves back a day, and the Prospecting deals (created 2016-10-01 00:00 UTC)
    // fall into the previous range.
    let ny_query = FunnelQuery {
        grouping: Grouping::Month,
        time_zone: Some("America/New_York".into()),
        ..query(None)
    };
    let ny = crm.funnel_report(&sys, &ny_query)?;
    let ny_month = |d: NaiveDate| (d - chrono::Duration::days(1)).format("%Y-%m").to_string();
    let mut want_ny: BTreeMap<String, (u64, u64, u64, i64)> = BTreeMap::new(); // created, won, lost, won USD
    for o in &opps {
        if let Some(e) = o.engage {
            want_ny.entry(ny_month(e)).or_default().0 += 1;
        }
        if let Some(c) = o.close {
            let m = want_ny.entry(ny_month(c)).or_default();
            if o.stage == "Won" {
                m.1 += 1;
                m.3 += o.value * 100;
            } else {
                m.2 += 1;
            }
        }
    }
    let mut got_ny: BTreeMap<String, (u64, u64, u64, i64)> = BTreeMap::new();
    for c in &ny.cohorts {
        got_ny.entry(c.period.clone()).or_default().0 += c.figures.count;
    }
    for p in &ny.won_by_period {
        let m = got_ny.entry(p.period.clone()).or_default();
        m.1 += p.figures.count;
        m.3 += usd(&p.figures);
    }
    for p in &ny.lost_by_period {
        got_ny.entry(p.period.clone()).or_default().2 += p.figures.count;
    }
    assert_eq!(
        got_ny, want_ny,
        "New York months: created, won, lost, won USD"
    );
    assert_eq!(
        (ny.summary.created.count, ny.previous.created.count),
        (8_300, 500),
        "New York range: created in range and in the previous range"
    );
    let t_reports = t0.elapsed();

    // ---- who sees what ----
    let expected_ids = |os: &[&Opp]| -> BTreeSet<DealId> {
        let idx: HashMap<&str, DealId> = opps
            .iter()
            .zip(&deal_of)
            .map(|(o, id)| (o.id.as_str(), *id))
            .collect();
        os.iter().map(|o| idx[o.id.as_str()]).collect()
    };
    assert_eq!(
        ids(&all_deals(&crm, &as_head)?),
        deal_of.iter().copied().collect(),
        "the Head of Sales lists every deal"
    );
    for (office, (d, director)) in &offices {
        let ctx = crm.user_context(*director)?;
        let os = office_opps(office);
        let listed = all_deals(&crm, &ctx)?;
        assert_eq!(
            ids(&listed),
            expected_ids(&os),
            "deals {office}'s director lists"
        );
        assert_eq!(
            observed(&crm.funnel_report(&ctx, &query(None))?),
            expected(os.iter().copied()),
            "funnel of {office}'s director"
        );
        assert!(listed.iter().all(|x| x.department_id != *d));
    }
    for (name, (d, m, _)) in &managers {
        let ctx = crm.user_context(*m)?;
        let os = team_opps(name);
        let listed = all_deals(&crm, &ctx)?;
        assert!(listed.iter().all(|x| x.department_id == *d));
        assert_eq!(
            ids(&listed),
            expected_ids(&os),
            "deals manager {name} lists"
        );
        let r = crm.funnel_report(&ctx, &query(None))?;
        assert_eq!(
            observed(&r),
            expected(os.iter().copied()),
            "funnel of {name}"
        );
        assert!(
            r.by_department.iter().all(|b| b.id == d.0),
            "{name} sees only their department in by_department"
        );
        // A deal of another team is invisible to the manager.
        let other = opps
            .iter()
            .position(|o| team_of[&o.agent] != *name)
            .expect("another team");
        assert!(matches!(
            crm.get_deal(&ctx, deal_of[other]),
            Err(CrmError::NotFound { .. })
        ));
    }
    for (name, a) in &agents {
        let ctx = crm.user_context(*a)?;
        let os: Vec<&Opp> = opps.iter().filter(|o| &o.agent == name).collect();
        let listed = all_deals(&crm, &ctx)?;
        assert_eq!(ids(&listed), expected_ids(&os), "deals agent {name} lists");
        assert!(listed.iter().all(|x| x.owner_id == *a));
        assert_eq!(
            observed(&crm.funnel_report(&ctx, &query(None))?),
            expected(os.iter().copied()),
            "funnel of agent {name}"
        );
        // A teammate's deal is invisible; the (open) accounts are all readable.
        if let Some(i) = opps
            .iter()
            .position(|o| &o.agent != name && team_of[&o.agent] == team_of[name])
        {
            assert!(matches!(
                crm.get_deal(&ctx, deal_of[i]),
                Err(CrmError::NotFound { .. })
            ));
        }
    }
    let as_agent = crm.user_context(agents["Darcel Schlecht"])?;
    let count = crm.count_clients(&as_agent, &ClientQuery::default(), 1_000)?;
    assert_eq!(count.count, 85, "open accounts are readable by agents");

    println!(
        "\ntimings: org+accounts {:.1?}, deals {:.1?}, reports {:.1?}, visibility {:.1?}",
        t_org,
        t_deals - t_org,
        t_reports - t_deals,
        t0.elapsed() - t_reports
    );
    Ok(())
}
