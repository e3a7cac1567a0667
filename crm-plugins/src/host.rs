//! [`PluginHost`]: lists, enables, disables and calls plugins, and delivers outbox events to
//! them, one delivery thread per plugin.
//!
//! Every method takes and returns plain serde types, so the C ABI wraps each in a few lines
//! (JSON in, JSON out, [`PluginError::code`] as the status).
//!
//! Delivery: each enabled plugin that subscribes to events (manifest `events`) gets a thread
//! that reads the outbox as the plugin's user (so it sees only events of records that user may
//! read), after the plugin's persisted cursor (`outbox_cursor`, consumer = plugin id), in
//! commit order, in batches; calls the plugin's `crm.events`; and acknowledges (`outbox_ack`)
//! only what the plugin confirmed. A failure is retried with exponential back-off; a slow or
//! failing plugin holds up only its own thread. After a crash of the host, delivery resumes
//! from the last acknowledged event: at least once, nothing lost.

use crate::call::{self, CallError};
use crate::dispatch::Dispatcher;
use crate::driver::{RawInstance, TableInfo};
use crate::error::PluginError;
use crate::hostcaps::HostCaps;
use crate::manifest::{self, CheckedPlugin, Manifest};
use crate::remote::{CancelHandle, RemoteError, RemoteInstance};
use chrono::{DateTime, Utc};
use crm_core::ids::UserId;
use crm_core::{Crm, Ctx};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the host is set up. Deserialises from JSON with every field optional.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostConfig {
    /// The directory holding one sub-directory per plugin. `None` (the default) turns plugin
    /// loading off: nothing is listed or loaded.
    pub plugin_dir: Option<PathBuf>,
    /// The `crm-plugin-runner` executable for out-of-process plugins. Default: the
    /// `CRM_PLUGIN_RUNNER` environment variable, else `crm-plugin-runner` beside the current
    /// executable, else on the `PATH`.
    pub runner: Option<PathBuf>,
    /// How often an idle delivery thread looks for new events (ms). [`PluginHost::notify`]
    /// wakes them at once.
    pub poll_interval_ms: u64,
    /// Events per delivery call (1–10,000).
    pub batch_size: usize,
    /// First retry delay after a failed delivery (ms); doubles per failure.
    pub retry_initial_ms: u64,
    /// Longest retry delay (ms).
    pub retry_max_ms: u64,
    /// Longest an out-of-process call (or start) may take before the runner is killed (ms).
    pub call_timeout_ms: u64,
    /// How long `disable` waits for a busy plugin to finish (ms).
    pub stop_timeout_ms: u64,
    /// Log lines kept per plugin for [`PluginHost::status`].
    pub log_lines: usize,
    /// Emitted records kept per plugin until [`PluginHost::take_emitted`] (when no emit sink is
    /// set); older ones are dropped and counted.
    pub emitted_capacity: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            plugin_dir: None,
            runner: None,
            poll_interval_ms: 250,
            batch_size: 500,
            retry_initial_ms: 200,
            retry_max_ms: 60_000,
            call_timeout_ms: 60_000,
            stop_timeout_ms: 10_000,
            log_lines: 200,
            emitted_capacity: 10_000,
        }
    }
}

/// Where a plugin runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Loaded into the host process (fastest).
    #[default]
    InProcess,
    /// In a `crm-plugin-runner` child process: a crash of the connector becomes an error and a
    /// restart.
    OutOfProcess,
}

/// How to enable a plugin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnableOptions {
    /// The CRM user the plugin acts as: its CRM calls and the events it receives are bound by
    /// that user's permissions. Required when the manifest asks for `crm.read`, `crm.write` or
    /// events.
    pub user_id: Option<UserId>,
    /// The instance's configuration, passed to the plugin's `create` (default `{}`).
    pub config: Value,
    /// In process (default) or out of process.
    pub mode: Mode,
    /// For a plugin that never acknowledged anything: skip the events already in the outbox
    /// and start with the next one (default: deliver everything the outbox holds).
    pub start_at_head: bool,
}

/// A plugin found in the plugin directory (listing runs none of its code).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Its id (the directory's name).
    pub id: String,
    /// Its directory.
    pub dir: PathBuf,
    /// The manifest, when it could be read.
    pub manifest: Option<Manifest>,
    /// Whether every check passed (manifest, checksum, entry symbol).
    pub valid: bool,
    /// Why not, as a JSON error document.
    pub error: Option<Value>,
    /// Whether it is enabled in this host.
    pub enabled: bool,
}

/// What a delivery thread is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for new events.
    #[default]
    Idle,
    /// Inside the plugin's `crm.events`.
    Delivering,
    /// Waiting to retry after a failure.
    BackingOff,
    /// Stopped (the plugin was disabled).
    Stopped,
}

/// Event delivery to one plugin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    /// What the thread is doing.
    pub state: DeliveryState,
    /// The last acknowledged event id (persisted).
    pub cursor: i64,
    /// The newest event id in the outbox, when last looked at.
    pub head: i64,
    /// Events delivered and acknowledged since the plugin was enabled.
    pub delivered: u64,
    /// Successful delivery calls since the plugin was enabled.
    pub batches: u64,
    /// Failed delivery attempts since the plugin was enabled.
    pub failures: u64,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the last batch was acknowledged.
    pub last_delivery_at: Option<DateTime<Utc>>,
    /// When the next retry is due, while backing off.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A line of a plugin's log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// When.
    pub at: DateTime<Utc>,
    /// `error`, `warn`, `info` or `debug`.
    pub level: String,
    /// The text.
    pub message: String,
}

/// The state of one plugin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginStatus {
    /// Its id.
    pub id: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Where it runs (when enabled).
    pub mode: Option<Mode>,
    /// The CRM user it acts as (when enabled).
    pub user_id: Option<UserId>,
    /// Name and version from the plugin's table (when running).
    pub name: Option<String>,
    /// The table's version.
    pub version: Option<String>,
    /// Event types it subscribes to (`*` for all).
    pub events: Vec<String>,
    /// Event delivery (for subscribers; the persisted cursor alone when disabled).
    pub delivery: Option<DeliveryStatus>,
    /// How often its runner process was restarted after a crash.
    pub restarts: u64,
    /// Emitted records waiting for [`PluginHost::take_emitted`].
    pub emitted_pending: usize,
    /// Emitted records dropped because nobody took them.
    pub emitted_dropped: u64,
    /// Recent log lines, oldest first.
    pub log: Vec<LogLine>,
}

/// Receives every plugin log line: (plugin id, line).
pub type LogSink = Arc<dyn Fn(&str, &LogLine) + Send + Sync>;
/// Receives every emitted record: (plugin id, record).
pub type EmitSink = Arc<dyn Fn(&str, &Value) + Send + Sync>;

#[derive(Default)]
struct Sinks {
    log: RwLock<Option<LogSink>>,
    emit: RwLock<Option<EmitSink>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn level_name(level: i32) -> &'static str {
    match level {
        crate::abi::CRM_PLUGIN_LOG_ERROR => "error",
        crate::abi::CRM_PLUGIN_LOG_WARN => "warn",
        crate::abi::CRM_PLUGIN_LOG_INFO => "info",
        _ => "debug",
    }
}

/// The capabilities one plugin instance gets.
struct Caps {
    id: String,
    crm: Arc<Crm>,
    ctx: Option<Ctx>,
    manifest: Manifest,
    dispatcher: Arc<Dispatcher>,
    cancelled: AtomicBool,
    log: Mutex<VecDeque<LogLine>>,
    log_cap: usize,
    emitted: Mutex<VecDeque<Value>>,
    emitted_cap: usize,
    emitted_dropped: AtomicU64,
    sinks: Arc<Sinks>,
}

impl Caps {
    fn record(&self, level: i32, message: &str) {
        let line = LogLine {
            at: Utc::now(),
            level: level_name(level).into(),
            message: message.to_string(),
        };
        if let Some(sink) = self.sinks.log.read().ok().and_then(|s| s.clone()) {
            sink(&self.id, &line);
        }
        let mut log = lock(&self.log);
        if log.len() >= self.log_cap.max(1) {
            log.pop_front();
        }
        log.push_back(line);
    }
}

impl HostCaps for Caps {
    fn log(&self, level: i32, message: &str) {
        self.record(level, message);
    }

    fn emit(&self, record: &[u8]) -> Result<(), CallError> {
        if !self.manifest.has("emit") {
            return Err(CallError::denied(
                "emit needs the emit capability, which the plugin's manifest does not request",
            ));
        }
        let record = call::parse_json(record)?;
        if let Some(sink) = self.sinks.emit.read().ok().and_then(|s| s.clone()) {
            sink(&self.id, &record);
            return Ok(());
        }
        let mut q = lock(&self.emitted);
        if q.len() >= self.emitted_cap.max(1) {
            q.pop_front();
            self.emitted_dropped.fetch_add(1, Ordering::Relaxed);
        }
        q.push_back(record);
        Ok(())
    }

    fn crm_call(&self, method: &str, input: &[u8]) -> Result<Vec<u8>, CallError> {
        let Some(ctx) = &self.ctx else {
            let doc = crate::dispatch::DispatchError::CapabilityDenied(
                "the plugin was enabled without a CRM user".into(),
            );
            return Err(CallError::with_status(
                doc.status(),
                doc.to_json().to_string(),
            ));
        };
        self.dispatcher
            .dispatch(&self.crm, ctx, |cap| self.manifest.has(cap), method, input)
            .map(|v| v.to_string().into_bytes())
            .map_err(|e| CallError::with_status(e.status(), e.to_json().to_string()))
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

enum Slot {
    Native(RawInstance),
    Remote(RemoteInstance),
    /// The runner died; the next call starts a new one.
    Dead,
    /// Disabled.
    Stopped,
}

/// One enabled plugin.
struct Plugin {
    id: String,
    checked: CheckedPlugin,
    options: EnableOptions,
    config: Arc<HostConfig>,
    runner: PathBuf,
    caps: Arc<Caps>,
    slot: Mutex<Slot>,
    info: Mutex<Option<TableInfo>>,
    cancel_handle: Mutex<Option<CancelHandle>>,
    restarts: AtomicU64,
    delivery: Mutex<DeliveryStatus>,
    stop: AtomicBool,
    wake: (Mutex<u64>, Condvar),
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Plugin {
    /// Starts an instance (in process or in a new runner).
    fn start(&self) -> Result<Slot, PluginError> {
        let config = match &self.options.config {
            Value::Null => Value::Object(Default::default()),
            c => c.clone(),
        };
        let caps: Arc<dyn HostCaps> = self.caps.clone();
        match self.options.mode {
            Mode::InProcess => {
                let lib = crate::library::load(&self.checked)?;
                let inst = RawInstance::create(lib.table, caps, config.to_string().as_bytes())
                    .map_err(|error| PluginError::Create {
                        id: self.id.clone(),
                        error,
                    })?;
                *lock(&self.info) = Some(lib.info.clone());
                Ok(Slot::Native(inst))
            }
            Mode::OutOfProcess => {
                let timeout = Duration::from_millis(self.config.call_timeout_ms.max(1));
                match RemoteInstance::spawn(&self.runner, &self.checked.dir, caps, &config, timeout)
                {
                    Ok(r) => {
                        *lock(&self.info) = Some(r.info.clone());
                        *lock(&self.cancel_handle) = Some(r.cancel_handle());
                        if self.caps.is_cancelled() {
                            r.cancel_handle().set(true);
                        }
                        Ok(Slot::Remote(r))
                    }
                    Err(e) => Err(self.remote_error(e, "create")),
                }
            }
        }
    }

    fn remote_error(&self, e: RemoteError, method: &str) -> PluginError {
        let id = self.id.clone();
        match e {
            RemoteError::Call(error) if method == "create" => PluginError::Create { id, error },
            RemoteError::Call(error) => PluginError::Call {
                id,
                method: method.into(),
                error,
            },
            RemoteError::Crashed(message) => PluginError::Crashed { id, message },
            RemoteError::Refused { kind, message } => match kind.as_str() {
                "manifest" => PluginError::Manifest {
                    id,
                    path: self
                        .checked
                        .dir
                        .join(manifest::MANIFEST_FILE)
                        .display()
                        .to_string(),
                    message,
                },
                _ => PluginError::Abi { id, message },
            },
        }
    }

    /// Calls the instance, restarting a dead runner first.
    fn invoke(&self, method: &str, input: &[u8]) -> Result<Vec<u8>, PluginError> {
        let mut slot = lock(&self.slot);
        if matches!(*slot, Slot::Dead) {
            if self.stop.load(Ordering::SeqCst) {
                return Err(PluginError::NotEnabled(self.id.clone()));
            }
            *slot = self.start()?;
            let n = self.restarts.fetch_add(1, Ordering::SeqCst) + 1;
            self.caps.record(
                crate::abi::CRM_PLUGIN_LOG_WARN,
                &format!("host: runner restarted (restart {n})"),
            );
        }
        let result = match &mut *slot {
            Slot::Native(i) => i.call(method, input).map_err(|error| PluginError::Call {
                id: self.id.clone(),
                method: method.into(),
                error,
            }),
            Slot::Remote(r) => match r.call(method, input) {
                Ok(out) => Ok(out),
                Err(RemoteError::Call(error)) => Err(PluginError::Call {
                    id: self.id.clone(),
                    method: method.into(),
                    error,
                }),
                Err(e) => {
                    *slot = Slot::Dead;
                    let err = self.remote_error(e, method);
                    self.caps
                        .record(crate::abi::CRM_PLUGIN_LOG_ERROR, &format!("host: {err}"));
                    Err(err)
                }
            },
            Slot::Dead | Slot::Stopped => Err(PluginError::NotEnabled(self.id.clone())),
        };
        if let Err(PluginError::Call { error, .. }) = &result {
            if error.status == crate::abi::CRM_PLUGIN_PANIC {
                self.caps.record(
                    crate::abi::CRM_PLUGIN_LOG_ERROR,
                    &format!("host: {method} panicked: {}", error.message),
                );
            }
        }
        result
    }

    /// Waits up to `d`, or until woken (`by_notify`: also by new-event notifications).
    fn wait(&self, d: Duration, by_notify: bool) {
        let (m, cv) = &self.wake;
        let mut g = lock(m);
        let start = *g;
        let deadline = Instant::now() + d;
        loop {
            let woken = by_notify && *g != start;
            if self.stop.load(Ordering::SeqCst) || woken {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            g = cv
                .wait_timeout(g, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn wake_up(&self) {
        let (m, cv) = &self.wake;
        *lock(m) += 1;
        cv.notify_all();
    }

    fn set_state(&self, f: impl FnOnce(&mut DeliveryStatus)) {
        f(&mut lock(&self.delivery));
    }
}

/// The delivery thread of one plugin.
fn deliver_loop(p: Arc<Plugin>, crm: Arc<Crm>, sys: Ctx) {
    let Some(user) = p.caps.ctx.clone() else {
        return;
    };
    let types = p.checked.manifest.event_filter();
    let batch = p.config.batch_size.clamp(1, 10_000);
    let poll = Duration::from_millis(p.config.poll_interval_ms.max(1));
    let mut cursor = match crm.outbox_cursor(&sys, &p.id) {
        Ok(c) => c,
        Err(e) => {
            p.caps.record(
                crate::abi::CRM_PLUGIN_LOG_ERROR,
                &format!("host: cannot read the delivery cursor: {e}"),
            );
            0
        }
    };
    if cursor == 0 && p.options.start_at_head {
        if let Ok(head) = crm.outbox_head(&sys) {
            if head > 0 {
                cursor = crm.outbox_ack(&sys, &p.id, head).unwrap_or(cursor);
            }
        }
    }
    p.set_state(|s| s.cursor = cursor);
    let mut failures: u32 = 0;
    while !p.stop.load(Ordering::SeqCst) {
        match deliver_once(&p, &crm, &sys, &user, &types, batch, &mut cursor) {
            Ok(more) => {
                failures = 0;
                p.set_state(|s| {
                    s.consecutive_failures = 0;
                    s.state = DeliveryState::Idle;
                    s.next_attempt_at = None;
                });
                if !more {
                    p.wait(poll, true);
                }
            }
            Err(message) => {
                failures = failures.saturating_add(1);
                let delay = backoff(&p.config, failures);
                p.caps.record(
                    crate::abi::CRM_PLUGIN_LOG_WARN,
                    &format!(
                        "host: delivery failed ({failures} in a row), retrying in {} ms: {message}",
                        delay.as_millis()
                    ),
                );
                p.set_state(|s| {
                    s.state = DeliveryState::BackingOff;
                    s.failures += 1;
                    s.consecutive_failures = failures;
                    s.last_error = Some(message);
                    s.next_attempt_at = chrono::Duration::from_std(delay)
                        .ok()
                        .map(|d| Utc::now() + d);
                });
                p.wait(delay, false);
            }
        }
    }
    p.set_state(|s| {
        s.state = DeliveryState::Stopped;
        s.next_attempt_at = None;
    });
}

fn backoff(config: &HostConfig, failures: u32) -> Duration {
    let initial = config.retry_initial_ms.max(1);
    let ms = initial.saturating_mul(1u64 << failures.saturating_sub(1).min(20));
    Duration::from_millis(ms.min(config.retry_max_ms.max(initial)))
}

#[derive(Serialize)]
struct Batch<'a> {
    events: &'a [crm_core::model::OutboxEvent],
}

#[derive(Deserialize, Default)]
struct AckDoc {
    #[serde(default)]
    ack: Option<i64>,
}

/// One round: read a batch, deliver it, acknowledge. `Ok(true)` when more may be waiting.
fn deliver_once(
    p: &Plugin,
    crm: &Crm,
    sys: &Ctx,
    user: &Ctx,
    types: &[String],
    batch: usize,
    cursor: &mut i64,
) -> Result<bool, String> {
    // The head first: every readable event up to it is in a page that is not full.
    let head = crm.outbox_head(sys).map_err(|e| e.to_string())?;
    p.set_state(|s| s.head = head);
    if head <= *cursor {
        return Ok(false);
    }
    let events = crm
        .outbox_events(user, *cursor, types, batch)
        .map_err(|e| format!("reading the outbox as the plugin's user: {e}"))?;
    let full = events.len() == batch;
    let Some(last) = events.last().map(|e| e.id) else {
        // Nothing readable up to head: skip it for good.
        *cursor = crm
            .outbox_ack(sys, &p.id, head)
            .map_err(|e| e.to_string())?;
        p.set_state(|s| s.cursor = *cursor);
        return Ok(false);
    };
    let input = serde_json::to_vec(&Batch { events: &events }).map_err(|e| e.to_string())?;
    p.set_state(|s| s.state = DeliveryState::Delivering);
    let out = p.invoke("crm.events", &input).map_err(|e| e.to_string())?;
    let ack: AckDoc = if out.iter().all(u8::is_ascii_whitespace) {
        AckDoc::default()
    } else {
        serde_json::from_slice(&out).map_err(|e| format!("bad acknowledgement: {e}"))?
    };
    let upto = match ack.ack {
        None if full => last,
        None => last.max(head),
        Some(a) => a.clamp(*cursor, last),
    };
    let done = events.iter().filter(|e| e.id <= upto).count() as u64;
    if upto > *cursor {
        *cursor = crm
            .outbox_ack(sys, &p.id, upto)
            .map_err(|e| format!("acknowledging: {e}"))?;
    }
    p.set_state(|s| {
        s.cursor = *cursor;
        s.delivered += done;
        s.batches += 1;
        s.last_delivery_at = Some(Utc::now());
    });
    if upto < last {
        return Err(format!(
            "the plugin acknowledged up to event {upto} of {last}"
        ));
    }
    Ok(full)
}

struct Inner {
    crm: Arc<Crm>,
    config: Arc<HostConfig>,
    sys: Option<Ctx>,
    dispatcher: Arc<Dispatcher>,
    plugins: Mutex<BTreeMap<String, Arc<Plugin>>>,
    sinks: Arc<Sinks>,
}

/// The plugin host of one [`Crm`]. `Send + Sync`: share it; every method may be called from
/// any thread. Dropping it (or [`PluginHost::shutdown`]) disables every plugin.
///
/// ```no_run
/// # fn main() -> Result<(), crm_plugins::PluginError> {
/// use crm_plugins::host::{EnableOptions, HostConfig, PluginHost};
/// # let crm = std::sync::Arc::new(crm_core::Crm::open("crm.db")?);
/// let host = PluginHost::new(crm, HostConfig {
///     plugin_dir: Some("plugins".into()),
///     ..HostConfig::default()
/// })?;
/// for p in host.list()? {
///     println!("{} valid={} error={:?}", p.id, p.valid, p.error);
/// }
/// host.enable("webhook", &EnableOptions {
///     user_id: Some(crm_core::ids::UserId(7)),
///     config: serde_json::json!({"url": "http://127.0.0.1:8080/hook", "secret": "s3cret"}),
///     ..EnableOptions::default()
/// })?;
/// println!("{:?}", host.status("webhook")?.delivery);
/// # Ok(()) }
/// ```
pub struct PluginHost {
    inner: Arc<Inner>,
}

impl PluginHost {
    /// A host for `crm`. With `config.plugin_dir` unset, loading is off: `list` fails with
    /// [`PluginError::Disabled`] and nothing can be enabled.
    pub fn new(crm: Arc<Crm>, config: HostConfig) -> Result<PluginHost, PluginError> {
        if config.batch_size == 0 || config.batch_size > 10_000 {
            return Err(PluginError::Invalid {
                field: "batch_size".into(),
                message: format!("{} is outside 1..=10000", config.batch_size),
            });
        }
        let sys = match &config.plugin_dir {
            Some(_) => Some(crm.system_context("plugin host")?),
            None => None,
        };
        Ok(PluginHost {
            inner: Arc::new(Inner {
                crm,
                config: Arc::new(config),
                sys,
                dispatcher: Arc::new(Dispatcher::new()),
                plugins: Mutex::new(BTreeMap::new()),
                sinks: Arc::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    fn dir(&self) -> Result<&Path, PluginError> {
        self.inner
            .config
            .plugin_dir
            .as_deref()
            .ok_or(PluginError::Disabled)
    }

    /// Every plugin directory, checked without running any plugin code, sorted by id.
    pub fn list(&self) -> Result<Vec<PluginInfo>, PluginError> {
        let dir = self.dir()?;
        let entries = std::fs::read_dir(dir).map_err(|e| PluginError::io(dir, e))?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        let enabled = lock(&self.inner.plugins);
        Ok(dirs
            .into_iter()
            .map(|d| {
                let id = manifest::dir_id(&d);
                let checked = manifest::check_dir(&d);
                let manifest = match &checked {
                    Ok(c) => Some(c.manifest.clone()),
                    Err(_) => manifest::read_manifest(&d).ok(),
                };
                PluginInfo {
                    enabled: enabled.contains_key(&id),
                    id,
                    dir: d,
                    manifest,
                    valid: checked.is_ok(),
                    error: checked.err().map(|e| e.to_json()),
                }
            })
            .collect())
    }

    fn plugin_path(&self, id: &str) -> Result<PathBuf, PluginError> {
        let dir = self.dir()?;
        let ok = !id.is_empty() && !id.contains(['/', '\\']) && id != "." && id != "..";
        let path = dir.join(id);
        if !ok || !path.is_dir() {
            return Err(PluginError::NotFound(id.to_string()));
        }
        Ok(path)
    }

    /// Enables a plugin: checks it, loads it (or starts its runner), creates its instance and,
    /// when it subscribes to events, starts its delivery thread. Refused with nothing started
    /// when any check fails.
    pub fn enable(&self, id: &str, options: &EnableOptions) -> Result<PluginStatus, PluginError> {
        let path = self.plugin_path(id)?;
        if lock(&self.inner.plugins).contains_key(id) {
            return Err(PluginError::AlreadyEnabled(id.to_string()));
        }
        let checked = manifest::check_dir(&path)?;
        let m = &checked.manifest;
        let needs_user = m.has("crm.read") || m.has("crm.write") || !m.events.is_empty();
        if needs_user && options.user_id.is_none() {
            return Err(PluginError::Invalid {
                field: "user_id".into(),
                message: format!(
                    "plugin {id:?} reads CRM data or events, so it needs the CRM user it acts as"
                ),
            });
        }
        if !matches!(options.config, Value::Null | Value::Object(_)) {
            return Err(PluginError::Invalid {
                field: "config".into(),
                message: "must be a JSON object".into(),
            });
        }
        let ctx = match options.user_id {
            Some(u) => Some(self.inner.crm.user_context(u)?),
            None => None,
        };
        let caps = Arc::new(Caps {
            id: id.to_string(),
            crm: self.inner.crm.clone(),
            ctx,
            manifest: m.clone(),
            dispatcher: self.inner.dispatcher.clone(),
            cancelled: AtomicBool::new(false),
            log: Mutex::new(VecDeque::new()),
            log_cap: self.inner.config.log_lines,
            emitted: Mutex::new(VecDeque::new()),
            emitted_cap: self.inner.config.emitted_capacity,
            emitted_dropped: AtomicU64::new(0),
            sinks: self.inner.sinks.clone(),
        });
        let plugin = Arc::new(Plugin {
            id: id.to_string(),
            options: options.clone(),
            config: self.inner.config.clone(),
            runner: self.runner(),
            caps,
            slot: Mutex::new(Slot::Stopped),
            info: Mutex::new(None),
            cancel_handle: Mutex::new(None),
            restarts: AtomicU64::new(0),
            delivery: Mutex::new(DeliveryStatus::default()),
            stop: AtomicBool::new(false),
            wake: (Mutex::new(0), Condvar::new()),
            thread: Mutex::new(None),
            checked,
        });
        *lock(&plugin.slot) = plugin.start()?;
        {
            let mut plugins = lock(&self.inner.plugins);
            if plugins.contains_key(id) {
                drop(plugins);
                *lock(&plugin.slot) = Slot::Stopped;
                return Err(PluginError::AlreadyEnabled(id.to_string()));
            }
            plugins.insert(id.to_string(), plugin.clone());
        }
        plugin.caps.record(
            crate::abi::CRM_PLUGIN_LOG_INFO,
            &format!("host: enabled ({:?})", options.mode),
        );
        if !plugin.checked.manifest.events.is_empty() {
            if let Some(sys) = self.inner.sys.clone() {
                let (p, crm) = (plugin.clone(), self.inner.crm.clone());
                let handle = std::thread::Builder::new()
                    .name(format!("crm-plugin-{id}"))
                    .spawn(move || deliver_loop(p, crm, sys))
                    .map_err(|e| PluginError::io(&path, e))?;
                *lock(&plugin.thread) = Some(handle);
            }
        }
        self.status(id)
    }

    fn runner(&self) -> PathBuf {
        if let Some(r) = &self.inner.config.runner {
            return r.clone();
        }
        if let Some(r) = std::env::var_os("CRM_PLUGIN_RUNNER") {
            return PathBuf::from(r);
        }
        let name = format!("crm-plugin-runner{}", std::env::consts::EXE_SUFFIX);
        if let Some(beside) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join(&name)))
        {
            if beside.is_file() {
                return beside;
            }
        }
        PathBuf::from(name)
    }

    fn enabled(&self, id: &str) -> Result<Arc<Plugin>, PluginError> {
        lock(&self.inner.plugins)
            .get(id)
            .cloned()
            .ok_or_else(|| PluginError::NotEnabled(id.to_string()))
    }

    /// Disables a plugin: asks it to cancel, stops its delivery thread and destroys its
    /// instance (its runner process exits). The library stays loaded; enabling it again reuses
    /// it. Its delivery cursor is kept.
    pub fn disable(&self, id: &str) -> Result<(), PluginError> {
        let plugin = lock(&self.inner.plugins)
            .remove(id)
            .ok_or_else(|| PluginError::NotEnabled(id.to_string()))?;
        self.stop_plugin(&plugin);
        Ok(())
    }

    fn stop_plugin(&self, plugin: &Arc<Plugin>) {
        plugin.stop.store(true, Ordering::SeqCst);
        plugin.caps.cancelled.store(true, Ordering::SeqCst);
        if let Some(h) = lock(&plugin.cancel_handle).as_ref() {
            h.set(true);
        }
        plugin.wake_up();
        let deadline =
            Instant::now() + Duration::from_millis(self.inner.config.stop_timeout_ms.max(1));
        if let Some(t) = lock(&plugin.thread).take() {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
            // Otherwise it is stuck inside the plugin; it ends after the call, and the last
            // reference to the instance destroys it then.
        }
        loop {
            match plugin.slot.try_lock() {
                Ok(mut slot) => {
                    *slot = Slot::Stopped;
                    break;
                }
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    *p.into_inner() = Slot::Stopped;
                    break;
                }
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(std::sync::TryLockError::WouldBlock) => break,
            }
        }
        plugin
            .caps
            .record(crate::abi::CRM_PLUGIN_LOG_INFO, "host: disabled");
    }

    /// Calls `method` of an enabled plugin with a JSON input and returns its JSON result.
    /// Names starting with `crm.` are reserved for the host. Waits while the plugin's delivery
    /// thread is inside the plugin. For an out-of-process plugin whose runner crashed, this
    /// fails with [`PluginError::Crashed`] and the next call starts a new runner.
    pub fn call(&self, id: &str, method: &str, input: &Value) -> Result<Value, PluginError> {
        if method.starts_with("crm.") || method.is_empty() {
            return Err(PluginError::Invalid {
                field: "method".into(),
                message: format!("{method:?} is reserved for the host"),
            });
        }
        let plugin = self.enabled(id)?;
        let input = serde_json::to_vec(input).map_err(|e| PluginError::Invalid {
            field: "input".into(),
            message: e.to_string(),
        })?;
        let out = plugin.invoke(method, &input)?;
        call::parse_json(&out).map_err(|e| PluginError::Call {
            id: id.to_string(),
            method: method.to_string(),
            error: CallError::new(format!("the plugin returned invalid JSON: {}", e.message)),
        })
    }

    /// The state of a plugin: running state, delivery progress, recent log. For a plugin that
    /// is not enabled, its persisted delivery cursor.
    pub fn status(&self, id: &str) -> Result<PluginStatus, PluginError> {
        let Ok(p) = self.enabled(id) else {
            self.plugin_path(id)?;
            let sys = self.inner.sys.as_ref().ok_or(PluginError::Disabled)?;
            let cursor = self.inner.crm.outbox_cursor(sys, id)?;
            let head = self.inner.crm.outbox_head(sys)?;
            let events = manifest::read_manifest(&self.plugin_path(id)?)
                .map(|m| m.events)
                .unwrap_or_default();
            return Ok(PluginStatus {
                id: id.to_string(),
                enabled: false,
                mode: None,
                user_id: None,
                name: None,
                version: None,
                delivery: (!events.is_empty()).then(|| DeliveryStatus {
                    state: DeliveryState::Stopped,
                    cursor,
                    head,
                    ..DeliveryStatus::default()
                }),
                events,
                restarts: 0,
                emitted_pending: 0,
                emitted_dropped: 0,
                log: vec![],
            });
        };
        let info = lock(&p.info).clone();
        let subscribed = !p.checked.manifest.events.is_empty();
        let emitted_pending = lock(&p.caps.emitted).len();
        let log = lock(&p.caps.log).iter().cloned().collect();
        let delivery = subscribed.then(|| lock(&p.delivery).clone());
        Ok(PluginStatus {
            id: id.to_string(),
            enabled: true,
            mode: Some(p.options.mode),
            user_id: p.options.user_id,
            name: info.as_ref().map(|i| i.name.clone()),
            version: info.as_ref().map(|i| i.version.clone()),
            events: p.checked.manifest.events.clone(),
            delivery,
            restarts: p.restarts.load(Ordering::SeqCst),
            emitted_pending,
            emitted_dropped: p.caps.emitted_dropped.load(Ordering::Relaxed),
            log,
        })
    }

    /// The status of every enabled plugin.
    pub fn statuses(&self) -> Vec<PluginStatus> {
        let ids: Vec<String> = lock(&self.inner.plugins).keys().cloned().collect();
        ids.iter().filter_map(|id| self.status(id).ok()).collect()
    }

    /// Takes the records a plugin emitted since the last call (when no emit sink is set).
    pub fn take_emitted(&self, id: &str) -> Result<Vec<Value>, PluginError> {
        let p = self.enabled(id)?;
        let drained = lock(&p.caps.emitted).drain(..).collect();
        Ok(drained)
    }

    /// Wakes every delivery thread to look for new events now (call after a commit when
    /// latency matters; otherwise they poll every `poll_interval_ms`).
    pub fn notify(&self) {
        for p in lock(&self.inner.plugins).values() {
            p.wake_up();
        }
    }

    /// Sends every plugin log line to `sink` as well (they are kept for `status` regardless).
    pub fn set_log_sink(&self, sink: Option<LogSink>) {
        if let Ok(mut s) = self.inner.sinks.log.write() {
            *s = sink;
        }
    }

    /// Sends emitted records to `sink` instead of keeping them for `take_emitted`.
    pub fn set_emit_sink(&self, sink: Option<EmitSink>) {
        if let Ok(mut s) = self.inner.sinks.emit.write() {
            *s = sink;
        }
    }

    /// The CRM methods plugins can call, with the access each needs.
    pub fn crm_methods(&self) -> Vec<(&'static str, crate::dispatch::Access)> {
        self.inner.dispatcher.methods()
    }

    /// Disables every plugin.
    pub fn shutdown(&self) {
        let all: Vec<Arc<Plugin>> = std::mem::take(&mut *lock(&self.inner.plugins))
            .into_values()
            .collect();
        for p in &all {
            // Ask them all to stop first, so slow ones stop in parallel.
            p.stop.store(true, Ordering::SeqCst);
            p.caps.cancelled.store(true, Ordering::SeqCst);
            p.wake_up();
        }
        for p in &all {
            self.stop_plugin(p);
        }
    }
}

impl Drop for PluginHost {
    fn drop(&mut self) {
        self.shutdown();
    }
}

// Compile-time proof of the thread-safety promise.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PluginHost>();
};
