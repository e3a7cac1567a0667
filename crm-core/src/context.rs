//! The acting context: who performs a call. Every data call takes one.

use crate::ids::UserId;
use serde::Serialize;

/// Who acts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A user, bound by their roles.
    User {
        /// The user.
        user_id: UserId,
    },
    /// The host itself, for bootstrap and maintenance. It may do anything, and every use is
    /// audited with the reason it was opened for.
    System {
        /// Why the host opened it, e.g. `bootstrap` or `nightly import`.
        reason: String,
    },
}

/// An acting context, minted by [`crate::Crm::user_context`] or [`crate::Crm::system_context`].
/// It cannot be built any other way, so no call reaches data without one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ctx {
    actor: Actor,
}

impl Ctx {
    pub(crate) fn new(actor: Actor) -> Self {
        Ctx { actor }
    }

    /// Who acts.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The acting user; `None` for the system context.
    pub fn user_id(&self) -> Option<UserId> {
        match self.actor {
            Actor::User { user_id } => Some(user_id),
            Actor::System { .. } => None,
        }
    }
}
