//! The two roles of every protocol, shared by every layer (channel users,
//! OT, circuits, GMW, EpiLink) without importing any of them.

use serde::{Deserialize, Serialize};

/// The two parties of the computation.
///
/// `Client` is the party holding the query record(s); `Server` is the party
/// holding the database. Both run the same code with their own role.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Party {
    /// The querying party.
    Client,
    /// The database party.
    Server,
}

impl Party {
    /// The other party.
    pub const fn other(self) -> Party {
        match self {
            Party::Client => Party::Server,
            Party::Server => Party::Client,
        }
    }
}
