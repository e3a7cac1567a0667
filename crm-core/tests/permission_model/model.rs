//! The naive reference model of the documented permission rules (DESIGN.md §4).
//!
//! Written from the rules, not from `crm_core::access`: everything is indices into plain
//! vectors, every question loops over every assignment, cell and rule, the tree is walked
//! through parent pointers, and a record's department is always its owner's current one.

use crm_core::access::{AccessLevel, Action};

/// A user: their department and whether they are active.
#[derive(Clone, Debug)]
pub struct UserSpec {
    pub dept: usize,
    pub active: bool,
}

/// One cell of a role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    pub level: AccessLevel,
    pub include_open: bool,
}

/// A role: at most one cell per action (entity is always "client").
#[derive(Clone, Debug)]
pub struct RoleSpec {
    pub cells: Vec<(Action, Cell)>,
}

/// Who a role is assigned to.
#[derive(Clone, Debug)]
pub enum Subject {
    User(usize),
    Dept { dept: usize, sub: bool },
    HeadOf(usize),
}

/// Who a forbid applies to.
#[derive(Clone, Debug)]
pub enum FSubject {
    User(usize),
    Dept { dept: usize, sub: bool },
    Role(usize),
}

/// Which records a forbid takes away.
#[derive(Clone, Copy, Debug)]
pub enum FTarget {
    All,
    Dept(usize),
    Tree(usize),
    Open,
}

#[derive(Clone, Debug)]
pub struct ForbidSpec {
    pub subject: FSubject,
    pub action: Action,
    pub target: FTarget,
}

#[derive(Clone, Debug)]
pub struct ClientSpec {
    pub owner: usize,
    pub open: bool,
    pub name: String,
}

/// How a user holds a role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    User,
    Dept(usize),
    HeadOf(usize),
}

/// The whole state of an organisation and its clients, by index.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Parent of each department.
    pub parents: Vec<Option<usize>>,
    pub users: Vec<UserSpec>,
    /// Head of each department.
    pub heads: Vec<Option<usize>>,
    pub roles: Vec<RoleSpec>,
    /// (role, subject).
    pub assignments: Vec<(usize, Subject)>,
    pub forbids: Vec<ForbidSpec>,
    pub clients: Vec<ClientSpec>,
}

impl Scenario {
    /// Whether department `d` is `ancestor` or lies below it (walking up parent pointers).
    pub fn is_within(&self, d: usize, ancestor: usize) -> bool {
        let mut cur = Some(d);
        let mut steps = 0;
        while let Some(x) = cur {
            if x == ancestor {
                return true;
            }
            steps += 1;
            assert!(steps <= self.parents.len(), "the model's tree has a cycle");
            cur = self.parents[x];
        }
        false
    }

    /// The department a client is stamped with: its owner's current department.
    pub fn record_dept(&self, c: usize) -> usize {
        self.users[self.clients[c].owner].dept
    }

    /// Whether user `u` is a member of `d` (or of a department below it, with `sub`).
    fn member_of(&self, u: usize, d: usize, sub: bool) -> bool {
        let mine = self.users[u].dept;
        mine == d || (sub && self.is_within(mine, d))
    }

    /// The user's own department and every department they head.
    fn user_depts(&self, u: usize) -> Vec<usize> {
        let mut out = vec![self.users[u].dept];
        for (d, head) in self.heads.iter().enumerate() {
            if *head == Some(u) {
                out.push(d);
            }
        }
        out
    }

    /// Every way user `u` holds role `r`.
    pub fn held_via(&self, u: usize, r: usize) -> Vec<Via> {
        let mut out = Vec::new();
        for (role, subject) in &self.assignments {
            if *role != r {
                continue;
            }
            match *subject {
                Subject::User(x) if x == u => out.push(Via::User),
                Subject::Dept { dept, sub } if self.member_of(u, dept, sub) => {
                    out.push(Via::Dept(dept))
                }
                Subject::HeadOf(d) if self.heads[d] == Some(u) => out.push(Via::HeadOf(d)),
                _ => {}
            }
        }
        out
    }

    fn holds(&self, u: usize, r: usize) -> bool {
        !self.held_via(u, r).is_empty()
    }

    /// The user's cells for `action`, with the role each comes from.
    pub fn cells(&self, u: usize, action: Action) -> Vec<(usize, Cell)> {
        let mut out = Vec::new();
        for (r, role) in self.roles.iter().enumerate() {
            if !self.holds(u, r) {
                continue;
            }
            for (a, cell) in &role.cells {
                if *a == action {
                    out.push((r, *cell));
                }
            }
        }
        out
    }

    /// Whether client `c` lies in the scope of `level` for user `u`.
    pub fn in_level(&self, u: usize, level: AccessLevel, c: usize) -> bool {
        let dept = self.record_dept(c);
        match level {
            AccessLevel::None => false,
            AccessLevel::Own => self.clients[c].owner == u,
            AccessLevel::Department => self.user_depts(u).contains(&dept),
            AccessLevel::DepartmentTree => {
                self.user_depts(u).iter().any(|&d| self.is_within(dept, d))
            }
            AccessLevel::All => true,
        }
    }

    /// Whether forbid `f` denies `action` on client `c` to user `u`.
    pub fn forbid_applies(&self, f: usize, u: usize, action: Action, c: usize) -> bool {
        let rule = &self.forbids[f];
        if rule.action != action {
            return false;
        }
        let subject = match rule.subject {
            FSubject::User(x) => x == u,
            FSubject::Dept { dept, sub } => self.member_of(u, dept, sub),
            FSubject::Role(r) => self.holds(u, r),
        };
        let target = match rule.target {
            FTarget::All => true,
            FTarget::Dept(d) => self.record_dept(c) == d,
            FTarget::Tree(d) => self.is_within(self.record_dept(c), d),
            FTarget::Open => self.clients[c].open,
        };
        subject && target
    }

    /// The decision: active, no forbid applies, and some cell reaches the record.
    pub fn allowed(&self, u: usize, action: Action, c: usize) -> bool {
        if !self.users[u].active {
            return false;
        }
        if (0..self.forbids.len()).any(|f| self.forbid_applies(f, u, action, c)) {
            return false;
        }
        self.cells(u, action).iter().any(|(_, cell)| {
            self.in_level(u, cell.level, c) || (cell.include_open && self.clients[c].open)
        })
    }
}
