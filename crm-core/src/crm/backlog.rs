//! Work a bulk job postpones inside its transaction: clients' search documents and duplicate
//! keys. An ordinary call writes both at once; an import defers them, because FTS5 flushes its
//! buffer at every savepoint and keys inserted in sorted runs touch each B-tree page once.

use super::WriteCx;
use crate::access::RecordAcl;
use crate::error::Result;
use crate::ids::ClientId;
use crate::model::ClientFields;
use crate::service::clients::acl_of;
use crate::store::client_search;
use crate::store::clients::{self, ClientKey};
use std::cell::RefCell;

/// Deferred keys are written once this many are waiting (about 15 MB), so memory stays bounded.
const MAX_WAITING_KEYS: usize = 250_000;

/// What is waiting; `None` while the work is not deferred.
#[derive(Default)]
pub(crate) struct Backlog {
    search: RefCell<Option<Vec<ClientId>>>,
    keys: RefCell<Option<Vec<ClientKey>>>,
}

impl WriteCx<'_> {
    /// Writes the search document of an edited client (`fields` and `acl` as stored now), or
    /// notes it for [`WriteCx::flush_search`] while a bulk job defers indexing.
    pub fn index_client(&self, id: ClientId, fields: &ClientFields, acl: &RecordAcl) -> Result<()> {
        if self.queue_search(id) {
            return Ok(());
        }
        client_search::rewrite(self.tx, id, fields, acl)
    }

    /// Writes the search document of a client created in this transaction (it has none yet), or
    /// notes it like [`WriteCx::index_client`].
    pub fn index_new_client(
        &self,
        id: ClientId,
        fields: &ClientFields,
        acl: &RecordAcl,
    ) -> Result<()> {
        if self.queue_search(id) {
            return Ok(());
        }
        client_search::insert(self.tx, id, fields, acl)
    }

    /// Notes `id` for [`WriteCx::flush_search`] when indexing is deferred; false otherwise.
    fn queue_search(&self, id: ClientId) -> bool {
        match self.backlog.search.borrow_mut().as_mut() {
            Some(waiting) => {
                waiting.push(id);
                true
            }
            None => false,
        }
    }

    /// From now on, search documents wait for [`WriteCx::flush_search`].
    pub fn defer_search(&self) {
        self.backlog
            .search
            .borrow_mut()
            .get_or_insert_with(Vec::new);
    }

    /// Writes the search documents deferred so far, once per client.
    pub fn flush_search(&self) -> Result<()> {
        let mut ids = self
            .backlog
            .search
            .borrow_mut()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            if let Some(c) = clients::get(self.tx, id)? {
                client_search::rewrite(self.tx, id, &ClientFields::from_stored(&c), &acl_of(&c))?;
            }
        }
        Ok(())
    }

    /// Writes the duplicate keys of a client created in this transaction, or queues them while
    /// a bulk job defers keys.
    pub fn add_client_keys(&self, id: ClientId, fields: &ClientFields) -> Result<()> {
        let mut keys = clients::keys_for(id, fields);
        let full = match self.backlog.keys.borrow_mut().as_mut() {
            Some(waiting) => {
                waiting.append(&mut keys);
                waiting.len() >= MAX_WAITING_KEYS
            }
            None => return clients::insert_keys(self.tx, &mut keys),
        };
        if full {
            self.flush_keys()?;
        }
        Ok(())
    }

    /// From now on, keys of new clients wait for [`WriteCx::flush_keys`]. Every read of
    /// `client_keys` in the transaction must go through [`WriteCx::clients_by_key`] or follow a
    /// flush.
    pub fn defer_keys(&self) {
        self.backlog.keys.borrow_mut().get_or_insert_with(Vec::new);
    }

    /// Writes the keys deferred so far, in key order.
    pub fn flush_keys(&self) -> Result<()> {
        let mut keys = self
            .backlog
            .keys
            .borrow_mut()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        clients::insert_keys(self.tx, &mut keys)
    }

    /// The clients holding a duplicate key, seeing keys still deferred.
    pub fn clients_by_key(&self, kind: &str, key: &str, limit: usize) -> Result<Vec<ClientId>> {
        self.flush_keys()?;
        clients::by_key(self.tx, kind, key, limit)
    }
}
