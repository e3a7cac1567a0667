//! The host side of out-of-process plugins: [`RemoteInstance`] runs `crm-plugin-runner` as a
//! child process and drives it through [`crate::protocol`]. A segfault or abort in the
//! connector ends the child, never the host: the call in flight fails with
//! [`RemoteError::Crashed`] and the owner starts a new runner.

use crate::abi::*;
use crate::call::{self, CallError};
use crate::driver::TableInfo;
use crate::hostcaps::HostCaps;
use crate::protocol::{FromRunner, ToRunner};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a remote call failed.
#[derive(Debug)]
pub enum RemoteError {
    /// The plugin answered with a failure.
    Call(CallError),
    /// The runner could not start, died, or stopped answering (it has been killed).
    Crashed(String),
    /// The runner refused to load the plugin (`kind` is a [`crate::PluginError`] kind).
    Refused {
        /// The kind of refusal.
        kind: String,
        /// The runner's message.
        message: String,
    },
}

enum Incoming {
    Ready(TableInfo),
    Fatal(String, String),
    Result(u64, Result<serde_json::Value, CallError>),
}

/// Sets the cancellation flag of a runner from any thread.
#[derive(Clone)]
pub struct CancelHandle(Arc<Mutex<Option<ChildStdin>>>);

impl CancelHandle {
    /// Sets or clears the flag the plugin sees through `is_cancelled`.
    pub fn set(&self, cancelled: bool) {
        send(&self.0, &ToRunner::Cancel { cancelled });
    }
}

fn send(stdin: &Mutex<Option<ChildStdin>>, msg: &ToRunner) -> bool {
    let Ok(line) = serde_json::to_string(msg) else {
        return false;
    };
    let mut g = stdin
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match g.as_mut() {
        Some(s) => writeln!(s, "{line}").and_then(|()| s.flush()).is_ok(),
        None => false,
    }
}

/// A plugin instance living in a `crm-plugin-runner` child process.
pub struct RemoteInstance {
    child: Child,
    stdin: Arc<Mutex<Option<ChildStdin>>>,
    incoming: Receiver<Incoming>,
    next_id: u64,
    timeout: Duration,
    /// What the plugin's table says.
    pub info: TableInfo,
}

impl RemoteInstance {
    /// Starts `runner serve <dir>`, waits for it to load the plugin, and creates the instance
    /// with `config`. `timeout` bounds start-up and every call.
    pub fn spawn(
        runner: &Path,
        dir: &Path,
        caps: Arc<dyn HostCaps>,
        config: &serde_json::Value,
        timeout: Duration,
    ) -> Result<RemoteInstance, RemoteError> {
        let mut child = Command::new(runner)
            .arg("serve")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| RemoteError::Crashed(format!("cannot start {}: {e}", runner.display())))?;
        let stdin = Arc::new(Mutex::new(child.stdin.take()));
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (tx, incoming) = mpsc::channel();
        if let Some(stdout) = stdout {
            let caps = caps.clone();
            let stdin = stdin.clone();
            std::thread::Builder::new()
                .name("crm-plugin-runner-io".into())
                .spawn(move || read_runner(stdout, &*caps, &stdin, tx))
                .map_err(|e| RemoteError::Crashed(e.to_string()))?;
        }
        if let Some(stderr) = stderr {
            let caps = caps.clone();
            std::thread::Builder::new()
                .name("crm-plugin-runner-stderr".into())
                .spawn(move || {
                    for line in BufReader::new(stderr).lines() {
                        let Ok(line) = line else { break };
                        caps.log(CRM_PLUGIN_LOG_WARN, &format!("runner stderr: {line}"));
                    }
                })
                .map_err(|e| RemoteError::Crashed(e.to_string()))?;
        }
        let mut me = RemoteInstance {
            child,
            stdin,
            incoming,
            next_id: 1,
            timeout,
            info: TableInfo {
                name: String::new(),
                version: String::new(),
                abi_major: 0,
                abi_minor: 0,
            },
        };
        // Start-up (exec, dynamic loading, checksum) may take longer than a call on a busy
        // machine.
        match me
            .incoming
            .recv_timeout(timeout.max(Duration::from_secs(30)))
        {
            Ok(Incoming::Ready(info)) => me.info = info,
            Ok(Incoming::Fatal(kind, message)) => {
                return Err(RemoteError::Refused { kind, message })
            }
            Ok(Incoming::Result(..)) => {
                return Err(me.crashed("the runner answered before it was ready"))
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(me.crashed("the runner did not start in time"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(me.crashed("the runner exited during start-up"))
            }
        }
        let id = me.next();
        me.request(
            id,
            &ToRunner::Create {
                id,
                config: config.clone(),
            },
        )?;
        Ok(me)
    }

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A handle to set the cancellation flag while a call runs.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.stdin.clone())
    }

    /// Calls `method` with `input` (a JSON document); returns the JSON result.
    pub fn call(&mut self, method: &str, input: &[u8]) -> Result<Vec<u8>, RemoteError> {
        let input = call::parse_json(input).map_err(RemoteError::Call)?;
        let id = self.next();
        let out = self.request(
            id,
            &ToRunner::Call {
                id,
                method: method.to_string(),
                input,
            },
        )?;
        Ok(out.to_string().into_bytes())
    }

    fn request(&mut self, id: u64, msg: &ToRunner) -> Result<serde_json::Value, RemoteError> {
        if !send(&self.stdin, msg) {
            return Err(self.crashed("the runner's stdin is closed"));
        }
        let deadline = Instant::now() + self.timeout;
        let mut cancelled_at: Option<Instant> = None;
        loop {
            let wait = match cancelled_at {
                None => deadline.saturating_duration_since(Instant::now()),
                Some(at) => (at + Duration::from_secs(2)).saturating_duration_since(Instant::now()),
            };
            match self.incoming.recv_timeout(wait) {
                Ok(Incoming::Result(rid, r)) if rid == id => {
                    if cancelled_at.is_some() {
                        send(&self.stdin, &ToRunner::Cancel { cancelled: false });
                    }
                    return r.map_err(RemoteError::Call);
                }
                Ok(_) => continue, // a late answer to an abandoned request
                Err(RecvTimeoutError::Timeout) if cancelled_at.is_none() => {
                    // Ask politely first, then kill.
                    send(&self.stdin, &ToRunner::Cancel { cancelled: true });
                    cancelled_at = Some(Instant::now());
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.crashed(&format!(
                        "no answer within {} ms; the runner was killed",
                        self.timeout.as_millis()
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.crashed("the runner process died"))
                }
            }
        }
    }

    /// Kills the child (if still running) and describes how it ended.
    fn crashed(&mut self, what: &str) -> RemoteError {
        let status = match self.child.try_wait() {
            Ok(Some(s)) => Some(s),
            _ => {
                // It may be exiting right now: give it a moment, then kill it.
                let deadline = Instant::now() + Duration::from_millis(500);
                loop {
                    if let Ok(Some(s)) = self.child.try_wait() {
                        break Some(s);
                    }
                    if Instant::now() > deadline {
                        let _ = self.child.kill();
                        break self.child.wait().ok();
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        };
        RemoteError::Crashed(match status {
            Some(s) => format!("{what} ({})", describe_exit(s)),
            None => what.to_string(),
        })
    }
}

fn describe_exit(s: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            let name = match sig {
                4 => "SIGILL",
                6 => "SIGABRT",
                7 => "SIGBUS",
                9 => "SIGKILL",
                11 => "SIGSEGV",
                15 => "SIGTERM",
                _ => "signal",
            };
            return format!("killed by signal {sig} ({name})");
        }
    }
    match s.code() {
        Some(c) => format!("exit status {c}"),
        None => "ended".into(),
    }
}

impl Drop for RemoteInstance {
    fn drop(&mut self) {
        // Closing stdin asks the runner to destroy the instance and exit.
        drop(
            self.stdin
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_runner(
    stdout: std::process::ChildStdout,
    caps: &dyn HostCaps,
    stdin: &Mutex<Option<ChildStdin>>,
    tx: mpsc::Sender<Incoming>,
) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let msg: FromRunner = match serde_json::from_str(&line) {
            Ok(m) => m,
            Err(_) => {
                // Something in the plugin printed to stdout: keep it, as a log line.
                caps.log(CRM_PLUGIN_LOG_WARN, &format!("runner stdout: {line}"));
                continue;
            }
        };
        let forward = match msg {
            FromRunner::Ready {
                name,
                version,
                abi_major,
                abi_minor,
            } => Some(Incoming::Ready(TableInfo {
                name,
                version,
                abi_major,
                abi_minor,
            })),
            FromRunner::Fatal { kind, message } => Some(Incoming::Fatal(kind, message)),
            FromRunner::Result {
                id,
                status,
                output,
                error,
            } => Some(Incoming::Result(
                id,
                if status == CRM_PLUGIN_OK {
                    Ok(output)
                } else {
                    Err(CallError::with_status(status, error.unwrap_or_default()))
                },
            )),
            FromRunner::Log { level, message } => {
                caps.log(level, &message);
                None
            }
            FromRunner::Emit { record } => {
                let _ = caps.emit(record.to_string().as_bytes());
                None
            }
            FromRunner::CrmCall { cb, method, input } => {
                let reply = match caps.crm_call(&method, input.to_string().as_bytes()) {
                    Ok(bytes) => ToRunner::Reply {
                        cb,
                        status: CRM_PLUGIN_OK,
                        output: call::parse_json(&bytes).unwrap_or_default(),
                        error: None,
                    },
                    Err(e) => ToRunner::Reply {
                        cb,
                        status: e.status,
                        output: serde_json::Value::Null,
                        error: Some(e.message),
                    },
                };
                send(stdin, &reply);
                None
            }
        };
        if let Some(m) = forward {
            if tx.send(m).is_err() {
                break;
            }
        }
    }
}
