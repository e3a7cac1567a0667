//! One `Crm` shared by many threads (and two handles on one file, as two processes would):
//! mixed reads and writes never fail with anything but `Conflict` — never `SQLITE_BUSY` or
//! another storage error — and the final numbers add up.

mod common;

use common::*;
use crm_core::access::{AccessLevel, Action, EntityType};
use crm_core::ids::ClientId;
use crm_core::model::{
    ClientQuery, ClientUpdate, CustomFieldType, NewClient, NewCustomField, NewUser, Patch,
    RoleSubject, SearchQuery, User,
};
use crm_core::{Crm, CrmError, Ctx};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

const THREADS: usize = 8;
const ITERATIONS: usize = 60;
const SHARED: usize = 6;

/// A small deterministic generator, one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Workers in Sales with every client right at level "all", a numeric custom field, and a few
/// shared clients everybody updates.
struct Setup {
    workers: Vec<User>,
    shared: Vec<ClientId>,
}

fn setup(w: &World, crm: &Crm) -> Setup {
    crm.define_custom_field(
        &w.sys,
        &NewCustomField {
            entity: EntityType::Client,
            key: "counter".into(),
            label: "Counter".into(),
            field_type: CustomFieldType::Number,
            options: vec![],
            required: false,
        },
    )
    .unwrap();
    let role = crm
        .create_role(
            &w.sys,
            "Everything",
            &grants(
                AccessLevel::All,
                &[Action::Read, Action::Create, Action::Update],
            ),
        )
        .unwrap();
    let workers: Vec<User> = (0..THREADS)
        .map(|i| {
            crm.create_user(
                &w.sys,
                &NewUser {
                    name: format!("Worker {i}"),
                    email: format!("worker{i}@corp.example"),
                    department_id: if i % 2 == 0 { w.north.id } else { w.south.id },
                    admin: false,
                },
            )
            .unwrap()
        })
        .collect();
    crm.assign_role(
        &w.sys,
        role.id,
        &RoleSubject::Department {
            department_id: w.sales.id,
            include_subdepartments: true,
        },
    )
    .unwrap();
    let shared = (0..SHARED)
        .map(|i| {
            crm.create_client(
                &w.sys,
                &NewClient {
                    owner_id: Some(workers[i % THREADS].id),
                    custom: [("counter".to_string(), json!(0))].into(),
                    ..NewClient::organization(format!("Shared {i}"))
                },
            )
            .unwrap()
            .id
        })
        .collect();
    Setup { workers, shared }
}

#[derive(Default)]
struct Tally {
    /// Successful updates per shared client.
    updates: Vec<AtomicU64>,
    /// Clients created per thread.
    created: Vec<AtomicU64>,
    conflicts: AtomicU64,
    reads: AtomicU64,
    errors: Mutex<Vec<String>>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            updates: (0..SHARED).map(|_| AtomicU64::new(0)).collect(),
            created: (0..THREADS).map(|_| AtomicU64::new(0)).collect(),
            ..Default::default()
        }
    }

    fn read_ok(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    fn error(&self, what: &str, e: &CrmError) {
        self.errors
            .lock()
            .unwrap()
            .push(format!("{what}: {e} ({e:?})"));
    }
}

/// One worker's run: a mix of lists, searches, gets, counts, read-modify-write updates (retried
/// on `Conflict`) and creates.
fn work(crm: &Crm, ctx: &Ctx, t: usize, shared: &[ClientId], tally: &Tally) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) * 0x1234_5678_9ABC));
    for i in 0..ITERATIONS {
        match rng.below(10) {
            0 | 1 => match crm.list_clients(
                ctx,
                &ClientQuery {
                    limit: Some(1 + rng.below(20) as u32),
                    ..Default::default()
                },
            ) {
                Ok(page) => {
                    let keys: Vec<String> =
                        page.items.iter().map(|c| c.name.to_lowercase()).collect();
                    if !keys.windows(2).all(|p| p[0] <= p[1]) {
                        tally
                            .errors
                            .lock()
                            .unwrap()
                            .push(format!("list out of order: {keys:?}"));
                    }
                    tally.read_ok();
                }
                Err(e) => tally.error("list", &e),
            },
            2 => {
                let text = if rng.below(2) == 0 { "shared" } else { "t" };
                match crm.search_clients(
                    ctx,
                    &SearchQuery {
                        text: text.into(),
                        limit: Some(10),
                        ..Default::default()
                    },
                ) {
                    Ok(_) => tally.read_ok(),
                    Err(e) => tally.error("search", &e),
                }
            }
            3 => match crm.get_client(ctx, shared[rng.below(SHARED)]) {
                Ok(_) => tally.read_ok(),
                Err(e) => tally.error("get", &e),
            },
            4 => match crm.count_clients(ctx, &ClientQuery::default(), 10_000) {
                Ok(_) => tally.read_ok(),
                Err(e) => tally.error("count", &e),
            },
            5..=7 => {
                let k = rng.below(SHARED);
                let id = shared[k];
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    if attempts > 10_000 {
                        tally
                            .errors
                            .lock()
                            .unwrap()
                            .push("update never got through".into());
                        break;
                    }
                    let c = match crm.get_client(ctx, id) {
                        Ok(c) => c,
                        Err(e) => {
                            tally.error("get for update", &e);
                            break;
                        }
                    };
                    let n = c.custom["counter"].as_i64().unwrap_or(-1);
                    let update = ClientUpdate {
                        custom: [("counter".to_string(), json!(n + 1))].into(),
                        tags: Patch::Set(vec![format!("t{t}")]),
                        ..Default::default()
                    };
                    match crm.update_client(ctx, id, c.version, &update) {
                        Ok(_) => {
                            tally.updates[k].fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Err(CrmError::Conflict { .. }) => {
                            tally.conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            tally.error("update", &e);
                            break;
                        }
                    }
                }
            }
            _ => match crm.create_client(
                ctx,
                &NewClient {
                    emails: vec![email(&format!("t{t}-{i}@client.example"))],
                    ..NewClient::organization(format!("T{t} client {i}"))
                },
            ) {
                Ok(_) => {
                    tally.created[t].fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => tally.error("create", &e),
            },
        }
    }
}

/// Checks the end state against the tally.
fn check(w: &World, crm: &Crm, s: &Setup, tally: &Tally) {
    let errors = tally.errors.lock().unwrap();
    assert!(
        errors.is_empty(),
        "{} unexpected errors, e.g. {:#?}",
        errors.len(),
        &errors[..errors.len().min(10)]
    );
    let created: Vec<u64> = tally
        .created
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let total_created: u64 = created.iter().sum();
    let total = crm
        .count_clients(&w.sys, &ClientQuery::default(), 1_000_000)
        .unwrap();
    assert_eq!(total.count, SHARED as u64 + total_created);
    assert!(total.exact);
    for (t, worker) in s.workers.iter().enumerate() {
        let own = crm
            .count_clients(
                &w.sys,
                &ClientQuery {
                    owner_id: Some(worker.id),
                    ..Default::default()
                },
                1_000_000,
            )
            .unwrap()
            .count;
        let shared_owned = (0..SHARED).filter(|i| i % THREADS == t).count() as u64;
        assert_eq!(own, created[t] + shared_owned, "clients of worker {t}");
    }
    let mut total_updates = 0;
    for (k, id) in s.shared.iter().enumerate() {
        let c = crm.get_client(&w.sys, *id).unwrap();
        let n = tally.updates[k].load(Ordering::Relaxed);
        total_updates += n;
        assert_eq!(c.version, 1 + n as i64, "version of shared client {k}");
        assert_eq!(
            c.custom["counter"],
            json!(n),
            "no lost update on client {k}"
        );
    }
    // The audit log holds exactly one entry per successful write, and its chain is intact.
    let actions: BTreeMap<String, u64> = {
        let conn = rusqlite::Connection::open(&w.path).unwrap();
        let mut st = conn
            .prepare(
                "SELECT action, count(*) FROM audit_log WHERE entity = 'client' GROUP BY action",
            )
            .unwrap();
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        rows
    };
    assert_eq!(
        actions.get("client.update").copied().unwrap_or(0),
        total_updates
    );
    assert_eq!(
        actions.get("client.create").copied().unwrap_or(0),
        SHARED as u64 + total_created
    );
    let report = crm.verify_audit(&w.sys).unwrap();
    assert!(report.ok, "{report:?}");
    assert!(tally.reads.load(Ordering::Relaxed) > 0);
    assert!(total_updates > 0 && total_created > 0);
}

#[test]
fn eight_threads_share_one_crm() {
    let w = World::new();
    let s = setup(&w, &w.crm);
    let tally = Tally::new();
    let contexts: Vec<Ctx> = s.workers.iter().map(|u| w.ctx(u)).collect();
    thread::scope(|scope| {
        for (t, ctx) in contexts.iter().enumerate() {
            let (crm, shared, tally) = (&w.crm, &s.shared, &tally);
            scope.spawn(move || work(crm, ctx, t, shared, tally));
        }
    });
    check(&w, &w.crm, &s, &tally);
    eprintln!(
        "conflicts retried: {}",
        tally.conflicts.load(Ordering::Relaxed)
    );
}

#[test]
fn eight_threads_with_an_arc_crm() {
    // The same, with `Arc<Crm>` and `'static` threads, as a host would hold it.
    let w = World::new();
    let s = setup(&w, &w.crm);
    let crm = Arc::new(Crm::open(&w.path).unwrap());
    let shared = Arc::new(s.shared.clone());
    let tally = Arc::new(Tally::new());
    let handles: Vec<_> = s
        .workers
        .iter()
        .enumerate()
        .map(|(t, u)| {
            let ctx = crm.user_context(u.id).unwrap();
            let (crm, shared, tally) = (Arc::clone(&crm), Arc::clone(&shared), Arc::clone(&tally));
            thread::spawn(move || work(&crm, &ctx, t, &shared, &tally))
        })
        .collect();
    for h in handles {
        h.join().expect("worker panicked");
    }
    check(&w, &crm, &s, &tally);
}

#[test]
fn two_handles_on_one_file_never_see_busy() {
    // Two `Crm` values on the same file behave like two processes: writes are serialised by
    // SQLite's lock and the busy timeout, never surfaced as SQLITE_BUSY.
    let w = World::new();
    let s = setup(&w, &w.crm);
    let second = Crm::open(&w.path).unwrap();
    let tally = Tally::new();
    let contexts: Vec<Ctx> = s.workers.iter().map(|u| w.ctx(u)).collect();
    thread::scope(|scope| {
        for (t, ctx) in contexts.iter().enumerate() {
            let crm = if t % 2 == 0 { &w.crm } else { &second };
            let (shared, tally) = (&s.shared, &tally);
            scope.spawn(move || work(crm, ctx, t, shared, tally));
        }
    });
    check(&w, &w.crm, &s, &tally);
    check(&w, &second, &s, &tally);
}
