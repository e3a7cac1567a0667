//! Export → import → export: random data (clients of both kinds with every kind of contact
//! detail and custom value, organisation hierarchies, contact links, deals walked through a
//! pipeline, activities) is exported in CSV and in JSON lines, imported into an empty database
//! with the same users, pipeline and custom fields (clients, contacts, deals, activities), and
//! exported again: the exports and the records (field by field, ignoring ids, versions and
//! bookkeeping times) must be the same.
//!
//! The property test keeps clear of the inputs the focused tests below show not to round-trip
//! (each of those is its own failing test, so the property keeps finding anything else):
//! hierarchies with chains of forward references (dropped by
//! `drop_unimportable_forward_chains`); activities whose deal changed client and deals whose
//! contact was unlinked (not generated); several pipelines and deactivated owners (not
//! generated). Not compared at all, as bookkeeping: ids, versions, `updated_at`, the actor of
//! stage events, the automation rule of an activity.

mod data_common;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use crm_core::ids::{ActivityId, ClientId, DealId, UserId};
use crm_core::model::{
    ActivityKind, Address, AddressKind, Client, ClientKind, ClientUpdate, DealUpdate, Email,
    EmailKind, ExportSpec, FileFormat, ImportSpec, NewActivity, NewClient, NewDeal, Patch, Phone,
    PhoneKind, RecordKind, StageMove,
};
use crm_core::money::Currency;
use crm_core::CrmError;
use data_common::*;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// One-line text a spreadsheet would run or a CSV writer must quote; never blank.
fn tricky_line() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "=HYPERLINK(\"http://x.example\")",
            "+49 30 1234",
            "-minus",
            "@import",
            "'apostrophe",
            "Comma, Inc.",
            "Quote \"Q\" Ltd",
            "Grüße & Söhne",
            "日本語 株式会社",
            "🎉 Party",
            "semi; colon",
            "a,\"b\",c",
            "=1+1,\"2\"",
        ])
        .prop_map(String::from),
        "[A-Za-z0-9äöüÄÖÜßéЖж日本 ,;:\"'=+@.-]{1,24}",
    ]
    .prop_filter("not blank", |s| !s.trim().is_empty())
}

/// Free text for custom text fields: may span lines, start or end with white space, be empty,
/// or look like the JSON string an export writes for such text.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        tricky_line(),
        select(vec![
            "line one\nline two",
            "=cmd\r\n=cmd2",
            "\"quoted\"",
            "comma,separated,values",
            "'",
            "=",
            "-",
            "ünï\ncødé 🎉",
            "{\"looks\": \"like json\"}",
            "[1, 2]",
            "12.50 EUR",
            "",
            "  padded  ",
            "\tstarts with a tab",
            "ends with a newline\n",
            "\"\"",
            " \"quoted\" ",
        ])
        .prop_map(String::from),
        "[A-Za-z0-9äöü日 ,;:\"'=+@\n.-]{0,30}",
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|i| json!(i)),
        (-1.0e9f64..1.0e9).prop_map(|f| json!(f)),
        select(vec![
            json!(0),
            json!(-1),
            json!(0.1),
            json!(1e-7),
            json!(u64::MAX)
        ]),
    ]
}

fn money() -> impl Strategy<Value = Value> {
    (any::<i64>(), select(vec!["EUR", "USD", "JPY", "KWD"]))
        .prop_map(|(a, c)| json!({"amount_minor": a, "currency": c}))
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (-25_000i64..50_000)
        .prop_map(|d| NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + Duration::days(d))
}

fn custom(options: &'static [&'static str]) -> impl Strategy<Value = BTreeMap<String, Value>> {
    (
        prop::option::of(tricky_text()),
        prop::option::of(number()),
        prop::option::of(money()),
        prop::option::of(date()),
        prop::option::of(any::<bool>()),
        prop::option::of(select(options)),
    )
        .prop_map(move |(t, n, m, d, b, e)| {
            let mut out = BTreeMap::new();
            let keys: [&str; 6] = if options == SEGMENTS.as_slice() {
                ["note", "score", "budget", "since", "vip", "segment"]
            } else {
                ["memo", "margin", "fee", "signed", "priority", "product"]
            };
            let values = [
                t.map(Value::String),
                n,
                m,
                d.map(|d| Value::String(d.to_string())),
                b.map(Value::Bool),
                e.map(|e| Value::String(e.to_string())),
            ];
            for (k, v) in keys.into_iter().zip(values) {
                if let Some(v) = v {
                    out.insert(k.to_string(), v);
                }
            }
            out
        })
}

fn email() -> impl Strategy<Value = Email> {
    (
        select(vec![
            EmailKind::Work,
            EmailKind::Personal,
            EmailKind::Billing,
            EmailKind::Other,
        ]),
        "[a-z0-9=+'._;-]{1,8}",
        "[a-z]{1,6}\\.(com|de|co\\.uk)",
    )
        .prop_map(|(kind, local, domain)| Email {
            kind,
            address: format!("{local}@{domain}"),
        })
}

fn phone() -> impl Strategy<Value = Phone> {
    (
        select(vec![
            PhoneKind::Work,
            PhoneKind::Mobile,
            PhoneKind::Home,
            PhoneKind::Fax,
            PhoneKind::Other,
        ]),
        prop_oneof![
            "\\+[0-9]{2} \\([0-9]{2,3}\\) [0-9]{3,6}-[0-9]{1,3}",
            "[0-9]{5,12}",
            "-[0-9]{5,8}",
            "[0-9]{3}\\.[0-9]{3}\\.[0-9]{4}",
        ],
    )
        .prop_map(|(kind, number)| Phone { kind, number })
}

fn address() -> impl Strategy<Value = Address> {
    (
        select(vec![
            AddressKind::Legal,
            AddressKind::Postal,
            AddressKind::Billing,
            AddressKind::Shipping,
            AddressKind::Other,
        ]),
        prop::option::of(tricky_line()),
        prop::option::of(tricky_line()),
        prop::option::of(tricky_line()),
        prop::option::of("[0-9A-Z-]{3,10}"),
        prop::option::of("[A-Z]{2}"),
    )
        .prop_map(
            |(kind, street, city, region, postal_code, country)| Address {
                kind,
                street,
                city: city.map(|c| c.chars().take(100).collect()),
                region: region.map(|c| c.chars().take(100).collect()),
                postal_code,
                country,
            },
        )
        .prop_filter("an address has a part", |a| {
            a.street.is_some()
                || a.city.is_some()
                || a.region.is_some()
                || a.postal_code.is_some()
                || a.country.is_some()
        })
}

/// Tags, also holding `;` or starting with `[`/`{` (see `csv_list_cells_survive_the_round_trip`).
fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "=vip",
            "+1",
            "-x",
            "@home",
            "'q",
            "ünï",
            "a,b",
            "x\"y",
            "key:value",
            "日本",
            "[VIP]",
            "R&D; Sales",
            "{draft}",
            "[\"json\"]",
        ])
        .prop_map(String::from),
        "[a-zA-Z0-9äö ,:;=+@'\"\\[\\]{}-]{1,12}",
    ]
    .prop_filter("not blank", |s| !s.trim().is_empty())
}

/// A choice among however many candidates there turn out to be.
#[derive(Clone, Copy, Debug)]
struct Pick(usize);

impl Pick {
    fn index(&self, n: usize) -> usize {
        self.0 % n
    }
}

fn pick() -> impl Strategy<Value = Pick> {
    (0usize..1000).prop_map(Pick)
}

const PREFIXES: [&str; 9] = ["", "=", "+", "-", "@", "'", "ü-", "a,b ", "q\"x "];

#[derive(Clone, Debug)]
struct ClientPlan {
    person: bool,
    name: String,
    external: Option<usize>,
    tax_id: Option<String>,
    registration_number: Option<String>,
    emails: Vec<Email>,
    phones: Vec<Phone>,
    addresses: Vec<Address>,
    tags: Vec<String>,
    custom: BTreeMap<String, Value>,
    owner: usize,
    open: bool,
    archived: bool,
    /// Organisations only: a parent among the organisations ordered before this one by
    /// `rank` (ties by position), so the hierarchy is a forest whatever the creation order.
    parent: Option<Pick>,
    rank: u8,
    created_ms_ago: Option<i64>,
}

fn client_plan() -> impl Strategy<Value = ClientPlan> {
    (
        (
            any::<bool>(),
            tricky_line(),
            prop::option::of(0..PREFIXES.len()),
            prop::option::of("[A-Z0-9ÄÖ][A-Z0-9 ./-]{0,10}[0-9]"),
            prop::option::of("-?[A-Z]{2,3}[0-9]{3,6}"),
        ),
        (
            prop::collection::vec(email(), 0..3),
            prop::collection::vec(phone(), 0..3),
            prop::collection::vec(address(), 0..2),
            prop::collection::vec(tag(), 0..4),
            custom(&SEGMENTS),
        ),
        (
            0..4usize,
            any::<bool>(),
            prop::bool::weighted(0.2),
            prop::option::of(pick()),
            any::<u8>(),
            prop::option::of(0i64..400 * 86_400_000),
        ),
    )
        .prop_map(
            |(
                (person, name, external, tax_id, registration_number),
                (emails, phones, addresses, tags, custom),
                (owner, open, archived, parent, rank, created_ms_ago),
            )| ClientPlan {
                person,
                name,
                external,
                tax_id,
                registration_number,
                emails,
                phones,
                addresses,
                tags,
                custom,
                owner,
                open,
                archived,
                parent,
                rank,
                created_ms_ago,
            },
        )
}

#[derive(Clone, Debug)]
struct DealPlan {
    title: String,
    external: Option<usize>,
    client: Option<Pick>,
    contact: Option<Pick>,
    amount: i64,
    currency: &'static str,
    probability: Option<u8>,
    close: Option<NaiveDate>,
    owner: usize,
    open: bool,
    custom: BTreeMap<String, Value>,
    created_ms_ago: Option<i64>,
    /// Stage indices visited after creation (consecutive repeats are skipped).
    walk: Vec<usize>,
    lost_reason: String,
}

fn deal_plan() -> impl Strategy<Value = DealPlan> {
    (
        (
            tricky_line(),
            prop::option::of(0..PREFIXES.len()),
            prop::option::of(pick()),
            prop::option::of(pick()),
            0i64..1_000_000_000_000,
            select(vec!["EUR", "USD", "JPY", "KWD"]),
        ),
        (
            prop::option::of(0u8..=100),
            prop::option::of(date()),
            0..4usize,
            any::<bool>(),
            custom(&PRODUCTS),
            prop::option::of(0i64..100 * 86_400_000),
            prop::collection::vec(0..STAGES.len(), 0..6),
            tricky_line(),
        ),
    )
        .prop_map(
            |(
                (title, external, client, contact, amount, currency),
                (probability, close, owner, open, custom, created_ms_ago, walk, lost_reason),
            )| DealPlan {
                title,
                external,
                client,
                contact,
                amount,
                currency,
                probability,
                close,
                owner,
                open,
                custom,
                created_ms_ago,
                walk,
                lost_reason,
            },
        )
}

#[derive(Clone, Debug)]
enum Link {
    Client(Pick),
    Deal(Pick),
    Both(Pick),
}

#[derive(Clone, Debug)]
struct ActivityPlan {
    kind: ActivityKind,
    subject: String,
    body: Option<String>,
    external: Option<usize>,
    link: Link,
    assignee: usize,
    due: Option<i64>,
    remind_before: Option<i64>,
    done_ms_ago: Option<i64>,
    open: bool,
}

fn activity_plan() -> impl Strategy<Value = ActivityPlan> {
    (
        select(ActivityKind::ALL.to_vec()),
        tricky_line(),
        prop::option::of(tricky_line()),
        prop::option::of(0..PREFIXES.len()),
        prop_oneof![
            pick().prop_map(Link::Client),
            pick().prop_map(Link::Deal),
            pick().prop_map(Link::Both),
        ],
        0..4usize,
        prop::option::of(-1_000_000_000i64..1_000_000_000),
        prop::option::of(0i64..10_000_000),
        prop::option::of(0i64..1_000_000_000),
        any::<bool>(),
    )
        .prop_map(
            |(kind, subject, body, external, link, assignee, due, remind_before, done, open)| {
                ActivityPlan {
                    kind,
                    subject,
                    body,
                    external,
                    link,
                    assignee,
                    due,
                    remind_before,
                    done_ms_ago: done,
                    open,
                }
            },
        )
}

#[derive(Clone, Debug)]
struct Plan {
    clients: Vec<ClientPlan>,
    links: Vec<(Pick, Pick, Option<String>)>,
    deals: Vec<DealPlan>,
    activities: Vec<ActivityPlan>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        prop::collection::vec(client_plan(), 1..9),
        prop::collection::vec((pick(), pick(), prop::option::of(tricky_line())), 0..5),
        prop::collection::vec(deal_plan(), 0..5),
        prop::collection::vec(activity_plan(), 0..5),
    )
        .prop_map(|(clients, links, deals, activities)| Plan {
            clients,
            links,
            deals,
            activities,
        })
}

// ---------------------------------------------------------------------------------------------
// Building the source database
// ---------------------------------------------------------------------------------------------

struct Built {
    activities: Vec<ActivityId>,
}

fn users(db: &Db) -> [UserId; 4] {
    [db.org.ann.id, db.org.bob.id, db.org.carl.id, db.org.dora.id]
}

fn external(prefix: Option<usize>, what: &str, i: usize) -> Option<String> {
    prefix.map(|p| format!("{}{what}{i}", PREFIXES[p]))
}

/// Drops parent links the importer cannot resolve when the export lists clients by id: a row
/// whose parent comes later is retried once, after the whole file, in file order, so a chain of
/// such rows fails (see `import_rules::a_three_level_hierarchy_listed_bottom_up_imports`).
/// Simulates that order and drops the links that would fail, until none do.
fn drop_unimportable_forward_chains(parents: &mut [Option<usize>]) {
    loop {
        let mut created = vec![false; parents.len()];
        let mut deferred = Vec::new();
        for i in 0..parents.len() {
            match parents[i] {
                Some(p) if !created[p] => deferred.push(i),
                _ => created[i] = true,
            }
        }
        let mut failed = None;
        for &i in &deferred {
            match parents[i] {
                Some(p) if !created[p] => {
                    failed = Some(i);
                    break;
                }
                _ => created[i] = true,
            }
        }
        match failed {
            Some(i) => parents[i] = None,
            None => return,
        }
    }
}

fn build(db: &Db, plan: &Plan) -> Built {
    let (crm, sys) = (&db.crm, &db.sys);
    let users = users(db);
    let now = Utc::now();
    let mut clients = Vec::new();
    for (i, c) in plan.clients.iter().enumerate() {
        let new = NewClient {
            kind: if c.person {
                ClientKind::Person
            } else {
                ClientKind::Organization
            },
            name: c.name.clone(),
            parent_id: None,
            tax_id: c.tax_id.clone(),
            registration_number: c.registration_number.clone(),
            emails: c.emails.clone(),
            phones: c.phones.clone(),
            addresses: c.addresses.clone(),
            tags: c.tags.clone(),
            custom: c.custom.clone(),
            owner_id: Some(users[c.owner]),
            open: c.open,
            external_id: external(c.external, "c", i),
            created_at: c.created_ms_ago.map(|ms| now - Duration::milliseconds(ms)),
        };
        let made = crm
            .create_client(sys, &new)
            .unwrap_or_else(|e| panic!("generated client {i} is invalid: {e}\n{new:?}"));
        clients.push(made.id);
    }
    // The hierarchy: each organisation may hang below one ordered before it by rank.
    let orgs: Vec<usize> = (0..plan.clients.len())
        .filter(|&i| !plan.clients[i].person)
        .collect();
    let mut parents: Vec<Option<usize>> = vec![None; plan.clients.len()];
    for &i in &orgs {
        let c = &plan.clients[i];
        let Some(pick) = &c.parent else { continue };
        let before: Vec<usize> = orgs
            .iter()
            .copied()
            .filter(|&j| (plan.clients[j].rank, j) < (c.rank, i))
            .collect();
        if !before.is_empty() {
            parents[i] = Some(before[pick.index(before.len())]);
        }
    }
    drop_unimportable_forward_chains(&mut parents);
    for (i, p) in parents.iter().enumerate() {
        let Some(p) = *p else { continue };
        let cur = crm.get_client(sys, clients[i]).expect("client");
        crm.update_client(
            sys,
            cur.id,
            cur.version,
            &ClientUpdate {
                parent_id: Patch::Set(Some(clients[p])),
                ..Default::default()
            },
        )
        .expect("set parent");
    }
    let persons: Vec<usize> = (0..plan.clients.len())
        .filter(|&i| plan.clients[i].person)
        .collect();
    let mut links: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    if !orgs.is_empty() && !persons.is_empty() {
        for (o, p, position) in &plan.links {
            let (o, p) = (orgs[o.index(orgs.len())], persons[p.index(persons.len())]);
            crm.link_contact(sys, clients[o], clients[p], position.as_deref())
                .expect("link contact");
            let l = links.entry(o).or_default();
            if !l.contains(&p) {
                l.push(p);
            }
        }
    }
    let mut deals = Vec::new();
    let mut deal_clients = Vec::new();
    for (i, d) in plan.deals.iter().enumerate() {
        let client = d.client.as_ref().map(|x| x.index(clients.len()));
        let contact = match client {
            Some(c) if plan.clients[c].person => d.contact.as_ref().map(|_| c),
            Some(c) => match (links.get(&c), &d.contact) {
                (Some(l), Some(pick)) => Some(l[pick.index(l.len())]),
                _ => None,
            },
            None => match (persons.is_empty(), &d.contact) {
                (false, Some(pick)) => Some(persons[pick.index(persons.len())]),
                _ => None,
            },
        };
        let new = NewDeal {
            client_id: client.map(|c| clients[c]),
            contact_id: contact.map(|c| clients[c]),
            amount_minor: d.amount,
            probability_override: d.probability,
            expected_close_date: d.close,
            owner_id: Some(users[d.owner]),
            open: d.open,
            custom: d.custom.clone(),
            created_at: d.created_ms_ago.map(|ms| now - Duration::milliseconds(ms)),
            external_id: external(d.external, "d", i),
            ..NewDeal::new(
                d.title.clone(),
                db.org.pipeline.id,
                Currency::parse(d.currency, "currency").expect("currency"),
            )
        };
        let mut deal = crm
            .create_deal(sys, &new)
            .unwrap_or_else(|e| panic!("generated deal {i} is invalid: {e}\n{new:?}"));
        for &s in &d.walk {
            let stage = db.stage(STAGES[s]);
            if stage == deal.stage_id {
                continue;
            }
            let lost = STAGES[s] == "Lost";
            deal = crm
                .move_deal(
                    sys,
                    deal.id,
                    deal.version,
                    &StageMove {
                        stage_id: stage,
                        lost_reason: lost.then(|| d.lost_reason.clone()),
                        at: None,
                    },
                )
                .expect("move deal");
        }
        deals.push(deal.id);
        deal_clients.push(deal.client_id);
    }
    let mut activities = Vec::new();
    for (i, a) in plan.activities.iter().enumerate() {
        let (client, deal) = match &a.link {
            Link::Client(c) => (Some(clients[c.index(clients.len())]), None),
            Link::Deal(d) if !deals.is_empty() => (None, Some(d.index(deals.len()))),
            Link::Both(d) if !deals.is_empty() => {
                let d = d.index(deals.len());
                (deal_clients[d], Some(d))
            }
            Link::Deal(c) | Link::Both(c) => (Some(clients[c.index(clients.len())]), None),
        };
        let due = a.due.map(|ms| now + Duration::milliseconds(ms));
        let new = NewActivity {
            body: a.body.clone(),
            client_id: client,
            deal_id: deal.map(|d| deals[d]),
            assignee_id: Some(users[a.assignee]),
            due_at: due,
            remind_at: due.and_then(|d| a.remind_before.map(|r| d - Duration::milliseconds(r))),
            done_at: a.done_ms_ago.map(|ms| now - Duration::milliseconds(ms)),
            open: a.open,
            external_id: external(a.external, "a", i),
            ..NewActivity::new(a.kind, a.subject.clone())
        };
        let made = crm
            .create_activity(sys, &new)
            .unwrap_or_else(|e| panic!("generated activity {i} is invalid: {e}\n{new:?}"));
        activities.push(made.id);
    }
    for (i, c) in plan.clients.iter().enumerate() {
        if c.archived {
            let cur = crm.get_client(sys, clients[i]).expect("client");
            crm.archive_client(sys, cur.id, cur.version)
                .expect("archive");
        }
    }
    Built { activities }
}

// ---------------------------------------------------------------------------------------------
// Export, import, compare
// ---------------------------------------------------------------------------------------------

const KINDS: [RecordKind; 4] = [
    RecordKind::Clients,
    RecordKind::Contacts,
    RecordKind::Deals,
    RecordKind::Activities,
];

/// The import job that reads an export of `kind` back: deals name their pipeline (and need no
/// default lost reason, see `deal_lost_and_reopened_round_trips_as_exported`).
fn reimport_spec(kind: RecordKind, format: FileFormat) -> ImportSpec {
    let mut s = spec(kind, format);
    if kind == RecordKind::Deals {
        s.pipeline = Some("Sales".into());
    }
    s
}

/// Exports every kind from `a`, imports it into a fresh database, and returns that database
/// with both sets of exports.
fn round_trip(
    a: &Db,
    format: FileFormat,
    tweak: impl Fn(RecordKind, &mut ImportSpec),
) -> (Db, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let b = Db::new();
    let mut first = Vec::new();
    for kind in KINDS {
        // An export of nothing imports too: a CSV one is its header row.
        let bytes = export(&a.crm, &a.sys, kind, format);
        let mut s = reimport_spec(kind, format);
        tweak(kind, &mut s);
        let report = import(&b.crm, &b.sys, &s, &bytes)
            .unwrap_or_else(|e| panic!("{kind:?} {format:?} import failed: {e}"));
        let expected = count_records(&bytes, format);
        assert_eq!(
            (report.invalid, report.created, report.rows),
            (0, expected, expected),
            "{kind:?} {format:?}: import of the export reported {:#?}\nexport:\n{}",
            report,
            String::from_utf8_lossy(&bytes)
        );
        first.push(bytes);
    }
    let second = KINDS
        .iter()
        .map(|&k| export(&b.crm, &b.sys, k, format))
        .collect();
    (b, first, second)
}

fn count_records(bytes: &[u8], format: FileFormat) -> u64 {
    match format {
        FileFormat::Csv if bytes.is_empty() => 0,
        FileFormat::Csv => csv_records(bytes).1.len() as u64,
        FileFormat::JsonLines => json_lines(bytes).len() as u64,
    }
}

/// The records of an export as comparable strings, in file order.
fn export_records(bytes: &[u8], format: FileFormat) -> (Vec<String>, Vec<String>) {
    match format {
        FileFormat::Csv if bytes.is_empty() => (vec![], vec![]),
        FileFormat::Csv => {
            let (h, rows) = csv_records(bytes);
            (h, rows.into_iter().map(|r| format!("{r:?}")).collect())
        }
        FileFormat::JsonLines => (
            vec![],
            json_lines(bytes)
                .into_iter()
                .map(|m| Value::Object(m).to_string())
                .collect(),
        ),
    }
}

/// The two exports hold the same records (in any order: rows whose parent came later in the
/// file are created after it, so ids and the export order may differ).
fn assert_same_exports(kind: RecordKind, format: FileFormat, a: &[u8], b: &[u8]) {
    let (ha, mut ra) = export_records(a, format);
    let (hb, mut rb) = export_records(b, format);
    assert_eq!(ha, hb, "{kind:?} {format:?}: headers differ");
    if ra == rb {
        assert_eq!(a, b, "{kind:?} {format:?}: same records, different bytes");
        return;
    }
    ra.sort();
    rb.sort();
    let only_a: Vec<&String> = ra.iter().filter(|r| !rb.contains(r)).collect();
    let only_b: Vec<&String> = rb.iter().filter(|r| !ra.contains(r)).collect();
    assert!(
        only_a.is_empty() && only_b.is_empty() && ra.len() == rb.len(),
        "{kind:?} {format:?}: the second export differs\nonly in the first:\n{only_a:#?}\nonly in the second:\n{only_b:#?}"
    );
}

fn client_ref(c: &Client) -> String {
    c.external_id
        .clone()
        .unwrap_or_else(|| format!("#{}", c.id))
}

/// A client without its id, version and bookkeeping times; references by external id.
#[derive(Debug, PartialEq, PartialOrd, Eq, Ord, Clone)]
struct ClientView {
    reference: String,
    kind: String,
    name: String,
    parent: Option<String>,
    tax_id: Option<String>,
    registration_number: Option<String>,
    emails: String,
    phones: String,
    addresses: String,
    tags: Vec<String>,
    custom: String,
    owner: UserId,
    open: bool,
    archived_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

#[derive(Debug, PartialEq, PartialOrd, Eq, Ord, Clone)]
struct DealView {
    reference: String,
    title: String,
    client: Option<String>,
    contact: Option<String>,
    stage: String,
    status: String,
    amount_minor: i64,
    currency: String,
    probability_override: Option<u8>,
    probability: u8,
    expected_close_date: Option<NaiveDate>,
    owner: UserId,
    open: bool,
    custom: String,
    lost_reason: Option<String>,
    closed_at: Option<DateTime<Utc>>,
    stage_entered_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    history: Vec<(Option<String>, String, DateTime<Utc>)>,
}

#[derive(Debug, PartialEq, PartialOrd, Eq, Ord, Clone)]
struct ActivityView {
    reference: String,
    kind: String,
    subject: String,
    body: Option<String>,
    client: Option<String>,
    deal: Option<String>,
    assignee: UserId,
    due_at: Option<DateTime<Utc>>,
    remind_at: Option<DateTime<Utc>>,
    done_at: Option<DateTime<Utc>>,
    open: bool,
    created_at: DateTime<Utc>,
}

struct Views {
    clients: Vec<ClientView>,
    contacts: Vec<(String, String, Option<String>)>,
    deals: Vec<DealView>,
    activities: Vec<ActivityView>,
}

fn stage_name(db: &Db, id: crm_core::ids::StageId) -> String {
    db.org
        .pipeline
        .stage(id)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| format!("?{id}"))
}

fn views(db: &Db, activity_ids: &[ActivityId]) -> Views {
    let (crm, sys) = (&db.crm, &db.sys);
    let clients = all_clients(crm, sys);
    let refs: BTreeMap<ClientId, String> = clients.iter().map(|c| (c.id, client_ref(c))).collect();
    let r = |id: Option<ClientId>| id.map(|i| refs[&i].clone());
    let mut cv: Vec<ClientView> = clients
        .iter()
        .map(|c| ClientView {
            reference: client_ref(c),
            kind: format!("{:?}", c.kind),
            name: c.name.clone(),
            parent: r(c.parent_id),
            tax_id: c.tax_id.clone(),
            registration_number: c.registration_number.clone(),
            emails: format!("{:?}", c.emails),
            phones: format!("{:?}", c.phones),
            addresses: format!("{:?}", c.addresses),
            tags: c.tags.clone(),
            custom: serde_json::to_string(&c.custom).expect("json"),
            owner: c.owner_id,
            open: c.open,
            archived_at: c.archived_at,
            created_at: c.created_at,
        })
        .collect();
    cv.sort();
    let mut contacts = Vec::new();
    for c in clients
        .iter()
        .filter(|c| c.kind == ClientKind::Organization)
    {
        for l in crm.contacts_of(sys, c.id).expect("contacts") {
            contacts.push((
                refs[&l.organization_id].clone(),
                refs[&l.person_id].clone(),
                l.position,
            ));
        }
    }
    contacts.sort();
    let deals = all_deals(crm, sys);
    let deal_refs: BTreeMap<DealId, String> = deals
        .iter()
        .map(|d| {
            (
                d.id,
                d.external_id
                    .clone()
                    .unwrap_or_else(|| format!("#{}", d.id)),
            )
        })
        .collect();
    let mut dv: Vec<DealView> = deals
        .iter()
        .map(|d| DealView {
            reference: deal_refs[&d.id].clone(),
            title: d.title.clone(),
            client: r(d.client_id),
            contact: r(d.contact_id),
            stage: stage_name(db, d.stage_id),
            status: format!("{:?}", d.status),
            amount_minor: d.amount_minor,
            currency: d.currency.as_str().to_string(),
            probability_override: d.probability_override,
            probability: d.probability,
            expected_close_date: d.expected_close_date,
            owner: d.owner_id,
            open: d.open,
            custom: serde_json::to_string(&d.custom).expect("json"),
            lost_reason: d.lost_reason.clone(),
            closed_at: d.closed_at,
            stage_entered_at: d.stage_entered_at,
            created_at: d.created_at,
            history: crm
                .deal_history(sys, d.id)
                .expect("history")
                .into_iter()
                .map(|e| {
                    (
                        e.from_stage_id.map(|s| stage_name(db, s)),
                        stage_name(db, e.to_stage_id),
                        e.at,
                    )
                })
                .collect(),
        })
        .collect();
    dv.sort();
    let mut av: Vec<ActivityView> = activity_ids
        .iter()
        .map(|&id| {
            let a = crm.get_activity(sys, id).expect("activity");
            ActivityView {
                reference: a
                    .external_id
                    .clone()
                    .unwrap_or_else(|| format!("#{}", a.id)),
                kind: a.kind.as_str().to_string(),
                subject: a.subject.clone(),
                body: a.body.clone(),
                client: r(a.client_id),
                deal: a.deal_id.map(|d| deal_refs[&d].clone()),
                assignee: a.assignee_id,
                due_at: a.due_at,
                remind_at: a.remind_at,
                done_at: a.done_at,
                open: a.open,
                created_at: a.created_at,
            }
        })
        .collect();
    av.sort();
    Views {
        clients: cv,
        contacts,
        deals: dv,
        activities: av,
    }
}

/// The activities of an imported database: ids 1.. in a fresh file.
fn imported_activity_ids(db: &Db, n: usize) -> Vec<ActivityId> {
    let mut out = Vec::new();
    let mut id = 1;
    while out.len() < n && id < (n as i64) * 4 + 16 {
        match db.crm.get_activity(&db.sys, ActivityId(id)) {
            Ok(a) => out.push(a.id),
            Err(CrmError::NotFound { .. }) => {}
            Err(e) => panic!("get activity {id}: {e}"),
        }
        id += 1;
    }
    assert_eq!(out.len(), n, "imported activities");
    out
}

fn assert_same_records(a: &Views, b: &Views, format: FileFormat) {
    assert_eq!(a.clients, b.clients, "{format:?}: clients differ");
    assert_eq!(a.contacts, b.contacts, "{format:?}: contact links differ");
    assert_eq!(a.deals, b.deals, "{format:?}: deals differ");
    assert_eq!(a.activities, b.activities, "{format:?}: activities differ");
}

fn check_round_trip(plan: &Plan) {
    let a = Db::new();
    let built = build(&a, plan);
    let va = views(&a, &built.activities);
    for format in [FileFormat::Csv, FileFormat::JsonLines] {
        let (b, first, second) = round_trip(&a, format, |_, _| {});
        for (i, kind) in KINDS.iter().enumerate() {
            assert_same_exports(*kind, format, &first[i], &second[i]);
        }
        let vb = views(&b, &imported_activity_ids(&b, built.activities.len()));
        assert_same_records(&va, &vb, format);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn export_import_export_is_the_identity(plan in plan()) {
        check_round_trip(&plan);
    }
}

// ---------------------------------------------------------------------------------------------
// Focused cases
// ---------------------------------------------------------------------------------------------

/// A fixed data set that touches every field once, round-tripped in both formats.
#[test]
fn a_full_data_set_round_trips_in_both_formats() {
    let plan = Plan {
        clients: vec![
            ClientPlan {
                person: false,
                name: "=Holding, \"Main\" AG".into(),
                external: Some(1),
                tax_id: Some("DE 123.456/789".into()),
                registration_number: Some("-HRB 42".into()),
                emails: vec![Email {
                    kind: EmailKind::Billing,
                    address: "+billing@holding.de".into(),
                }],
                phones: vec![Phone {
                    kind: PhoneKind::Fax,
                    number: "+49 (30) 1234-56".into(),
                }],
                addresses: vec![Address {
                    kind: AddressKind::Postal,
                    street: Some("Straße 1, Hof \"B\"".into()),
                    city: Some("Köln".into()),
                    region: None,
                    postal_code: Some("50667".into()),
                    country: Some("DE".into()),
                }],
                tags: vec!["=vip".into(), "a,b".into(), "日本".into()],
                custom: BTreeMap::from([
                    ("note".to_string(), json!("line 1\nline 2, \"quoted\"")),
                    ("score".to_string(), json!(-12.5)),
                    (
                        "budget".to_string(),
                        json!({"amount_minor": -5, "currency": "KWD"}),
                    ),
                    ("since".to_string(), json!("1999-12-31")),
                    ("vip".to_string(), json!(true)),
                    ("segment".to_string(), json!(SEGMENTS[0])),
                ]),
                owner: 0,
                open: true,
                archived: false,
                parent: None,
                rank: 0,
                created_ms_ago: Some(123_456_789),
            },
            ClientPlan {
                person: false,
                name: "Subsidiary".into(),
                external: None,
                tax_id: None,
                registration_number: None,
                emails: vec![],
                phones: vec![],
                addresses: vec![],
                tags: vec![],
                custom: BTreeMap::from([("segment".to_string(), json!(SEGMENTS[4]))]),
                owner: 1,
                open: false,
                archived: true,
                parent: Some(Pick(0)),
                rank: 9,
                created_ms_ago: None,
            },
            ClientPlan {
                person: true,
                name: "@Anna Müller".into(),
                external: Some(5),
                tax_id: None,
                registration_number: None,
                emails: vec![Email {
                    kind: EmailKind::Personal,
                    address: "'anna@x.com".into(),
                }],
                phones: vec![Phone {
                    kind: PhoneKind::Mobile,
                    number: "-12345".into(),
                }],
                addresses: vec![],
                tags: vec!["'q".into()],
                custom: BTreeMap::from([("note".to_string(), json!("+1"))]),
                owner: 2,
                open: false,
                archived: false,
                parent: None,
                rank: 1,
                created_ms_ago: Some(1),
            },
        ],
        links: vec![(Pick(0), Pick(0), Some("-CFO, \"acting\"".into()))],
        deals: vec![DealPlan {
            title: "=Deal, \"one\"".into(),
            external: Some(3),
            client: Some(Pick(0)),
            contact: Some(Pick(0)),
            amount: 105_450,
            currency: "EUR",
            probability: Some(42),
            close: NaiveDate::from_ymd_opt(2030, 2, 28),
            owner: 0,
            open: true,
            custom: BTreeMap::from([
                ("memo".to_string(), json!("@memo")),
                ("margin".to_string(), json!(0.1)),
                (
                    "fee".to_string(),
                    json!({"amount_minor": 100, "currency": "JPY"}),
                ),
                ("product".to_string(), json!(PRODUCTS[1])),
            ]),
            created_ms_ago: Some(5_000),
            walk: vec![1, 2, 3],
            lost_reason: "price".into(),
        }],
        activities: vec![ActivityPlan {
            kind: ActivityKind::Call,
            subject: "-call back".into(),
            body: Some("=body, \"x\"".into()),
            external: None,
            link: Link::Both(Pick(0)),
            assignee: 3,
            due: Some(86_400_000),
            remind_before: Some(3_600_000),
            done_ms_ago: Some(10),
            open: true,
        }],
    };
    check_round_trip(&plan);
}

/// The CSV export puts `'` before every cell a spreadsheet would run, and the import takes it
/// off again; with `neutralize_formulas` off the cells are written as they are.
#[test]
fn csv_export_neutralises_formulas_and_import_strips_them() {
    let a = Db::new();
    let c = a
        .crm
        .create_client(
            &a.sys,
            &NewClient {
                owner_id: Some(a.org.ann.id),
                external_id: Some("'quoted".into()),
                tags: vec!["@home".into(), "x".into()],
                custom: BTreeMap::from([
                    ("note".to_string(), json!("+SUM(1)")),
                    ("score".to_string(), json!(-5)),
                    ("segment".to_string(), json!("=SUM(A1:A9)")),
                ]),
                ..NewClient::organization("=HYPERLINK(\"http://evil\")")
            },
        )
        .expect("client");
    let bytes = export(&a.crm, &a.sys, RecordKind::Clients, FileFormat::Csv);
    let (h, rows) = csv_records(&bytes);
    let cell = |name: &str| rows[0][h.iter().position(|x| x == name).expect(name)].clone();
    assert_eq!(cell("name"), "'=HYPERLINK(\"http://evil\")");
    assert_eq!(cell("external_id"), "''quoted");
    assert_eq!(cell("tags"), "'@home; x");
    assert_eq!(cell("custom.note"), "'+SUM(1)");
    assert_eq!(cell("custom.score"), "'-5");
    assert_eq!(cell("custom.segment"), "'=SUM(A1:A9)");
    for (i, v) in rows[0].iter().enumerate() {
        assert!(
            !v.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "column {} is a live formula: {v:?}",
            h[i]
        );
    }

    let b = Db::new();
    let r = import(
        &b.crm,
        &b.sys,
        &spec(RecordKind::Clients, FileFormat::Csv),
        &bytes,
    )
    .expect("import");
    assert_eq!((r.created, r.invalid), (1, 0), "{r:?}");
    let got = &all_clients(&b.crm, &b.sys)[0];
    assert_eq!(got.name, c.name);
    assert_eq!(got.external_id, c.external_id);
    assert_eq!(got.tags, c.tags);
    assert_eq!(got.custom, c.custom);

    // Without neutralising, the cells are raw; an import without the guard keeps a leading `'`.
    let mut out = Vec::new();
    a.crm
        .export(
            &a.sys,
            &ExportSpec {
                neutralize_formulas: false,
                ..ExportSpec::new(RecordKind::Clients)
            },
            &mut out,
            &mut |_| true,
        )
        .expect("export");
    let (h, rows) = csv_records(&out);
    let cell = |name: &str| rows[0][h.iter().position(|x| x == name).expect(name)].clone();
    assert_eq!(cell("name"), c.name);
    assert_eq!(cell("external_id"), "'quoted");
    let b2 = Db::new();
    let mut s = spec(RecordKind::Clients, FileFormat::Csv);
    s.formula_guard = false;
    import(&b2.crm, &b2.sys, &s, &out).expect("import");
    assert_eq!(
        all_clients(&b2.crm, &b2.sys)[0].external_id.as_deref(),
        Some("'quoted")
    );
    // JSON lines are never neutralised.
    let json = export(&a.crm, &a.sys, RecordKind::Clients, FileFormat::JsonLines);
    assert_eq!(json_lines(&json)[0]["name"], json!(c.name));
}

/// One-record database builder for the focused cases.
fn one_client(db: &Db, new: NewClient) -> Client {
    db.crm
        .create_client(
            &db.sys,
            &NewClient {
                owner_id: new.owner_id.or(Some(db.org.ann.id)),
                ..new
            },
        )
        .expect("client")
}

fn reimported_clients(a: &Db, format: FileFormat) -> (Db, Vec<Client>) {
    let b = Db::new();
    let bytes = export(&a.crm, &a.sys, RecordKind::Clients, format);
    let r = import(&b.crm, &b.sys, &spec(RecordKind::Clients, format), &bytes).expect("import");
    assert_eq!(r.invalid, 0, "{format:?}: {:#?}", r.errors);
    let clients = all_clients(&b.crm, &b.sys);
    (b, clients)
}

/// An archived client comes back archived at the time it was archived (exports carry
/// `archived_at`, and the importer archives at that time).
#[test]
fn archived_at_survives_the_round_trip() {
    let a = Db::new();
    let c = one_client(&a, NewClient::organization("Old Ltd"));
    let archived = a
        .crm
        .archive_client(&a.sys, c.id, c.version)
        .expect("archive");
    std::thread::sleep(std::time::Duration::from_millis(20));
    for format in [FileFormat::Csv, FileFormat::JsonLines] {
        let (_b, got) = reimported_clients(&a, format);
        assert_eq!(
            got[0].archived_at, archived.archived_at,
            "{format:?}: archived_at changed in the round trip"
        );
    }
}

/// Custom text values with surrounding white space, or empty (which the API accepts), come
/// back as they were: exports write them as JSON strings, which the importer reads exactly.
#[test]
fn custom_text_with_surrounding_white_space_or_empty_survives() {
    let a = Db::new();
    let values = [
        "  padded  ",
        "\tstarts with a tab",
        "ends with a newline\n",
        "",
    ];
    for (i, v) in values.iter().enumerate() {
        one_client(
            &a,
            NewClient {
                external_id: Some(format!("ws{i}")),
                custom: BTreeMap::from([("note".to_string(), json!(v))]),
                ..NewClient::organization(format!("Client {i}"))
            },
        );
    }
    for format in [FileFormat::Csv, FileFormat::JsonLines] {
        let (_b, got) = reimported_clients(&a, format);
        let got: Vec<Option<&Value>> = got.iter().map(|c| c.custom.get("note")).collect();
        let want: Vec<Option<Value>> = values.iter().map(|v| Some(json!(v))).collect();
        assert_eq!(
            got,
            want.iter().map(Option::as_ref).collect::<Vec<_>>(),
            "{format:?}: custom text changed in the round trip"
        );
    }
}

/// List cells in CSV are `; `-separated, unless an item would not survive that (it holds `;`,
/// or the first starts with `[`): then the cell is a JSON array, and only a cell that parses as
/// one is read as JSON. (JSON lines carry lists as JSON anyway.)
#[test]
fn csv_list_cells_survive_the_round_trip() {
    let a = Db::new();
    let cases: Vec<NewClient> = vec![
        NewClient {
            tags: vec!["[VIP]".into(), "x".into()],
            ..NewClient::organization("Bracket tag")
        },
        NewClient {
            tags: vec!["R&D; Sales".into()],
            ..NewClient::organization("Semicolon tag")
        },
        NewClient {
            tags: vec!["{draft}".into()],
            ..NewClient::organization("Brace tag")
        },
        NewClient {
            emails: vec![Email {
                kind: EmailKind::Work,
                address: "a;b@x.com".into(),
            }],
            ..NewClient::organization("Semicolon e-mail")
        },
    ];
    let mut want = Vec::new();
    for (i, c) in cases.into_iter().enumerate() {
        let made = one_client(
            &a,
            NewClient {
                external_id: Some(format!("l{i}")),
                ..c
            },
        );
        want.push((made.name.clone(), made.tags.clone(), made.emails.clone()));
    }
    let json = reimported_clients(&a, FileFormat::JsonLines).1;
    let got: Vec<_> = json
        .iter()
        .map(|c| (c.name.clone(), c.tags.clone(), c.emails.clone()))
        .collect();
    assert_eq!(got, want, "JSON lines");

    let b = Db::new();
    let bytes = export(&a.crm, &a.sys, RecordKind::Clients, FileFormat::Csv);
    let r = import(
        &b.crm,
        &b.sys,
        &spec(RecordKind::Clients, FileFormat::Csv),
        &bytes,
    )
    .expect("import");
    let got: Vec<_> = all_clients(&b.crm, &b.sys)
        .iter()
        .map(|c| (c.name.clone(), c.tags.clone(), c.emails.clone()))
        .collect();
    assert!(
        r.invalid == 0 && got == want,
        "CSV: list cells did not survive\nerrors: {:#?}\nwant: {want:#?}\ngot: {got:#?}",
        r.errors
    );
}

/// A deal that went through the lost stage and left it again has no lost reason any more, but
/// its exported history still walks through the lost stage, which needs one: the history
/// entry of the lost stage carries the reason given then, so no `lost_reason` default is
/// needed.
#[test]
fn deal_lost_and_reopened_round_trips_as_exported() {
    let a = Db::new();
    let d = a
        .crm
        .create_deal(
            &a.sys,
            &NewDeal {
                owner_id: Some(a.org.ann.id),
                external_id: Some("D1".into()),
                ..NewDeal::new(
                    "Comeback",
                    a.org.pipeline.id,
                    Currency::parse("EUR", "c").expect("eur"),
                )
            },
        )
        .expect("deal");
    let d = a
        .crm
        .move_deal(
            &a.sys,
            d.id,
            d.version,
            &StageMove {
                stage_id: a.stage("Lost"),
                lost_reason: Some("too expensive".into()),
                at: None,
            },
        )
        .expect("lose");
    a.crm
        .move_deal(
            &a.sys,
            d.id,
            d.version,
            &StageMove {
                stage_id: a.stage("Qualified"),
                lost_reason: None,
                at: None,
            },
        )
        .expect("reopen");
    for format in [FileFormat::Csv, FileFormat::JsonLines] {
        let b = Db::new();
        let bytes = export(&a.crm, &a.sys, RecordKind::Deals, format);
        let mut s = spec(RecordKind::Deals, format);
        s.pipeline = Some("Sales".into());
        let r = import(&b.crm, &b.sys, &s, &bytes).expect("import");
        assert_eq!(
            (r.created, r.invalid),
            (1, 0),
            "{format:?}: the exported deal does not import: {:#?}",
            r.errors
        );
    }
}

/// Stage events keep their lost reason since schema 9; the upgrade gives the reason of a deal
/// lost at the time to the event that brought it into its lost stage. Earlier lost spells of
/// reopened deals were not recorded, so their history steps carry no reason (and an import
/// of them needs the row's `lost_reason` or a default, as before).
#[test]
fn the_schema_9_upgrade_keeps_the_lost_reason_of_deals_lost_at_the_time() {
    let a = Db::new();
    let eur = Currency::parse("EUR", "c").expect("eur");
    let mut made = Vec::new();
    for (title, reopen) in [("Lost", false), ("Reopened", true)] {
        let d = a
            .crm
            .create_deal(
                &a.sys,
                &NewDeal {
                    owner_id: Some(a.org.ann.id),
                    external_id: Some(title.into()),
                    ..NewDeal::new(title, a.org.pipeline.id, eur.clone())
                },
            )
            .expect("deal");
        let mut d = a
            .crm
            .move_deal(
                &a.sys,
                d.id,
                d.version,
                &StageMove {
                    stage_id: a.stage("Lost"),
                    lost_reason: Some(format!("{title} reason")),
                    at: None,
                },
            )
            .expect("lose");
        if reopen {
            d = a
                .crm
                .move_deal(
                    &a.sys,
                    d.id,
                    d.version,
                    &StageMove {
                        stage_id: a.stage("Qualified"),
                        lost_reason: None,
                        at: None,
                    },
                )
                .expect("reopen");
        }
        made.push(d.id);
    }
    // Back to schema 8, as an engine of that version left the file.
    let Db { dir, path, crm, .. } = a;
    drop(crm);
    rusqlite::Connection::open(&path)
        .expect("open raw")
        .execute_batch(
            "ALTER TABLE deal_stage_events DROP COLUMN lost_reason; PRAGMA user_version = 8;",
        )
        .expect("downgrade");
    let crm = crm_core::Crm::open(&path).expect("upgrade");
    let sys = crm.system_context("after upgrade").expect("sys");
    let bytes = export(&crm, &sys, RecordKind::Deals, FileFormat::JsonLines);
    let reasons: Vec<Vec<Option<String>>> = json_lines(&bytes)
        .iter()
        .map(|d| {
            d["history"]
                .as_array()
                .expect("history")
                .iter()
                .filter(|s| s["stage"] == "Lost")
                .map(|s| s["lost_reason"].as_str().map(String::from))
                .collect()
        })
        .collect();
    assert_eq!(
        reasons,
        vec![vec![Some("Lost reason".to_string())], vec![None]],
        "lost steps after the upgrade"
    );
    drop(dir);
}

/// FINDING: an activity keeps the client it was created with; when its deal later moves to
/// another client, the export names both, and the import refuses the pair ("deal belongs to
/// client b, not a").
#[test]
fn activity_of_a_deal_that_changed_client_round_trips() {
    let a = Db::new();
    let x = one_client(
        &a,
        NewClient {
            external_id: Some("X".into()),
            ..NewClient::organization("X")
        },
    );
    let y = one_client(
        &a,
        NewClient {
            external_id: Some("Y".into()),
            ..NewClient::organization("Y")
        },
    );
    let d = a
        .crm
        .create_deal(
            &a.sys,
            &NewDeal {
                owner_id: Some(a.org.ann.id),
                client_id: Some(x.id),
                external_id: Some("D".into()),
                ..NewDeal::new(
                    "Deal",
                    a.org.pipeline.id,
                    Currency::parse("EUR", "c").expect("eur"),
                )
            },
        )
        .expect("deal");
    a.crm
        .create_activity(
            &a.sys,
            &NewActivity {
                deal_id: Some(d.id),
                assignee_id: Some(a.org.ann.id),
                external_id: Some("A".into()),
                ..NewActivity::new(ActivityKind::Call, "Call")
            },
        )
        .expect("activity");
    a.crm
        .update_deal(
            &a.sys,
            d.id,
            d.version,
            &DealUpdate {
                client_id: Patch::Set(Some(y.id)),
                ..Default::default()
            },
        )
        .expect("deal to another client");
    let (_b, errors) = round_trip_lenient(&a, FileFormat::Csv);
    assert!(errors.is_empty(), "the export does not import: {errors:#?}");
}

/// FINDING: a deal keeps its contact person when the person is unlinked from the deal's client
/// afterwards; the import refuses such a deal ("person is not a contact of client").
#[test]
fn deal_whose_contact_was_unlinked_round_trips() {
    let a = Db::new();
    let org = one_client(
        &a,
        NewClient {
            external_id: Some("O".into()),
            ..NewClient::organization("Org")
        },
    );
    let p = one_client(
        &a,
        NewClient {
            external_id: Some("P".into()),
            ..NewClient::person("Pat")
        },
    );
    a.crm
        .link_contact(&a.sys, org.id, p.id, Some("CEO"))
        .expect("link");
    a.crm
        .create_deal(
            &a.sys,
            &NewDeal {
                owner_id: Some(a.org.ann.id),
                client_id: Some(org.id),
                contact_id: Some(p.id),
                external_id: Some("D".into()),
                ..NewDeal::new(
                    "Deal",
                    a.org.pipeline.id,
                    Currency::parse("EUR", "c").expect("eur"),
                )
            },
        )
        .expect("deal");
    a.crm.unlink_contact(&a.sys, org.id, p.id).expect("unlink");
    let (_b, errors) = round_trip_lenient(&a, FileFormat::Csv);
    assert!(errors.is_empty(), "the export does not import: {errors:#?}");
}

/// Round-trips every kind in `format` into a fresh database in skip-invalid mode, collecting
/// row errors instead of failing.
fn round_trip_lenient(a: &Db, format: FileFormat) -> (Db, Vec<String>) {
    let b = Db::new();
    let mut errors = Vec::new();
    for kind in KINDS {
        let bytes = export(&a.crm, &a.sys, kind, format);
        if bytes.is_empty() {
            continue;
        }
        let mut s = reimport_spec(kind, format);
        s.mode = crm_core::model::ImportMode::SkipInvalid;
        let r = import(&b.crm, &b.sys, &s, &bytes).expect("import runs");
        errors.extend(r.errors.iter().map(|e| format!("{kind:?}: {e:?}")));
    }
    (b, errors)
}

/// A CSV export of a record kind with no records is its header row, which imports as zero
/// rows (a truly empty file is still refused, see `bad_csv`).
#[test]
fn an_empty_csv_export_imports() {
    let a = Db::new();
    for kind in KINDS {
        let bytes = export(&a.crm, &a.sys, kind, FileFormat::Csv);
        let r = import(
            &a.crm,
            &a.sys,
            &reimport_spec(kind, FileFormat::Csv),
            &bytes,
        );
        assert!(
            matches!(&r, Ok(r) if r.rows == 0),
            "{kind:?}: the empty export ({} bytes) does not import: {r:?}",
            bytes.len()
        );
    }
}

/// FINDING: the deals export names each deal's pipeline (column `pipeline`), but the importer
/// ignores that column and puts every row into the one pipeline the job names: the deals of a
/// database with two pipelines do not come back.
#[test]
fn deals_of_two_pipelines_round_trip() {
    let a = Db::new();
    let support_stages = [
        crm_core::model::StageSpec::new("New", 10, crm_core::model::StageKind::Open),
        crm_core::model::StageSpec::new("Done", 100, crm_core::model::StageKind::Won),
    ];
    let support = a
        .crm
        .create_pipeline(&a.sys, "Support", &support_stages)
        .expect("pipeline");
    let eur = Currency::parse("EUR", "c").expect("eur");
    for (pipeline, title) in [
        (a.org.pipeline.id, "Sales deal"),
        (support.id, "Support deal"),
    ] {
        a.crm
            .create_deal(
                &a.sys,
                &NewDeal {
                    owner_id: Some(a.org.ann.id),
                    ..NewDeal::new(title, pipeline, eur.clone())
                },
            )
            .expect("deal");
    }
    let b = Db::new();
    b.crm
        .create_pipeline(&b.sys, "Support", &support_stages)
        .expect("pipeline");
    let bytes = export(&a.crm, &a.sys, RecordKind::Deals, FileFormat::Csv);
    let r = import(
        &b.crm,
        &b.sys,
        &reimport_spec(RecordKind::Deals, FileFormat::Csv),
        &bytes,
    )
    .expect("import runs");
    let placed: Vec<(String, String)> = all_deals(&b.crm, &b.sys)
        .iter()
        .map(|d| {
            let p = b.crm.pipeline(&b.sys, d.pipeline_id).expect("pipeline");
            (d.title.clone(), p.name)
        })
        .collect();
    assert!(
        r.invalid == 0
            && placed
                == vec![
                    ("Sales deal".to_string(), "Sales".to_string()),
                    ("Support deal".into(), "Support".into()),
                ],
        "deals did not come back in their pipelines: {placed:?}, errors {:#?}",
        r.errors
    );
}

/// FINDING: records owned by a deactivated user export with the owner's e-mail, but the
/// importer refuses a deactivated owner, so the export of such records does not import into a
/// database with the same users.
#[test]
fn records_of_a_deactivated_user_round_trip() {
    let a = Db::new();
    one_client(
        &a,
        NewClient {
            owner_id: Some(a.org.dora.id),
            external_id: Some("D".into()),
            ..NewClient::organization("Dora's client")
        },
    );
    a.crm
        .set_user_active(&a.sys, a.org.dora.id, false)
        .expect("deactivate");
    let b = Db::new();
    b.crm
        .set_user_active(&b.sys, b.org.dora.id, false)
        .expect("deactivate");
    let bytes = export(&a.crm, &a.sys, RecordKind::Clients, FileFormat::Csv);
    let r = import(
        &b.crm,
        &b.sys,
        &spec(RecordKind::Clients, FileFormat::Csv),
        &bytes,
    )
    .expect("import runs");
    assert_eq!(
        (r.created, r.invalid),
        (1, 0),
        "the export does not import: {:#?}",
        r.errors
    );
    assert_eq!(all_clients(&b.crm, &b.sys)[0].owner_id, b.org.dora.id);
}

/// An export carries what the actor may export: Bob (export at own level) gets his own records,
/// Ann (level all) everything.
#[test]
fn exports_are_scoped_by_the_export_permission() {
    let a = Db::new();
    for (owner, name) in [(&a.org.ann, "Ann's"), (&a.org.bob, "Bob's")] {
        one_client(
            &a,
            NewClient {
                owner_id: Some(owner.id),
                ..NewClient::organization(name)
            },
        );
    }
    let names = |ctx: &crm_core::Ctx| -> Vec<String> {
        let bytes = export(&a.crm, ctx, RecordKind::Clients, FileFormat::JsonLines);
        json_lines(&bytes)
            .into_iter()
            .map(|m| m["name"].as_str().expect("name").to_string())
            .collect()
    };
    assert_eq!(names(&a.ctx(&a.org.bob)), vec!["Bob's".to_string()]);
    assert_eq!(names(&a.ctx(&a.org.ann)).len(), 2);
    // No export grant at all: refused, like an import without the import grant.
    let mut out = Vec::new();
    let refused = a.crm.export(
        &a.ctx(&a.org.dora),
        &crm_core::model::ExportSpec::new(RecordKind::Clients),
        &mut out,
        &mut |_| true,
    );
    assert!(
        matches!(refused, Err(crm_core::CrmError::PermissionDenied { .. })),
        "{refused:?}"
    );
    assert!(out.is_empty(), "nothing written");
    let runs = audit_with(&a.crm, &a.sys, "export.run");
    assert_eq!(runs.len(), 2, "every export is audited");
}

/// Creation times are kept to the millisecond (the stored precision) through the round trip.
#[test]
fn times_keep_their_millisecond_precision() {
    let a = Db::new();
    let when = DateTime::parse_from_rfc3339("2021-03-04T05:06:07.891234567Z")
        .expect("time")
        .with_timezone(&Utc);
    let c = one_client(
        &a,
        NewClient {
            created_at: Some(when),
            ..NewClient::organization("Precise")
        },
    );
    assert_eq!(c.created_at.timestamp_millis(), when.timestamp_millis());
    let (_b, got) = reimported_clients(&a, FileFormat::Csv);
    assert_eq!(
        got[0].created_at, c.created_at,
        "stored at millisecond precision"
    );
}
