//! # crm-plugins: the plugin ABI, host and Rust SDK of the crm engine
//!
//! Connectors (webhooks, accounting imports, mail sync...) are shared libraries the host loads
//! at run time. This crate holds every part of that:
//!
//! - [`abi`]: the C tables both sides share; `include/crm_plugin.h` is generated from it.
//!   One exported symbol, `crm_plugin_entry_v1`, returns the plugin's table (size, ABI
//!   version, name, version, `create` / `call` / `free` / `destroy`); the host passes a
//!   capability table (log, emit records, CRM calls as the connector's own user, cancellation).
//!   Calls are method names plus JSON; each side frees only what it allocated.
//! - [`sdk`]: the Rust SDK. A connector is a [`sdk::Connector`] impl plus
//!   [`export_connector!`]; every entry runs behind `catch_unwind`. [`sdk::testing::Harness`]
//!   drives a connector without a host.
//! - [`manifest`]: `crm-plugin.toml`, the manifest beside each library (id, name, version,
//!   ABI, library file, its SHA-256, capabilities, event subscriptions), and the checks made
//!   without running plugin code.
//! - [`host`] (feature `host`, on by default): [`host::PluginHost`] lists, enables, disables
//!   and calls plugins and delivers outbox events to them, at least once, in commit order, one
//!   thread per plugin; [`dispatch`] is the table of CRM methods plugins may call.
//! - [`remote`] and [`runner`]: out-of-process plugins. `crm-plugin-runner` (a binary of this
//!   crate) loads the same library in a child process and speaks JSON lines ([`protocol`]), so
//!   a connector that crashes costs a restart, not the host.
//!
//! Plugin crates depend on this crate with `default-features = false`, which leaves only the
//! ABI and the SDK (serde and serde_json), and none of the engine.
//!
//! Libraries are never unloaded (`dlclose` of Rust libraries crashes in TLS destructors):
//! disabling a plugin destroys its instances. See `docs/plugins.md` for the guide.
#![warn(missing_docs)]

pub mod abi;
pub mod call;
pub mod driver;
pub mod hostcaps;
pub mod sdk;

#[cfg(feature = "loader")]
pub mod elf;
#[cfg(feature = "loader")]
mod error;
#[cfg(feature = "loader")]
pub mod library;
#[cfg(feature = "loader")]
pub mod manifest;
#[cfg(feature = "loader")]
pub mod protocol;
#[cfg(feature = "loader")]
pub mod remote;
#[cfg(feature = "loader")]
pub mod runner;

#[cfg(feature = "host")]
pub mod dispatch;
#[cfg(feature = "host")]
pub mod host;

pub use call::CallError;
#[cfg(feature = "loader")]
pub use error::PluginError;
#[cfg(feature = "host")]
pub use host::{EnableOptions, HostConfig, Mode, PluginHost, PluginInfo, PluginStatus};
