//! The runner side of out-of-process plugins: `crm-plugin-runner serve <dir>` (see
//! [`crate::protocol`]). A connector that crashes takes only this process down.

use crate::abi::*;
use crate::call::{self, CallError};
use crate::driver::RawInstance;
use crate::hostcaps::HostCaps;
use crate::protocol::{FromRunner, ToRunner};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Pending = Mutex<HashMap<u64, mpsc::Sender<(i32, serde_json::Value, Option<String>)>>>;

struct Out(Mutex<std::io::Stdout>);

impl Out {
    fn send(&self, msg: &FromRunner) {
        if let Ok(line) = serde_json::to_string(msg) {
            let mut o = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = writeln!(o, "{line}");
            let _ = o.flush();
        }
    }
}

struct RunnerCaps {
    out: Arc<Out>,
    pending: Arc<Pending>,
    next_cb: AtomicU64,
    cancelled: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
}

impl HostCaps for RunnerCaps {
    fn log(&self, level: i32, message: &str) {
        self.out.send(&FromRunner::Log {
            level,
            message: message.to_string(),
        });
    }

    fn emit(&self, record: &[u8]) -> Result<(), CallError> {
        let record = call::parse_json(record)?;
        self.out.send(&FromRunner::Emit { record });
        Ok(())
    }

    fn crm_call(&self, method: &str, input: &[u8]) -> Result<Vec<u8>, CallError> {
        let bad = |m: String| {
            CallError::bad_request(
                String::from_utf8_lossy(&crate::hostcaps::error_doc("bad_request", &m))
                    .into_owned(),
            )
        };
        let input = call::parse_json(input).map_err(|e| bad(e.message))?;
        let cb = self.next_cb.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = mpsc::channel();
        if self.closed.load(Ordering::SeqCst) {
            return Err(CallError::cancelled());
        }
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(cb, tx);
        self.out.send(&FromRunner::CrmCall {
            cb,
            method: method.to_string(),
            input,
        });
        match rx.recv() {
            Ok((CRM_PLUGIN_OK, output, _)) => Ok(output.to_string().into_bytes()),
            Ok((status, _, error)) => {
                Err(CallError::with_status(status, error.unwrap_or_default()))
            }
            Err(_) => Err(CallError::cancelled()),
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// Serves the plugin in `dir` over stdio until stdin closes. Returns the process exit code.
pub fn serve(dir: &Path) -> i32 {
    let out = Arc::new(Out(Mutex::new(std::io::stdout())));
    let loaded = crate::manifest::check_dir(dir).and_then(|p| crate::library::load(&p));
    let lib = match loaded {
        Ok(lib) => lib,
        Err(e) => {
            let message = match &e {
                crate::PluginError::Abi { message, .. }
                | crate::PluginError::Manifest { message, .. } => message.clone(),
                other => other.to_string(),
            };
            out.send(&FromRunner::Fatal {
                kind: e.kind().into(),
                message,
            });
            return 2;
        }
    };
    out.send(&FromRunner::Ready {
        name: lib.info.name.clone(),
        version: lib.info.version.clone(),
        abi_major: lib.info.abi_major,
        abi_minor: lib.info.abi_minor,
    });
    let pending: Arc<Pending> = Arc::default();
    let cancelled = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicBool::new(false));
    let caps = Arc::new(RunnerCaps {
        out: out.clone(),
        pending: pending.clone(),
        next_cb: AtomicU64::new(1),
        cancelled: cancelled.clone(),
        closed: closed.clone(),
    });
    let (req_tx, req_rx) = mpsc::channel::<ToRunner>();
    let worker_out = out.clone();
    let table = lib.table;
    let worker = std::thread::spawn(move || {
        let mut instance: Option<RawInstance> = None;
        for req in req_rx {
            match req {
                ToRunner::Create { id, config } => {
                    let result = if instance.is_some() {
                        Err(CallError::new("the instance exists already"))
                    } else {
                        RawInstance::create(table, caps.clone(), config.to_string().as_bytes())
                            .map(|i| instance = Some(i))
                    };
                    worker_out.send(&result_msg(id, result.map(|()| serde_json::Value::Null)));
                }
                ToRunner::Call { id, method, input } => {
                    let result = match instance.as_mut() {
                        None => Err(CallError::new("no instance: create it first")),
                        Some(i) => {
                            i.call(&method, input.to_string().as_bytes())
                                .and_then(|bytes| {
                                    call::parse_json(&bytes).map_err(|e| {
                                        CallError::new(format!(
                                            "the plugin returned invalid JSON: {}",
                                            e.message
                                        ))
                                    })
                                })
                        }
                    };
                    worker_out.send(&result_msg(id, result));
                }
                _ => {}
            }
        }
        drop(instance); // destroy
    });
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let msg: ToRunner = match serde_json::from_str(&line) {
            Ok(m) => m,
            Err(e) => {
                out.send(&FromRunner::Log {
                    level: CRM_PLUGIN_LOG_ERROR,
                    message: format!("runner: bad line from host: {e}"),
                });
                continue;
            }
        };
        match msg {
            ToRunner::Cancel { cancelled: c } => cancelled.store(c, Ordering::SeqCst),
            ToRunner::Reply {
                cb,
                status,
                output,
                error,
            } => {
                let tx = pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&cb);
                if let Some(tx) = tx {
                    let _ = tx.send((status, output, error));
                }
            }
            req => {
                if req_tx.send(req).is_err() {
                    break;
                }
            }
        }
    }
    // The host is gone or done: cancel, fail pending callbacks, destroy, exit.
    closed.store(true, Ordering::SeqCst);
    cancelled.store(true, Ordering::SeqCst);
    pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
    drop(req_tx);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !worker.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    0
}

fn result_msg(id: u64, r: Result<serde_json::Value, CallError>) -> FromRunner {
    match r {
        Ok(output) => FromRunner::Result {
            id,
            status: CRM_PLUGIN_OK,
            output,
            error: None,
        },
        Err(e) => FromRunner::Result {
            id,
            status: e.status,
            output: serde_json::Value::Null,
            error: Some(e.message),
        },
    }
}
