//! The bench fixture: an organisation and N clients, built through the public API and cached
//! under `target/bench-data/`.
//!
//! The organisation: `Company` → 4 regions → 4 teams each, and 2 sub-teams under one team of
//! every region (29 departments). 200 users: 4 at the company, a head in each region, 8 in each
//! team and sub-team. Every user gets an "own records" role through the company (with
//! sub-departments); the heads of North, East and West get a "Regional head" role (client Read at
//! DepartmentTree) and the head of South a variant that also includes records open to everyone.
//! A regional subtree holds 49 of the 200 users, so its scope covers about a quarter of the rows.
//!
//! Clients are generated from word lists with a fixed seed: two-thirds organisations
//! ("Kalrosix Logistics GmbH"), one third persons ("Anna Müller"), each with an e-mail and a
//! phone, some with a second phone, a tax id, an address and tags; 1% are open to everyone; the
//! owner is a uniformly random user.

use crm_core::access::{AccessLevel, Action, EntityType, Grant};
use crm_core::ids::{DepartmentId, UserId};
use crm_core::model::{
    Address, Email, EmailKind, NewClient, NewDepartment, NewUser, Phone, PhoneKind, RoleSubject,
};
use crm_core::{Crm, SCHEMA_VERSION};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bumped whenever the generator changes, so a cached file from an older generator is rebuilt.
const FIXTURE_VERSION: i64 = 1;
const SEED: u64 = 0x00C0_FFEE_2024;
const BATCH: usize = 10_000;

/// A built (or reused) fixture.
pub struct Fixture {
    /// The database file.
    pub path: PathBuf,
    /// Number of clients.
    pub n: usize,
    /// Seconds the build took (when it was built, possibly in an earlier run).
    pub build_secs: f64,
    /// Whether this run built it.
    pub built_now: bool,
    /// Head of region North: department-tree scope, no open records.
    pub tree_user: UserId,
    /// Head of region South: department-tree scope plus records open to everyone.
    pub open_user: UserId,
    /// Region North.
    pub north: DepartmentId,
    /// Region South.
    pub south: DepartmentId,
    /// A word that occurs in a few dozen clients per million.
    pub rare_word: String,
}

/// Deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

const SYLLABLES: &[&str] = &[
    "al", "bor", "cen", "dra", "el", "fin", "gar", "hel", "ix", "jor", "kal", "lum", "mar", "nor",
    "ost", "pra", "quin", "ros", "sil", "tor", "ul", "ven", "wex", "zan",
];
const INDUSTRIES: &[&str] = &[
    "Logistics",
    "Consulting",
    "Software",
    "Foods",
    "Pharma",
    "Textiles",
    "Construction",
    "Energy",
    "Media",
    "Insurance",
    "Robotics",
    "Furniture",
    "Motors",
    "Optics",
    "Chemicals",
    "Packaging",
    "Plastics",
    "Solar",
    "Analytics",
    "Security",
    "Travel",
    "Dental",
    "Marine",
    "Aviation",
    "Brewing",
    "Printing",
    "Telecom",
    "Finance",
    "Health",
    "Retail",
];
const LEGAL_FORMS: &[&str] = &[
    "GmbH",
    "AG",
    "Ltd",
    "Inc.",
    "LLC",
    "S.A.",
    "SE",
    "KG",
    "GmbH & Co. KG",
    "B.V.",
    "Oy",
    "S.r.l.",
];
const FIRST_NAMES: &[&str] = &[
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Elena",
    "Felix",
    "Greta",
    "Hannah",
    "Ivan",
    "Julia",
    "Karl",
    "Laura",
    "Max",
    "Nina",
    "Oliver",
    "Paula",
    "Quentin",
    "Rosa",
    "Simon",
    "Tina",
    "Uwe",
    "Vera",
    "Walter",
    "Xenia",
    "Yusuf",
    "Zoe",
    "Adam",
    "Bianca",
    "Carlos",
    "Daria",
    "Emil",
    "Fatima",
    "Georg",
    "Helena",
    "Igor",
    "Jana",
    "Kevin",
    "Lena",
    "Marco",
    "Nora",
    "Oskar",
    "Petra",
    "Rafael",
    "Sofia",
    "Tobias",
    "Ursula",
    "Viktor",
    "Wanda",
    "Jonas",
    "Mia",
    "Lukas",
    "Emma",
    "Leon",
    "Marie",
    "Paul",
    "Sophie",
    "Finn",
    "Lea",
    "Noah",
    "Lina",
    "Elias",
    "Amelie",
    "Luis",
    "Clara",
    "Henry",
    "Ida",
    "Theo",
    "Ella",
    "Anton",
    "Frieda",
    "José",
    "Zoë",
    "Chloé",
    "Sören",
    "Björn",
    "Jörg",
    "Mónica",
    "Łukasz",
    "Agnieszka",
    "Mehmet",
    "Ayşe",
    "Hiroshi",
    "Mei",
    "Priya",
    "Arjun",
    "Olga",
    "Dmitri",
    "Ingrid",
    "Lars",
    "Sven",
    "Astrid",
    "Pierre",
    "Camille",
    "Giulia",
    "Matteo",
    "Lucía",
    "Diego",
    "Aoife",
    "Liam",
    "Siobhan",
];
const LAST_NAMES: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Schmitz",
    "Krause",
    "Meier",
    "Lehmann",
    "Schmid",
    "Schulze",
    "Maier",
    "Köhler",
    "Herrmann",
    "König",
    "Walter",
    "Mayer",
    "Huber",
    "Kaiser",
    "Fuchs",
    "Peters",
    "Lang",
    "Scholz",
    "Möller",
    "Weiß",
    "Jung",
    "Hahn",
    "Schubert",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Dupont",
    "Lefebvre",
    "Moreau",
    "Laurent",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "García",
    "Fernández",
    "López",
    "Sánchez",
    "Pérez",
    "Kowalski",
    "Nowak",
    "Wiśniewski",
    "Novák",
    "Svoboda",
    "Jensen",
    "Nielsen",
    "Hansen",
    "Johansson",
    "Larsson",
    "Virtanen",
    "Korhonen",
    "Yılmaz",
    "Kaya",
    "Demir",
    "Ivanov",
    "Petrov",
    "Sato",
    "Suzuki",
    "Tanaka",
    "Wang",
    "Li",
    "Zhang",
    "Kumar",
    "Singh",
    "O'Brien",
    "Murphy",
    "Kelly",
    "van Dijk",
    "de Jong",
];
const CITIES: &[&str] = &[
    "Berlin",
    "Hamburg",
    "München",
    "Köln",
    "Frankfurt am Main",
    "Stuttgart",
    "Düsseldorf",
    "Leipzig",
    "Dortmund",
    "Essen",
    "Bremen",
    "Dresden",
    "Hannover",
    "Nürnberg",
    "Duisburg",
    "Bochum",
];
const TAGS: &[&str] = &[
    "vip",
    "newsletter",
    "partner",
    "lead",
    "reseller",
    "b2b",
    "b2c",
    "trade-fair-2024",
    "churn-risk",
    "key-account",
    "public-sector",
    "referral",
    "inbound",
    "outbound",
    "upsell",
    "dormant",
];
const MAIL_ROLES: &[&str] = &["info", "sales", "office", "contact", "hello", "billing"];
const TLDS: &[&str] = &[
    "de", "com", "co.uk", "fr", "io", "net", "eu", "at", "ch", "nl",
];
const PROVIDERS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "web.de",
    "gmx.de",
    "yahoo.com",
    "t-online.de",
    "icloud.com",
    "proton.me",
];
const AREA_CODES: &[&str] = &[
    "30", "40", "89", "69", "221", "211", "711", "341", "351", "511",
];

/// The e-mail-safe ASCII form of a name part.
fn ascii(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars().flat_map(char::to_lowercase) {
        match ch {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'é' | 'è' | 'ë' => out.push('e'),
            'á' | 'å' => out.push('a'),
            'ó' => out.push('o'),
            'í' | 'ı' => out.push('i'),
            'ñ' | 'ń' => out.push('n'),
            'ç' => out.push('c'),
            'ş' | 'ś' => out.push('s'),
            'ł' => out.push('l'),
            c if c.is_ascii_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn stem(rng: &mut Rng) -> String {
    let s: String = (0..3).map(|_| rng.pick(SYLLABLES)).collect();
    capitalise(&s)
}

fn phone(rng: &mut Rng, kind: PhoneKind) -> Phone {
    let number = match kind {
        PhoneKind::Mobile => format!("+49 15{} {}", rng.digits(1), rng.digits(7)),
        _ => format!(
            "+49 {} {} {}",
            rng.pick(AREA_CODES),
            rng.digits(3),
            rng.digits(4)
        ),
    };
    Phone { kind, number }
}

/// The `i`-th client and, for organisations, the generated stem of its name.
fn client(rng: &mut Rng, users: &[UserId]) -> (NewClient, Option<String>) {
    let mut stem_used = None;
    let (mut c, email) = if rng.below(3) < 2 {
        let (name, domain) = match rng.below(100) {
            0..=54 => {
                let s = stem(rng);
                let name = format!("{s} {} {}", rng.pick(INDUSTRIES), rng.pick(LEGAL_FORMS));
                let domain = ascii(&s);
                stem_used = Some(s);
                (name, domain)
            }
            55..=79 => {
                let s = stem(rng);
                let name = format!("{s} {}", rng.pick(LEGAL_FORMS));
                let domain = ascii(&s);
                stem_used = Some(s);
                (name, domain)
            }
            _ => {
                let (a, b) = (rng.pick(LAST_NAMES), rng.pick(LAST_NAMES));
                let name = format!("{a} & {b} {}", rng.pick(INDUSTRIES));
                (name, format!("{}-{}", ascii(a), ascii(b)))
            }
        };
        let email = format!("{}@{domain}.{}", rng.pick(MAIL_ROLES), rng.pick(TLDS));
        let mut c = NewClient::organization(name);
        if rng.chance(40) {
            c.tax_id = Some(format!("DE{}", rng.digits(9)));
        }
        (c, email)
    } else {
        let (first, last) = (rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES));
        let email = format!(
            "{}.{}{}@{}",
            ascii(first),
            ascii(last),
            rng.below(100),
            rng.pick(PROVIDERS)
        );
        (NewClient::person(format!("{first} {last}")), email)
    };
    c.emails = vec![Email {
        kind: EmailKind::Work,
        address: email,
    }];
    c.phones = vec![phone(rng, PhoneKind::Work)];
    if rng.chance(20) {
        c.phones.push(phone(rng, PhoneKind::Mobile));
    }
    if rng.chance(60) {
        c.addresses = vec![Address {
            street: Some(format!(
                "{}straße {}",
                rng.pick(LAST_NAMES),
                1 + rng.below(120)
            )),
            city: Some(rng.pick(CITIES).to_string()),
            postal_code: Some(rng.digits(5)),
            country: Some("DE".into()),
            ..Address::default()
        }];
    }
    for _ in 0..rng.below(4) {
        let t = rng.pick(TAGS).to_string();
        if !c.tags.contains(&t) {
            c.tags.push(t);
        }
    }
    c.open = rng.chance(1);
    c.owner_id = Some(users[rng.below(users.len())]);
    (c, stem_used)
}

fn io_err(e: std::io::Error) -> crm_core::CrmError {
    crm_core::CrmError::invalid("bench fixture", e.to_string())
}

/// `clients-1m`, `clients-50k`, `clients-1234`.
fn size_label(n: usize) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}m", n / 1_000_000)
    } else if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// The cached fixture for `n` clients under `dir`, built first when missing or stale.
pub fn load_or_build(dir: &Path, n: usize) -> crm_core::Result<Fixture> {
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let stem = format!("clients-{}-v{SCHEMA_VERSION}", size_label(n));
    let path = dir.join(format!("{stem}.db"));
    let meta_path = dir.join(format!("{stem}.json"));
    if path.exists() {
        if let Some(meta) = std::fs::read(&meta_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(|m| m["fixture_version"] == FIXTURE_VERSION && m["n"] == n)
        {
            return Ok(from_meta(path, &meta, false));
        }
    }
    println!(
        "building fixture {} ({n} clients); later runs reuse it",
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
    Ok(from_meta(path, &meta, true))
}

fn from_meta(path: PathBuf, m: &Value, built_now: bool) -> Fixture {
    let id = |k: &str| m[k].as_i64().unwrap_or_default();
    Fixture {
        path,
        n: m["n"].as_u64().unwrap_or_default() as usize,
        build_secs: m["build_secs"].as_f64().unwrap_or_default(),
        built_now,
        tree_user: UserId(id("tree_user")),
        open_user: UserId(id("open_user")),
        north: DepartmentId(id("north")),
        south: DepartmentId(id("south")),
        rare_word: m["rare_word"].as_str().unwrap_or_default().to_string(),
    }
}

fn build(path: &Path, n: usize) -> crm_core::Result<Value> {
    let crm = Crm::open(path)?;
    let sys = crm.system_context("list_search bench fixture")?;
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
    let mut rng = Rng(SEED);
    let mut user_no = 0;
    let mut user = |d: DepartmentId, rng: &mut Rng| {
        user_no += 1;
        let (first, last) = (rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES));
        crm.create_user(
            &sys,
            &NewUser {
                name: format!("{first} {last}"),
                email: format!("{}.{}.{user_no}@bench.example", ascii(first), ascii(last)),
                department_id: d,
                admin: false,
            },
        )
        .map(|u| u.id)
    };

    let company = dept("Company".into(), None)?;
    let mut users = Vec::new();
    for _ in 0..4 {
        users.push(user(company, &mut rng)?);
    }
    let mut regions = Vec::new();
    for region in ["North", "South", "East", "West"] {
        let r = dept(format!("Region {region}"), Some(company))?;
        let head = user(r, &mut rng)?;
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
        for t in teams {
            for _ in 0..8 {
                users.push(user(t, &mut rng)?);
            }
        }
        regions.push((r, head));
    }

    let grants = |level, include_open| -> Vec<Grant> {
        [Action::Read, Action::Create, Action::Update, Action::Assign]
            .map(|action| Grant {
                entity: EntityType::Client,
                action,
                level,
                include_open,
            })
            .to_vec()
    };
    let rep = crm.create_role(&sys, "Sales rep", &grants(AccessLevel::Own, false))?;
    crm.assign_role(
        &sys,
        rep.id,
        &RoleSubject::Department {
            department_id: company,
            include_subdepartments: true,
        },
    )?;
    let head = crm.create_role(
        &sys,
        "Regional head",
        &grants(AccessLevel::DepartmentTree, false),
    )?;
    let head_open = crm.create_role(
        &sys,
        "Regional head (with open records)",
        &grants(AccessLevel::DepartmentTree, true),
    )?;
    for (i, (r, _)) in regions.iter().enumerate() {
        let role = if i == 1 { head_open.id } else { head.id };
        crm.assign_role(&sys, role, &RoleSubject::HeadOf { department_id: *r })?;
    }

    let started = Instant::now();
    let mut rare_word = None;
    let mut done = 0;
    while done < n {
        let size = BATCH.min(n - done);
        let batch: Vec<NewClient> = (0..size)
            .map(|i| {
                let (c, s) = client(&mut rng, &users);
                if rare_word.is_none() && done + i >= n / 2 {
                    rare_word = s;
                }
                c
            })
            .collect();
        crm.create_clients(&sys, &batch)?;
        done += size;
        if done % 100_000 == 0 || done == n {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "  {done:>9} clients  {secs:7.1} s  {:6.0} clients/s",
                done as f64 / secs
            );
        }
    }
    Ok(json!({
        "fixture_version": FIXTURE_VERSION,
        "n": n,
        "schema_version": SCHEMA_VERSION,
        "departments": 29,
        "users": users.len(),
        "tree_user": regions[0].1,
        "north": regions[0].0,
        "open_user": regions[1].1,
        "south": regions[1].0,
        "rare_word": rare_word.unwrap_or_default().to_lowercase(),
        "insert_secs": started.elapsed().as_secs_f64(),
    }))
}
