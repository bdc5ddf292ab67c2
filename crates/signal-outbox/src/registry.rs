//! The worker registry: which workers are alive, and when each was last
//! seen. `enqueue` uses it to warn when no worker is running, so that
//! nobody waits for a delivery or an alert that no process will make.

use crate::time::Timestamp;

/// A worker introducing itself (`WorkerRegistry::heartbeat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Its unique name (`host:pid:start`), as in `lease_owner`.
    pub name: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The build (crate version) it runs.
    pub version: String,
}

/// A worker as the registry saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSeen {
    /// Its unique name.
    pub name: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The build it runs.
    pub version: String,
    /// Its first heartbeat (backend clock).
    pub started_at: Timestamp,
    /// Its latest heartbeat (backend clock).
    pub last_seen: Timestamp,
    /// True once it said it stopped gracefully; a worker that died without
    /// saying so is only recognisable by an old `last_seen`.
    pub stopped: bool,
}
