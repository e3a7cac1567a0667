//! Rendering an access plan to parameterised SQL.
//!
//! A plan becomes a set of *branches*, each an index-friendly condition (`owner_id = ?`,
//! `dept_id = ?`, `is_open = 1`, or nothing for "all"), plus a *deny* condition from the forbid
//! rules that every branch carries. A list runs one bounded, keyset-ordered sub-query per branch
//! and merges them (UNION), so each branch is a range scan of its own index and never reads more
//! than a page. Search and counts use [`SqlAccess::predicate`], the branches OR-ed together.

use super::plan::{AccessPlan, ForbidScope, Scope};
use rusqlite::types::Value;
use std::fmt::Write;

/// Column names of the permission attributes in the queried table (or alias).
#[derive(Clone, Copy, Debug)]
pub struct AclColumns {
    /// Owner column, e.g. `c.owner_id`.
    pub owner: &'static str,
    /// Department stamp column, e.g. `c.dept_id`.
    pub department: &'static str,
    /// Open flag column, e.g. `c.is_open`.
    pub open: &'static str,
}

/// A fragment of SQL with its positional parameters (written as `?`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SqlPart {
    /// The SQL text.
    pub sql: String,
    /// Values for its `?` placeholders, in order.
    pub params: Vec<Value>,
}

impl SqlPart {
    fn new(sql: impl Into<String>, params: Vec<Value>) -> Self {
        SqlPart {
            sql: sql.into(),
            params,
        }
    }
}

/// A plan rendered to SQL.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlAccess {
    /// Alternative conditions; a record is reachable when one holds (and `deny` does not).
    pub branches: Vec<SqlPart>,
    /// Condition that every reachable record must also meet (`1` when no forbid applies).
    pub deny: SqlPart,
}

/// Above this many departments a scope becomes one `IN (…)` branch instead of one branch each.
pub const MAX_DEPARTMENT_BRANCHES: usize = 24;

impl SqlAccess {
    /// A rendering that reaches no record (for composing queries that must still run).
    pub fn nothing() -> SqlAccess {
        SqlAccess {
            branches: vec![SqlPart::new("0", vec![])],
            deny: SqlPart::new("1", vec![]),
        }
    }

    /// Renders `plan`; `None` when it reaches no record, so the caller can skip the query.
    pub fn render(plan: &AccessPlan, cols: AclColumns) -> Option<SqlAccess> {
        if plan.is_empty() {
            return None;
        }
        let mut branches = Vec::new();
        match &plan.scope {
            Scope::Nothing => {}
            Scope::Own(u) => branches.push(SqlPart::new(
                format!("{} = ?", cols.owner),
                vec![Value::Integer(u.0)],
            )),
            Scope::Departments(ds) if ds.len() <= MAX_DEPARTMENT_BRANCHES => {
                for d in ds {
                    branches.push(SqlPart::new(
                        format!("{} = ?", cols.department),
                        vec![Value::Integer(d.0)],
                    ));
                }
            }
            Scope::Departments(ds) => {
                branches.push(in_list(cols.department, ds.iter().map(|d| d.0), false))
            }
            Scope::All => branches.push(SqlPart::new("1", vec![])),
        }
        // Open records add a branch unless the scope already reaches everything.
        if plan.include_open && plan.scope != Scope::All {
            branches.push(SqlPart::new(format!("{} = 1", cols.open), vec![]));
        }

        let mut deny = SqlPart::new("1", vec![]);
        for f in &plan.forbids {
            let part = match &f.scope {
                ForbidScope::All => return None,
                ForbidScope::Departments(ds) => {
                    in_list(cols.department, ds.iter().map(|d| d.0), true)
                }
                ForbidScope::Open => SqlPart::new(format!("{} = 0", cols.open), vec![]),
            };
            write!(deny.sql, " AND {}", part.sql).ok();
            deny.params.extend(part.params);
        }
        Some(SqlAccess { branches, deny })
    }

    /// The whole plan as one condition: `(b1 OR b2 …) AND deny`.
    pub fn predicate(&self) -> SqlPart {
        let mut out = SqlPart::new("((", vec![]);
        for (i, b) in self.branches.iter().enumerate() {
            if i > 0 {
                out.sql.push_str(") OR (");
            }
            out.sql.push_str(&b.sql);
            out.params.extend(b.params.iter().cloned());
        }
        write!(out.sql, ")) AND {}", self.deny.sql).ok();
        out.params.extend(self.deny.params.iter().cloned());
        out
    }
}

fn in_list(col: &str, ids: impl Iterator<Item = i64>, negate: bool) -> SqlPart {
    let params: Vec<Value> = ids.map(Value::Integer).collect();
    let marks = vec!["?"; params.len()].join(", ");
    let not = if negate { "NOT " } else { "" };
    SqlPart::new(format!("{col} {not}IN ({marks})"), params)
}
