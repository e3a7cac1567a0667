//! The plugin system, tested with real libraries: the example connectors and a probe plugin
//! are built by a nested cargo, the C plugins by the system C compiler, and all are loaded
//! with dlopen (or run in `crm-plugin-runner`) by a real `PluginHost` over a real database.
//!
//! - `refusals`: every way the host refuses a plugin, with nothing loaded.
//! - `inproc`: calls, panics, capabilities and permissions, the C plugin, enable/disable.
//! - `oop`: out-of-process mode: a segfaulting or aborting plugin, timeouts, restarts.
//! - `delivery`: events in commit order, retries, isolation, permission filtering, and no
//!   loss across a host killed with SIGKILL.
//! - `webhook` and `accounting`: the example connectors end to end.

#[path = "plugins/support.rs"]
mod support;

#[path = "plugins/accounting.rs"]
mod accounting;
#[path = "plugins/delivery.rs"]
mod delivery;
#[path = "plugins/inproc.rs"]
mod inproc;
#[path = "plugins/oop.rs"]
mod oop;
#[path = "plugins/refusals.rs"]
mod refusals;
#[path = "plugins/webhook.rs"]
mod webhook;
