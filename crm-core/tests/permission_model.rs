//! Differential property tests of the permission engine (DESIGN.md §4).
//!
//! Random organisations (department tree, users, heads, roles, assignments, forbid rules) and
//! random clients are built in a real SQLite file through the public API, and every answer of
//! the engine is compared with [`model::Scenario`], a deliberately naive reference model in plain
//! Rust that knows nothing of `crm_core::access`: it walks parent pointers, loops over every
//! assignment and every cell, and derives each record's department from its owner on every
//! question.
//!
//! Properties:
//! 1. lists and search never return a record the single-record check (`get_client`) denies;
//! 2. lists and search miss no record the single-record check allows;
//! 3. the single-record checks (`get_client`, `can`) equal the model;
//! 4. keyset pages of any small size concatenate to the one-big-page result, in model order,
//!    and counts equal the number of allowed records;
//! 5. a new role never removes access, a new forbid never adds any;
//! 6. after random `move_user` / `assign_client` (and department moves, head changes and
//!    (de)activations) no department stamp is stale and the model still agrees.
//!
//! Besides, `explain` agrees with the model (decision and reason), deactivated users get
//! `InactiveUser` from every call, and department-tree scopes larger than the engine's
//! per-department branch limit agree too.

#[path = "permission_model/model.rs"]
mod model;

use crm_core::access::{AccessLevel, Action, EntityType, Explanation, Grant, MatchedBy, RoleVia};
use crm_core::ids::{ClientId, DepartmentId, ForbidId, RoleAssignmentId, RoleId, UserId};
use crm_core::model::{
    Client, ClientQuery, Forbid, ForbidSubject, ForbidTarget, NewClient, NewDepartment, NewUser,
    Page, RoleSubject, SearchQuery,
};
use crm_core::{Count, Crm, CrmError, Ctx};
use model::{
    Cell, ClientSpec, FSubject, FTarget, ForbidSpec, RoleSpec, Scenario, Subject, UserSpec, Via,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeSet;
use std::ops::RangeInclusive;

/// Every client's name contains this word, so a search for it matches every client.
const COMMON_WORD: &str = "common";

type TestResult = Result<(), TestCaseError>;

/// What one user may do: the clients they read, and the (client, action index) pairs `can`
/// allows on them.
type Rights = (BTreeSet<usize>, BTreeSet<(usize, usize)>);

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// Name stems; several share a sort key (case differs) so ties are broken by id, one carries a
/// colon (the list cursor is `id:name`) and one is not ASCII.
const NAME_STEMS: [&str; 10] = [
    "Alpha", "alpha", "ALPHA", "Beta", "beta", "Gam:ma", "Delta", "delta", "Épsilon", "epsilon",
];

fn level() -> impl Strategy<Value = AccessLevel> {
    prop::sample::select(AccessLevel::ALL.to_vec())
}

fn any_action() -> impl Strategy<Value = Action> {
    prop::sample::select(Action::ALL.to_vec())
}

/// Mostly `Read`, so forbids often bite the lists.
fn forbid_action() -> impl Strategy<Value = Action> {
    prop_oneof![3 => Just(Action::Read), 2 => any_action()]
}

fn role_spec() -> impl Strategy<Value = RoleSpec> {
    let cells: Vec<_> = Action::ALL
        .iter()
        .map(|&action| {
            let p = if action == Action::Read { 0.85 } else { 0.5 };
            prop::option::weighted(
                p,
                (level(), any::<bool>()).prop_map(move |(level, include_open)| {
                    (
                        action,
                        Cell {
                            level,
                            include_open,
                        },
                    )
                }),
            )
        })
        .collect();
    cells.prop_map(|v| RoleSpec {
        cells: v.into_iter().flatten().collect(),
    })
}

fn subject(nd: usize, nu: usize) -> impl Strategy<Value = Subject> {
    prop_oneof![
        3 => (0..nu).prop_map(Subject::User),
        3 => (0..nd, any::<bool>()).prop_map(|(dept, sub)| Subject::Dept { dept, sub }),
        2 => (0..nd).prop_map(Subject::HeadOf),
    ]
}

fn forbid_spec(nd: usize, nu: usize, nr: usize) -> impl Strategy<Value = ForbidSpec> {
    let subject = prop_oneof![
        (0..nu).prop_map(FSubject::User),
        (0..nd, any::<bool>()).prop_map(|(dept, sub)| FSubject::Dept { dept, sub }),
        (0..nr).prop_map(FSubject::Role),
    ];
    let target = prop_oneof![
        1 => Just(FTarget::All),
        2 => (0..nd).prop_map(FTarget::Dept),
        2 => (0..nd).prop_map(FTarget::Tree),
        2 => Just(FTarget::Open),
    ];
    (subject, forbid_action(), target).prop_map(|(subject, action, target)| ForbidSpec {
        subject,
        action,
        target,
    })
}

/// A random organisation with clients. With `deep`, the tree is mostly a chain and users sit
/// mostly near its top, so department-tree scopes span most of a large tree.
fn scenario(depts: RangeInclusive<usize>, deep: bool) -> impl Strategy<Value = Scenario> {
    (depts, 2usize..=6, 1usize..=4).prop_flat_map(move |(nd, nu, nr)| {
        let parents: Vec<BoxedStrategy<Option<usize>>> = (0..nd)
            .map(|i| match i {
                0 => Just(None).boxed(),
                _ if deep => {
                    prop_oneof![3 => Just(Some(i - 1)), 1 => (0..i).prop_map(Some)].boxed()
                }
                _ => prop::option::weighted(0.85, 0..i).boxed(),
            })
            .collect();
        let dept = if deep {
            prop_oneof![0..nd.min(4), 0..nd].boxed()
        } else {
            (0..nd).boxed()
        };
        let users = prop::collection::vec(
            (dept, prop::bool::weighted(0.85)).prop_map(|(dept, active)| UserSpec { dept, active }),
            nu,
        );
        let heads = prop::collection::vec(prop::option::weighted(0.4, 0..nu), nd);
        let roles = prop::collection::vec(role_spec(), nr);
        let assignments = prop::collection::vec((0..nr, subject(nd, nu)), nu..=nu + 6);
        let forbids = prop::collection::vec(forbid_spec(nd, nu, nr), 0..=3);
        let clients = prop::collection::vec(
            (0..nu, prop::bool::weighted(0.3), 0..NAME_STEMS.len()).prop_map(
                |(owner, open, stem)| ClientSpec {
                    owner,
                    open,
                    name: format!("{} {COMMON_WORD}", NAME_STEMS[stem]),
                },
            ),
            5..=40,
        );
        (parents, users, heads, roles, assignments, forbids, clients).prop_map(
            |(parents, users, heads, roles, assignments, forbids, clients)| Scenario {
                parents,
                users,
                heads,
                roles,
                assignments,
                forbids,
                clients,
            },
        )
    })
}

fn small_scenario() -> impl Strategy<Value = Scenario> {
    scenario(2..=8, false)
}

/// Changes applied (as the system context) in property 6; indices are into the scenario.
#[derive(Clone, Debug)]
enum Op {
    MoveUser {
        user: usize,
        dept: usize,
    },
    AssignClient {
        client: usize,
        owner: usize,
    },
    MoveDepartment {
        dept: usize,
        parent: Option<usize>,
    },
    SetHead {
        dept: usize,
        head: Option<usize>,
    },
    SetActive {
        user: usize,
        active: bool,
    },
    /// Removes the n-th remaining assignment (modulo their number), if any.
    Unassign {
        nth: prop::sample::Index,
    },
    /// Removes the n-th remaining forbid rule, if any.
    RemoveForbid {
        nth: prop::sample::Index,
    },
    /// Deletes a role, with its assignments and the forbids that name it.
    DeleteRole {
        role: usize,
    },
}

fn op(nd: usize, nu: usize, nr: usize, nc: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..nu, 0..nd).prop_map(|(user, dept)| Op::MoveUser { user, dept }),
        3 => (0..nc, 0..nu).prop_map(|(client, owner)| Op::AssignClient { client, owner }),
        2 => (0..nd, prop::option::weighted(0.8, 0..nd))
            .prop_map(|(dept, parent)| Op::MoveDepartment { dept, parent }),
        1 => (0..nd, prop::option::weighted(0.7, 0..nu))
            .prop_map(|(dept, head)| Op::SetHead { dept, head }),
        1 => (0..nu, any::<bool>()).prop_map(|(user, active)| Op::SetActive { user, active }),
        1 => any::<prop::sample::Index>().prop_map(|nth| Op::Unassign { nth }),
        1 => any::<prop::sample::Index>().prop_map(|nth| Op::RemoveForbid { nth }),
        1 => (0..nr).prop_map(|role| Op::DeleteRole { role }),
    ]
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Nothing is written next to the sources; a failure prints the minimal scenario.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The engine side: building a scenario through the public API
// ---------------------------------------------------------------------------------------------

struct World {
    _dir: tempfile::TempDir,
    crm: Crm,
    sys: Ctx,
    depts: Vec<DepartmentId>,
    users: Vec<UserId>,
    roles: Vec<RoleId>,
    /// Engine id of each model assignment (identical assignments share one).
    assignments: Vec<RoleAssignmentId>,
    forbids: Vec<ForbidId>,
    clients: Vec<ClientId>,
}

fn grants_of(spec: &RoleSpec) -> Vec<Grant> {
    spec.cells
        .iter()
        .map(|(action, cell)| Grant {
            entity: EntityType::Client,
            action: *action,
            level: cell.level,
            include_open: cell.include_open,
        })
        .collect()
}

impl World {
    fn build(s: &Scenario) -> World {
        let dir = tempfile::tempdir().unwrap();
        let crm = Crm::open(dir.path().join("crm.db")).unwrap();
        let sys = crm.system_context("permission model test").unwrap();
        let mut w = World {
            _dir: dir,
            crm,
            sys,
            depts: Vec::new(),
            users: Vec::new(),
            roles: Vec::new(),
            assignments: Vec::new(),
            forbids: Vec::new(),
            clients: Vec::new(),
        };
        for (i, parent) in s.parents.iter().enumerate() {
            let d = w
                .crm
                .create_department(
                    &w.sys,
                    &NewDepartment {
                        name: format!("Dept {i}"),
                        parent_id: parent.map(|p| w.depts[p]),
                    },
                )
                .unwrap();
            w.depts.push(d.id);
        }
        for (i, u) in s.users.iter().enumerate() {
            let user = w
                .crm
                .create_user(
                    &w.sys,
                    &NewUser {
                        name: format!("User {i}"),
                        email: format!("user{i}@example.com"),
                        department_id: w.depts[u.dept],
                        admin: false,
                    },
                )
                .unwrap();
            w.users.push(user.id);
        }
        for (d, head) in s.heads.iter().enumerate() {
            if let Some(h) = head {
                w.crm
                    .set_department_head(&w.sys, w.depts[d], Some(w.users[*h]))
                    .unwrap();
            }
        }
        for (i, spec) in s.roles.iter().enumerate() {
            let role = w
                .crm
                .create_role(&w.sys, &format!("Role {i}"), &grants_of(spec))
                .unwrap();
            w.roles.push(role.id);
        }
        for (r, subject) in &s.assignments {
            let id = w
                .crm
                .assign_role(&w.sys, w.roles[*r], &w.role_subject(subject))
                .unwrap();
            w.assignments.push(id);
        }
        for f in &s.forbids {
            let id = w.crm.add_forbid(&w.sys, &w.forbid(f)).unwrap();
            w.forbids.push(id);
        }
        // Clients first (a deactivated user cannot be given new clients), then deactivations.
        let batch: Vec<NewClient> = s
            .clients
            .iter()
            .map(|c| NewClient {
                owner_id: Some(w.users[c.owner]),
                open: c.open,
                ..NewClient::organization(c.name.clone())
            })
            .collect();
        w.clients = w.crm.create_clients(&w.sys, &batch).unwrap();
        for (i, u) in s.users.iter().enumerate() {
            if !u.active {
                w.crm.set_user_active(&w.sys, w.users[i], false).unwrap();
            }
        }
        w
    }

    fn role_subject(&self, s: &Subject) -> RoleSubject {
        match *s {
            Subject::User(u) => RoleSubject::User {
                user_id: self.users[u],
            },
            Subject::Dept { dept, sub } => RoleSubject::Department {
                department_id: self.depts[dept],
                include_subdepartments: sub,
            },
            Subject::HeadOf(d) => RoleSubject::HeadOf {
                department_id: self.depts[d],
            },
        }
    }

    fn forbid(&self, f: &ForbidSpec) -> Forbid {
        Forbid {
            id: ForbidId::unset(),
            subject: match f.subject {
                FSubject::User(u) => ForbidSubject::User {
                    user_id: self.users[u],
                },
                FSubject::Dept { dept, sub } => ForbidSubject::Department {
                    department_id: self.depts[dept],
                    include_subdepartments: sub,
                },
                FSubject::Role(r) => ForbidSubject::Role {
                    role_id: self.roles[r],
                },
            },
            entity: EntityType::Client,
            action: f.action,
            target: match f.target {
                FTarget::All => ForbidTarget::AllRecords,
                FTarget::Dept(d) => ForbidTarget::Department {
                    department_id: self.depts[d],
                },
                FTarget::Tree(d) => ForbidTarget::DepartmentTree {
                    department_id: self.depts[d],
                },
                FTarget::Open => ForbidTarget::OpenRecords,
            },
        }
    }

    /// Adds a new role and assigns it, in engine and model.
    fn add_role(&mut self, s: &mut Scenario, spec: &RoleSpec, subject: &Subject) {
        let name = format!("Role {}", self.roles.len());
        let role = self
            .crm
            .create_role(&self.sys, &name, &grants_of(spec))
            .unwrap();
        self.roles.push(role.id);
        s.roles.push(spec.clone());
        let r = s.roles.len() - 1;
        let id = self
            .crm
            .assign_role(&self.sys, role.id, &self.role_subject(subject))
            .unwrap();
        self.assignments.push(id);
        s.assignments.push((r, subject.clone()));
    }

    /// Adds a forbid rule, in engine and model.
    fn add_forbid(&mut self, s: &mut Scenario, f: &ForbidSpec) {
        let id = self.crm.add_forbid(&self.sys, &self.forbid(f)).unwrap();
        self.forbids.push(id);
        s.forbids.push(f.clone());
    }

    /// Forgets the assignments whose engine id satisfies `gone`, in both vectors.
    fn drop_assignments(&mut self, s: &mut Scenario, gone: impl Fn(RoleAssignmentId) -> bool) {
        let keep: Vec<bool> = self.assignments.iter().map(|a| !gone(*a)).collect();
        let mut k = keep.iter();
        s.assignments.retain(|_| *k.next().unwrap_or(&true));
        self.assignments.retain(|a| !gone(*a));
    }

    /// Forgets the forbid rules for which `gone` holds, in both vectors.
    fn drop_forbids(&mut self, s: &mut Scenario, gone: impl Fn(&ForbidSpec) -> bool) {
        let keep: Vec<bool> = s.forbids.iter().map(|f| !gone(f)).collect();
        let mut k = keep.iter();
        self.forbids.retain(|_| *k.next().unwrap_or(&true));
        s.forbids.retain(|f| !gone(f));
    }

    fn ctx(&self, u: usize) -> Ctx {
        self.crm.user_context(self.users[u]).unwrap()
    }

    fn client_index(&self, id: ClientId) -> usize {
        self.clients
            .iter()
            .position(|c| *c == id)
            .unwrap_or_else(|| panic!("engine returned unknown client {id}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Reading from the engine
// ---------------------------------------------------------------------------------------------

/// Every page of the client list with page size `limit` (optionally only department `dept` and
/// below).
fn list_pages(
    w: &World,
    ctx: &Ctx,
    limit: u32,
    dept: Option<DepartmentId>,
) -> Result<Vec<Page<Client>>, CrmError> {
    let mut pages: Vec<Page<Client>> = Vec::new();
    let mut after = None;
    loop {
        let page = w.crm.list_clients(
            ctx,
            &ClientQuery {
                limit: Some(limit),
                after: after.clone(),
                department_id: dept,
                ..ClientQuery::default()
            },
        )?;
        after = page.next.clone();
        pages.push(page);
        assert!(
            pages.len() <= w.clients.len() + 2,
            "list pagination does not terminate"
        );
        if after.is_none() {
            return Ok(pages);
        }
    }
}

/// Every page of a search for the word all clients share.
fn search_pages(w: &World, ctx: &Ctx, limit: u32) -> Result<Vec<Page<Client>>, CrmError> {
    let mut pages: Vec<Page<Client>> = Vec::new();
    let mut after = None;
    loop {
        let page = w.crm.search_clients(
            ctx,
            &SearchQuery {
                text: COMMON_WORD.into(),
                limit: Some(limit),
                after: after.clone(),
                ..SearchQuery::default()
            },
        )?;
        after = page.next.clone();
        pages.push(page);
        assert!(
            pages.len() <= w.clients.len() + 2,
            "search pagination does not terminate"
        );
        if after.is_none() {
            return Ok(pages);
        }
    }
}

fn flatten_ids(w: &World, pages: &[Page<Client>]) -> Vec<usize> {
    pages
        .iter()
        .flat_map(|p| p.items.iter().map(|c| w.client_index(c.id)))
        .collect()
}

fn list_ids(w: &World, ctx: &Ctx) -> Vec<usize> {
    flatten_ids(w, &list_pages(w, ctx, 50, None).unwrap())
}

fn search_ids(w: &World, ctx: &Ctx) -> Vec<usize> {
    flatten_ids(w, &search_pages(w, ctx, 50).unwrap())
}

/// The clients `get_client` returns (the others must fail with `NotFound`).
fn readable_by_get(w: &World, ctx: &Ctx) -> Result<BTreeSet<usize>, TestCaseError> {
    let mut out = BTreeSet::new();
    for (i, id) in w.clients.iter().enumerate() {
        match w.crm.get_client(ctx, *id) {
            Ok(c) => {
                prop_assert_eq!(c.id, *id);
                out.insert(i);
            }
            Err(CrmError::NotFound { entity, id: nf }) => {
                prop_assert_eq!((entity, nf), ("client", id.0));
            }
            Err(e) => return Err(TestCaseError::fail(format!("get_client({id}): {e}"))),
        }
    }
    Ok(out)
}

fn no_duplicates(ids: &[usize]) -> bool {
    ids.iter().collect::<BTreeSet<_>>().len() == ids.len()
}

fn set(ids: &[usize]) -> BTreeSet<usize> {
    ids.iter().copied().collect()
}

fn is_inactive(r: Result<impl std::fmt::Debug, CrmError>, user: UserId) -> bool {
    matches!(r, Err(CrmError::InactiveUser(id)) if id == user.0)
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the properties
// ---------------------------------------------------------------------------------------------

/// Properties 1–3 for one user (and, for a deactivated user, `InactiveUser` everywhere).
fn check_user(w: &World, s: &Scenario, u: usize) -> TestResult {
    let ctx = w.ctx(u);
    let user = w.users[u];
    if !s.users[u].active {
        let any = w.clients[0];
        prop_assert!(is_inactive(w.crm.get_client(&ctx, any), user));
        prop_assert!(is_inactive(
            w.crm.list_clients(&ctx, &ClientQuery::default()),
            user
        ));
        let search = SearchQuery {
            text: COMMON_WORD.into(),
            ..SearchQuery::default()
        };
        prop_assert!(is_inactive(w.crm.search_clients(&ctx, &search), user));
        prop_assert!(is_inactive(
            w.crm.count_clients(&ctx, &ClientQuery::default(), 1000),
            user
        ));
        prop_assert!(is_inactive(w.crm.can(&ctx, Action::Update, any), user));
        prop_assert!(is_inactive(w.crm.departments(&ctx), user));
        let new = NewClient::organization(format!("New {COMMON_WORD}"));
        prop_assert!(is_inactive(w.crm.create_client(&ctx, &new), user));
        prop_assert!(is_inactive(
            w.crm.explain(&ctx, user, Action::Read, any),
            user
        ));
        return Ok(());
    }

    let model: BTreeSet<usize> = (0..w.clients.len())
        .filter(|&c| s.allowed(u, Action::Read, c))
        .collect();
    let by_get = readable_by_get(w, &ctx)?;
    let listed = list_ids(w, &ctx);
    let found = search_ids(w, &ctx);
    prop_assert!(
        no_duplicates(&listed),
        "user {u}: list repeats a record: {listed:?}"
    );
    prop_assert!(
        no_duplicates(&found),
        "user {u}: search repeats a record: {found:?}"
    );
    let (listed, found) = (set(&listed), set(&found));

    // (1) nothing a single get would deny.
    prop_assert!(
        listed.is_subset(&by_get),
        "user {u}: list returned unreadable records {:?}",
        listed.difference(&by_get).collect::<Vec<_>>()
    );
    prop_assert!(
        found.is_subset(&by_get),
        "user {u}: search returned unreadable records {:?}",
        found.difference(&by_get).collect::<Vec<_>>()
    );
    // (2) nothing a single get would allow is missing.
    prop_assert!(
        by_get.is_subset(&listed),
        "user {u}: list misses readable records {:?}",
        by_get.difference(&listed).collect::<Vec<_>>()
    );
    prop_assert!(
        by_get.is_subset(&found),
        "user {u}: search misses readable records {:?}",
        by_get.difference(&found).collect::<Vec<_>>()
    );
    // (3) the single-record check equals the model, for reading ...
    prop_assert_eq!(&by_get, &model, "user {}: get_client vs model", u);
    // ... and, on readable records, for every other action; unreadable ones are NotFound.
    for (c, id) in w.clients.iter().enumerate() {
        for action in Action::ALL {
            let got = w.crm.can(&ctx, action, *id);
            if model.contains(&c) {
                let expected = s.allowed(u, action, c);
                prop_assert_eq!(
                    got.ok(),
                    Some(expected),
                    "user {} can {:?} client {}",
                    u,
                    action,
                    c
                );
            } else {
                prop_assert!(
                    matches!(got, Err(CrmError::NotFound { .. })),
                    "user {u} can {action:?} unreadable client {c}: {got:?}"
                );
            }
        }
    }
    Ok(())
}

fn check_all_users(w: &World, s: &Scenario) -> TestResult {
    for u in 0..w.users.len() {
        check_user(w, s, u)?;
    }
    Ok(())
}

/// `explain` (asked by the system context) agrees with the model, decision and reason.
fn check_explain(w: &World, s: &Scenario, u: usize, action: Action, c: usize) -> TestResult {
    let e = w
        .crm
        .explain(&w.sys, w.users[u], action, w.clients[c])
        .unwrap();
    let allowed = s.allowed(u, action, c);
    let what = format!("explain(user {u}, {action:?}, client {c}) = {e:?}");
    prop_assert_eq!(e.is_allowed(), allowed, "{}", what);
    match e {
        Explanation::InactiveUser => prop_assert!(!s.users[u].active, "{}", what),
        Explanation::SystemContext => prop_assert!(false, "{}", what),
        Explanation::Forbidden { forbid_id } => {
            let f = w.forbids.iter().position(|id| *id == forbid_id);
            prop_assert!(f.is_some(), "{}: unknown forbid", what);
            prop_assert!(
                s.users[u].active && s.forbid_applies(f.unwrap_or_default(), u, action, c),
                "{}: that rule does not deny this",
                what
            );
        }
        Explanation::NoGrant { best_level } => {
            prop_assert!(s.users[u].active, "{}", what);
            let best = s
                .cells(u, action)
                .iter()
                .map(|(_, cell)| cell.level)
                .max()
                .unwrap_or(AccessLevel::None);
            prop_assert_eq!(best_level, best, "{}", what);
        }
        Explanation::Allowed {
            role_id,
            via,
            level,
            matched_by,
            ..
        } => {
            let r = w.roles.iter().position(|id| *id == role_id);
            prop_assert!(r.is_some(), "{}: unknown role", what);
            let r = r.unwrap_or_default();
            let via = match via {
                RoleVia::User => Via::User,
                RoleVia::Department { department_id } => {
                    Via::Dept(w.depts.iter().position(|d| *d == department_id).unwrap())
                }
                RoleVia::HeadOf { department_id } => {
                    Via::HeadOf(w.depts.iter().position(|d| *d == department_id).unwrap())
                }
            };
            prop_assert!(
                s.held_via(u, r).contains(&via),
                "{}: the user does not hold that role that way ({:?})",
                what,
                s.held_via(u, r)
            );
            let cell = s.roles[r]
                .cells
                .iter()
                .find(|(a, _)| *a == action)
                .map(|(_, cell)| *cell);
            prop_assert!(cell.is_some(), "{}: the role has no such cell", what);
            let cell = cell.unwrap_or_default();
            prop_assert_eq!(level, cell.level, "{}", what);
            let owner = s.clients[c].owner;
            let ok = match matched_by {
                MatchedBy::Owner => cell.level == AccessLevel::Own && owner == u,
                MatchedBy::Department => {
                    matches!(
                        cell.level,
                        AccessLevel::Department | AccessLevel::DepartmentTree
                    ) && s.in_level(u, cell.level, c)
                }
                MatchedBy::All => cell.level == AccessLevel::All,
                MatchedBy::OpenRecord => cell.include_open && s.clients[c].open,
            };
            prop_assert!(ok, "{}: the reason does not hold", what);
        }
    }
    Ok(())
}

/// Every client's stamp is its owner's current department, and users, owners, forbid rules and
/// role assignments are the model's.
fn check_org_state(w: &World, s: &Scenario) -> TestResult {
    let pages = list_pages(w, &w.sys, 500, None).unwrap();
    let all: Vec<&Client> = pages.iter().flat_map(|p| &p.items).collect();
    prop_assert_eq!(all.len(), w.clients.len(), "the system context sees all");
    let users = w.crm.users(&w.sys).unwrap();
    for (u, id) in w.users.iter().enumerate() {
        let user = users.iter().find(|x| x.id == *id);
        prop_assert_eq!(
            user.map(|x| (x.department_id, x.active)),
            Some((w.depts[s.users[u].dept], s.users[u].active)),
            "user {}",
            u
        );
    }
    let forbids: BTreeSet<ForbidId> = w
        .crm
        .forbids(&w.sys)
        .unwrap()
        .iter()
        .map(|f| f.id)
        .collect();
    prop_assert_eq!(
        forbids,
        w.forbids.iter().copied().collect(),
        "stored forbid rules"
    );
    let assignments: BTreeSet<RoleAssignmentId> = w
        .crm
        .role_assignments(&w.sys)
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    prop_assert_eq!(
        assignments,
        w.assignments.iter().copied().collect(),
        "stored role assignments"
    );
    for client in all {
        let c = w.client_index(client.id);
        let owner = s.clients[c].owner;
        prop_assert_eq!(client.owner_id, w.users[owner], "owner of client {}", c);
        let owner_now = users.iter().find(|x| x.id == client.owner_id);
        prop_assert_eq!(
            Some(client.department_id),
            owner_now.map(|x| x.department_id),
            "stale stamp on client {}",
            c
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(48))]

    /// (1) (2) (3): lists and search equal the single-record check, which equals the model.
    #[test]
    fn lists_search_and_single_checks_agree_with_model(s in small_scenario()) {
        let w = World::build(&s);
        check_all_users(&w, &s)?;
    }

    /// (4): keyset pages of size 1–7 concatenate to the one-big-page result, in (name, id)
    /// order, with no gap or duplicate; search pages likewise (newest first); counts are right.
    #[test]
    fn keyset_pages_and_counts_match_model(
        s in small_scenario(),
        limits in prop::collection::vec(1u32..=7, 6),
        cap in 0u64..45,
    ) {
        let w = World::build(&s);
        for (u, &limit) in limits.iter().enumerate().take(w.users.len()) {
            if !s.users[u].active {
                continue;
            }
            let ctx = w.ctx(u);
            let mut expected: Vec<usize> = (0..w.clients.len())
                .filter(|&c| s.allowed(u, Action::Read, c))
                .collect();
            let n = expected.len() as u64;
            expected.sort_by_key(|&c| (s.clients[c].name.trim().to_lowercase(), w.clients[c]));

            let big = list_pages(&w, &ctx, 500, None).unwrap();
            prop_assert_eq!(big.len(), 1, "user {}: one page of 500 holds all", u);
            prop_assert_eq!(flatten_ids(&w, &big), expected.clone(), "user {}: list order", u);

            let pages = list_pages(&w, &ctx, limit, None).unwrap();
            for (i, p) in pages.iter().enumerate() {
                prop_assert!(p.items.len() <= limit as usize);
                if p.next.is_some() {
                    prop_assert_eq!(p.items.len(), limit as usize, "user {}: short page {} before the end", u, i);
                }
            }
            let concatenated = flatten_ids(&w, &pages);
            prop_assert!(no_duplicates(&concatenated), "user {u}: pages overlap: {concatenated:?}");
            prop_assert_eq!(concatenated, expected.clone(), "user {}: pages of {} vs model", u, limit);

            let big = search_pages(&w, &ctx, 500).unwrap();
            prop_assert_eq!(big.len(), 1);
            let mut newest_first = expected.clone();
            newest_first.sort_by_key(|&c| std::cmp::Reverse(w.clients[c]));
            prop_assert_eq!(flatten_ids(&w, &big), newest_first.clone(), "user {}: search order", u);
            let pages = search_pages(&w, &ctx, limit).unwrap();
            let concatenated = flatten_ids(&w, &pages);
            prop_assert_eq!(concatenated, newest_first, "user {}: search pages of {}", u, limit);

            let q = ClientQuery::default();
            prop_assert_eq!(
                w.crm.count_clients(&ctx, &q, 1000).unwrap(),
                Count { count: n, exact: true },
                "user {}: count", u
            );
            prop_assert_eq!(
                w.crm.count_clients(&ctx, &q, cap).unwrap(),
                Count { count: n.min(cap), exact: n <= cap },
                "user {}: count capped at {}", u, cap
            );
        }
    }

    /// (5): a new role (whatever its subject) never removes access; a new forbid never adds any.
    /// Cached plans must follow both changes.
    #[test]
    fn grants_only_add_and_forbids_only_remove(
        (s, subject, role, forbid) in small_scenario().prop_flat_map(|s| {
            let (nd, nu, nr) = (s.parents.len(), s.users.len(), s.roles.len());
            (Just(s), subject(nd, nu), role_spec(), forbid_spec(nd, nu, nr + 1))
        })
    ) {
        let mut s = s;
        let mut w = World::build(&s);
        let snapshot = |w: &World, s: &Scenario| -> Result<Vec<Rights>, TestCaseError> {
            let mut out = Vec::new();
            for u in 0..w.users.len() {
                if !s.users[u].active {
                    out.push(Default::default());
                    continue;
                }
                let ctx = w.ctx(u);
                let read = readable_by_get(w, &ctx)?;
                prop_assert_eq!(set(&list_ids(w, &ctx)), read.clone(), "user {}: list vs get", u);
                let mut other = BTreeSet::new();
                for &c in &read {
                    for (a, action) in Action::ALL.iter().enumerate() {
                        if w.crm.can(&ctx, *action, w.clients[c]).unwrap() {
                            other.insert((c, a));
                        }
                    }
                }
                out.push((read, other));
            }
            Ok(out)
        };
        let before = snapshot(&w, &s)?;

        w.add_role(&mut s, &role, &subject);
        let granted = snapshot(&w, &s)?;
        for u in 0..w.users.len() {
            prop_assert!(before[u].0.is_subset(&granted[u].0), "user {u}: a new role removed read access");
            prop_assert!(before[u].1.is_subset(&granted[u].1), "user {u}: a new role removed an action");
        }
        check_all_users(&w, &s)?;

        w.add_forbid(&mut s, &forbid);
        let forbidden = snapshot(&w, &s)?;
        for u in 0..w.users.len() {
            prop_assert!(forbidden[u].0.is_subset(&granted[u].0), "user {u}: a forbid added read access");
            prop_assert!(forbidden[u].1.is_subset(&granted[u].1), "user {u}: a forbid added an action");
        }
        check_all_users(&w, &s)?;
    }

    /// `explain` asked by the system context agrees with the model for every (user, record)
    /// pair: for reading, and for one other action per pair (all actions are covered).
    /// Asked by the user themselves, it answers for readable records only.
    #[test]
    fn explain_agrees_with_model(s in small_scenario()) {
        let w = World::build(&s);
        for u in 0..w.users.len() {
            let ctx = w.ctx(u);
            for c in 0..w.clients.len() {
                check_explain(&w, &s, u, Action::Read, c)?;
                let other = Action::ALL[(u * 7 + c) % Action::ALL.len()];
                check_explain(&w, &s, u, other, c)?;
                if s.users[u].active && c % 4 == 0 {
                    let own = w.crm.explain(&ctx, w.users[u], other, w.clients[c]);
                    if s.allowed(u, Action::Read, c) {
                        let by_sys = w.crm.explain(&w.sys, w.users[u], other, w.clients[c]).unwrap();
                        prop_assert_eq!(own.unwrap(), by_sys);
                    } else {
                        prop_assert!(matches!(own, Err(CrmError::NotFound { .. })), "{own:?}");
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config(24))]

    /// Large trees: a DepartmentTree scope (or a DepartmentTree forbid) of more departments than
    /// the engine renders as separate branches still agrees with the model.
    #[test]
    fn large_department_trees_agree_with_model(s in scenario(26..=32, true)) {
        let w = World::build(&s);
        check_all_users(&w, &s)?;
        for u in 0..w.users.len() {
            if !s.users[u].active {
                continue;
            }
            let ctx = w.ctx(u);
            let n = (0..w.clients.len()).filter(|&c| s.allowed(u, Action::Read, c)).count() as u64;
            prop_assert_eq!(
                w.crm.count_clients(&ctx, &ClientQuery::default(), 1000).unwrap(),
                Count { count: n, exact: true }
            );
            let pages = list_pages(&w, &ctx, 3, None).unwrap();
            let ids = flatten_ids(&w, &pages);
            prop_assert!(no_duplicates(&ids));
            prop_assert_eq!(ids.len() as u64, n);
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// (6): after every step of a random sequence of user moves and client reassignments (mixed
    /// with department moves, head changes, (de)activations, unassignments, forbid removals and
    /// role deletions, all as the system context) no department stamp is stale, the stored
    /// organisation is the model's, and every user's list equals the model at once (cached
    /// plans follow). At the end, single checks, `explain` and the list's department filter
    /// (the closure table) agree with the model too.
    #[test]
    fn moves_and_reassignments_keep_stamps_fresh(
        (s, ops) in small_scenario().prop_flat_map(|s| {
            let (nd, nu, nr, nc) = (s.parents.len(), s.users.len(), s.roles.len(), s.clients.len());
            (Just(s), prop::collection::vec(op(nd, nu, nr, nc), 1..=10))
        })
    ) {
        let mut s = s;
        let mut w = World::build(&s);
        let mut deleted_roles = BTreeSet::new();
        let contexts: Vec<Ctx> = (0..w.users.len()).map(|u| w.ctx(u)).collect();
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::MoveUser { user, dept } => {
                    let n = w.crm.move_user(&w.sys, w.users[user], w.depts[dept]).unwrap();
                    // Stamps are never stale, so every owned record changes unless the user stays.
                    let owned = s.clients.iter().filter(|c| c.owner == user).count();
                    let restamped = if s.users[user].dept == dept { 0 } else { owned };
                    prop_assert_eq!(n, restamped, "step {}: re-stamped records", step);
                    s.users[user].dept = dept;
                }
                Op::AssignClient { client, owner } => {
                    let id = w.clients[client];
                    let version = w.crm.get_client(&w.sys, id).unwrap().version;
                    let got = w.crm.assign_client(&w.sys, id, version, w.users[owner]);
                    if s.users[owner].active {
                        let c = got.unwrap();
                        prop_assert_eq!(c.owner_id, w.users[owner]);
                        prop_assert_eq!(c.department_id, w.depts[s.users[owner].dept]);
                        s.clients[client].owner = owner;
                    } else {
                        prop_assert!(
                            matches!(got, Err(CrmError::Validation { .. })),
                            "step {step}: assigning to a deactivated user: {got:?}"
                        );
                    }
                }
                Op::MoveDepartment { dept, parent } => {
                    let got = w.crm.move_department(&w.sys, w.depts[dept], parent.map(|p| w.depts[p]));
                    if parent.is_some_and(|p| s.is_within(p, dept)) {
                        prop_assert!(
                            matches!(got, Err(CrmError::Constraint { .. })),
                            "step {step}: a cycle was accepted: {got:?}"
                        );
                    } else {
                        got.unwrap();
                        s.parents[dept] = parent;
                    }
                }
                Op::SetHead { dept, head } => {
                    w.crm.set_department_head(&w.sys, w.depts[dept], head.map(|h| w.users[h])).unwrap();
                    s.heads[dept] = head;
                }
                Op::SetActive { user, active } => {
                    w.crm.set_user_active(&w.sys, w.users[user], active).unwrap();
                    s.users[user].active = active;
                }
                Op::Unassign { nth } => {
                    if !w.assignments.is_empty() {
                        let id = w.assignments[nth.index(w.assignments.len())];
                        w.crm.unassign_role(&w.sys, id).unwrap();
                        w.drop_assignments(&mut s, |a| a == id);
                    }
                }
                Op::RemoveForbid { nth } => {
                    if !w.forbids.is_empty() {
                        let f = nth.index(w.forbids.len());
                        let id = w.forbids[f];
                        w.crm.remove_forbid(&w.sys, id).unwrap();
                        w.forbids.remove(f);
                        s.forbids.remove(f);
                        let again = w.crm.remove_forbid(&w.sys, id);
                        prop_assert!(matches!(again, Err(CrmError::NotFound { .. })), "{again:?}");
                    }
                }
                Op::DeleteRole { role } => {
                    let got = w.crm.delete_role(&w.sys, w.roles[role]);
                    if deleted_roles.insert(role) {
                        got.unwrap();
                        let ids: BTreeSet<RoleAssignmentId> = w
                            .assignments
                            .iter()
                            .zip(&s.assignments)
                            .filter(|(_, (r, _))| *r == role)
                            .map(|(id, _)| *id)
                            .collect();
                        w.drop_assignments(&mut s, |a| ids.contains(&a));
                        w.drop_forbids(&mut s, |f| matches!(f.subject, FSubject::Role(r) if r == role));
                    } else {
                        prop_assert!(
                            matches!(got, Err(CrmError::Validation { .. })),
                            "step {step}: deleting a deleted role: {got:?}"
                        );
                    }
                }
            }
            check_org_state(&w, &s)?;
            for (u, ctx) in contexts.iter().enumerate() {
                if !s.users[u].active {
                    let got = w.crm.list_clients(ctx, &ClientQuery::default());
                    prop_assert!(is_inactive(got, w.users[u]), "step {} ({:?}): user {} is inactive", step, op, u);
                    continue;
                }
                let model: BTreeSet<usize> = (0..w.clients.len())
                    .filter(|&c| s.allowed(u, Action::Read, c))
                    .collect();
                prop_assert_eq!(set(&list_ids(&w, ctx)), model, "step {} ({:?}): user {} list", step, op, u);
            }
        }
        check_all_users(&w, &s)?;
        for u in 0..w.users.len() {
            for c in (0..w.clients.len()).step_by(3) {
                check_explain(&w, &s, u, Action::Read, c)?;
            }
        }
        for (u, ctx) in contexts.iter().enumerate() {
            if !s.users[u].active {
                continue;
            }
            for d in 0..w.depts.len() {
                let model: BTreeSet<usize> = (0..w.clients.len())
                    .filter(|&c| s.allowed(u, Action::Read, c) && s.is_within(s.record_dept(c), d))
                    .collect();
                let listed = flatten_ids(&w, &list_pages(&w, ctx, 50, Some(w.depts[d])).unwrap());
                prop_assert_eq!(set(&listed), model, "user {} list of department {} and below", u, d);
            }
        }
    }
}
