//! The department tree in memory, for compiling access plans.

use crate::ids::{DepartmentId, UserId};
use std::collections::{BTreeSet, HashMap};

/// A snapshot of the department tree: parents, children and heads.
#[derive(Clone, Debug, Default)]
pub struct DeptTree {
    parent: HashMap<DepartmentId, Option<DepartmentId>>,
    children: HashMap<DepartmentId, Vec<DepartmentId>>,
    head: HashMap<DepartmentId, UserId>,
}

impl DeptTree {
    /// Builds the tree from `(id, parent, head)` rows.
    pub fn new(
        rows: impl IntoIterator<Item = (DepartmentId, Option<DepartmentId>, Option<UserId>)>,
    ) -> Self {
        let mut t = DeptTree::default();
        for (id, parent, head) in rows {
            t.parent.insert(id, parent);
            if let Some(p) = parent {
                t.children.entry(p).or_default().push(id);
            }
            if let Some(h) = head {
                t.head.insert(id, h);
            }
        }
        t
    }

    /// `d` and every department below it.
    pub fn subtree(&self, d: DepartmentId) -> BTreeSet<DepartmentId> {
        let mut out = BTreeSet::new();
        let mut stack = vec![d];
        while let Some(n) = stack.pop() {
            if out.insert(n) {
                stack.extend(self.children.get(&n).into_iter().flatten().copied());
            }
        }
        out
    }

    /// Whether `d` is `ancestor` or lies below it.
    pub fn is_within(&self, d: DepartmentId, ancestor: DepartmentId) -> bool {
        let mut cur = Some(d);
        // The tree is acyclic (the store refuses cycles); the bound guards a corrupt file.
        for _ in 0..=self.parent.len() {
            match cur {
                Some(c) if c == ancestor => return true,
                Some(c) => cur = self.parent.get(&c).copied().flatten(),
                None => return false,
            }
        }
        false
    }

    /// The departments `user` heads.
    pub fn headed_by(&self, user: UserId) -> impl Iterator<Item = DepartmentId> + '_ {
        self.head
            .iter()
            .filter(move |(_, h)| **h == user)
            .map(|(d, _)| *d)
    }

    /// The head of `d`, if any.
    pub fn head_of(&self, d: DepartmentId) -> Option<UserId> {
        self.head.get(&d).copied()
    }
}
