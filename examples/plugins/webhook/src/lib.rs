//! # webhook: posts CRM events as signed JSON to a URL
//!
//! An example connector. For every delivered event of the types it is configured for, it sends
//! one `POST` to the configured URL with the event as a JSON body:
//!
//! ```text
//! POST /hook HTTP/1.1
//! Content-Type: application/json
//! X-Crm-Event: deal.change_stage
//! X-Crm-Delivery: 1234                      <- the event id: receivers deduplicate on it
//! X-Crm-Signature: sha256=<hex HMAC-SHA256 of the body with the shared secret>
//!
//! {"id":1234,"event_type":"deal.change_stage","entity":"deal","entity_id":7,"at":"...","payload":{...}}
//! ```
//!
//! A receiver checks the signature by computing the HMAC of the raw body with the shared
//! secret and comparing it in constant time. Delivery is at least once: the same event may be
//! posted twice after a crash; `X-Crm-Delivery` tells.
//!
//! Failures: a connection error, a timeout, a 5xx or 429 answer is retried `max_attempts`
//! times with doubling back-off (stopping early if the host cancels); if the event still
//! fails, the plugin acknowledges the events before it and reports a transient failure, so the
//! host redelivers from that event after its own back-off, in order. A 4xx answer other than
//! 408/429 is a permanent refusal by the receiver: it is logged and the event is skipped.
//!
//! Configuration (the `config` of `enable`):
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `url` | `http://host[:port]/path` (plain HTTP; put a TLS proxy in front for HTTPS) | required |
//! | `secret` | the shared HMAC key | required |
//! | `event_types` | only these types (the manifest's subscription narrows it first) | all |
//! | `max_attempts` | tries per event within one delivery | 3 |
//! | `backoff_ms` | first retry delay | 200 |
//! | `timeout_ms` | connect/read/write timeout | 5000 |
//!
//! Methods: `test` posts a `webhook.test` event; `stats` returns `{"posted", "failed",
//! "skipped"}`.

use crm_plugins::sdk::{Ack, Connector, Error, Event, Host};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The connector's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to post.
    pub url: String,
    /// The HMAC key.
    pub secret: String,
    /// Only these event types (empty: all delivered).
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Tries per event within one delivery.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// First retry delay in ms.
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// Network timeout in ms.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_attempts() -> u32 {
    3
}
fn default_backoff() -> u64 {
    200
}
fn default_timeout() -> u64 {
    5000
}

/// A parsed `http://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Host name or address.
    pub host: String,
    /// Port (80 by default).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses `http://host[:port][/path]`.
    pub fn parse(url: &str) -> Result<Url, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("url {url:?}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("url {url:?}: bad port"))?,
            ),
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("url {url:?}: no host"));
        }
        Ok(Url {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
}

/// `sha256=<hex>`: the signature header value for `body`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// What happened to one POST.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Delivered,
    /// Worth retrying: network error, timeout, 5xx, 408, 429.
    Transient(String),
    /// The receiver refused it for good (other 4xx, 3xx).
    Refused(String),
}

/// Sends one POST with `body` and the given extra headers; classifies the answer.
pub fn post(url: &Url, headers: &[(&str, String)], body: &[u8], timeout: Duration) -> Outcome {
    let addr = match (url.host.as_str(), url.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    {
        Some(a) => a,
        None => return Outcome::Transient(format!("cannot resolve {}", url.host)),
    };
    let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => return Outcome::Transient(format!("connect {addr}: {e}")),
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let mut req = format!(
        "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: crm-webhook/{}\r\n",
        url.path,
        url.host,
        url.port,
        body.len(),
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    if let Err(e) = stream
        .write_all(req.as_bytes())
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush())
    {
        return Outcome::Transient(format!("send: {e}"));
    }
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    if let Err(e) = reader.read_line(&mut status_line) {
        return Outcome::Transient(format!("no answer: {e}"));
    }
    // Drain the rest so the server sees a clean close.
    let mut sink = Vec::new();
    let _ = reader.take(64 * 1024).read_to_end(&mut sink);
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(200..=299) => Outcome::Delivered,
        Some(c @ (408 | 429 | 500..=599)) => Outcome::Transient(format!("HTTP {c}")),
        Some(c) => Outcome::Refused(format!("HTTP {c}")),
        None => Outcome::Transient(format!("bad answer {:?}", status_line.trim())),
    }
}

/// The webhook connector.
pub struct Webhook {
    host: Host,
    config: Config,
    url: Url,
    posted: u64,
    failed: u64,
    skipped: u64,
}

impl Webhook {
    /// Posts one event with retries; `Err` when it still fails transiently.
    fn send(&mut self, event_type: &str, delivery: i64, body: &[u8]) -> Result<(), String> {
        let headers = [
            ("X-Crm-Event", event_type.to_string()),
            ("X-Crm-Delivery", delivery.to_string()),
            (
                "X-Crm-Signature",
                signature(self.config.secret.as_bytes(), body),
            ),
        ];
        let timeout = Duration::from_millis(self.config.timeout_ms.max(1));
        let mut delay = Duration::from_millis(self.config.backoff_ms);
        let attempts = self.config.max_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            match post(&self.url, &headers, body, timeout) {
                Outcome::Delivered => {
                    self.posted += 1;
                    return Ok(());
                }
                Outcome::Refused(why) => {
                    self.skipped += 1;
                    self.host.error(&format!(
                        "webhook: event {delivery} ({event_type}) refused by the receiver ({why}); skipped"
                    ));
                    return Ok(());
                }
                Outcome::Transient(why) => {
                    self.failed += 1;
                    self.host.warn(&format!(
                        "webhook: event {delivery} attempt {attempt}/{attempts} failed: {why}"
                    ));
                    last = why;
                }
            }
            if attempt < attempts {
                // Sleep in small steps so a cancellation is noticed quickly.
                let until = std::time::Instant::now() + delay;
                while std::time::Instant::now() < until {
                    if self.host.is_cancelled() {
                        return Err("cancelled".into());
                    }
                    std::thread::sleep(Duration::from_millis(10).min(delay));
                }
                delay = delay.saturating_mul(2);
            }
        }
        Err(last)
    }
}

impl Connector for Webhook {
    fn create(host: Host, config: Value) -> Result<Self, Error> {
        let config: Config = crm_plugins::sdk::parse("config", config)?;
        let url = Url::parse(&config.url).map_err(Error::bad_request)?;
        if config.secret.is_empty() {
            return Err(Error::bad_request("config: secret must not be empty"));
        }
        host.info(&format!("webhook: posting to {}", config.url));
        Ok(Webhook {
            host,
            config,
            url,
            posted: 0,
            failed: 0,
            skipped: 0,
        })
    }

    fn call(&mut self, method: &str, _input: Value) -> Result<Value, Error> {
        match method {
            "stats" => Ok(json!({
                "posted": self.posted, "failed": self.failed, "skipped": self.skipped
            })),
            "test" => {
                let body = json!({ "event_type": "webhook.test", "id": 0 }).to_string();
                self.send("webhook.test", 0, body.as_bytes())
                    .map_err(Error::retry)?;
                Ok(json!({ "ok": true }))
            }
            _ => Err(Error::unknown_method(method)),
        }
    }

    fn on_events(&mut self, events: Vec<Event>) -> Result<Ack, Error> {
        let mut done: Option<i64> = None;
        for e in &events {
            let wanted = self.config.event_types.is_empty()
                || self.config.event_types.contains(&e.event_type);
            if wanted {
                let body = serde_json::to_vec(e).map_err(|x| Error::new(x.to_string()))?;
                if let Err(why) = self.send(&e.event_type, e.id, &body) {
                    return match done {
                        // Keep what went through; the rest comes again after a back-off.
                        Some(id) => Ok(Ack::upto(id)),
                        None => Err(Error::retry(format!("event {}: {why}", e.id))),
                    };
                }
            }
            done = Some(e.id);
        }
        Ok(Ack::all())
    }
}

crm_plugins::export_connector!(Webhook);

#[cfg(test)]
mod tests {
    use super::*;
    use crm_plugins::sdk::testing::{event, Harness};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// A one-thread HTTP listener answering the given status codes in turn (then 200),
    /// recording (headers, body) of each request.
    type Requests = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;
    fn listener(codes: Vec<u16>) -> (String, Requests) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let got: Requests = Arc::default();
        let g = got.clone();
        std::thread::spawn(move || {
            let mut codes = codes.into_iter();
            for s in l.incoming() {
                let Ok(s) = s else { break };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let mut headers = vec![];
                let mut len = 0;
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(": ").unwrap();
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.parse().unwrap();
                    }
                    headers.push((k.to_string(), v.to_string()));
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                g.lock().unwrap().push((headers, body));
                let code = codes.next().unwrap_or(200);
                let mut s = s;
                let _ = write!(s, "HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
            }
        });
        (url, got)
    }

    fn header<'a>(h: &'a [(String, String)], k: &str) -> &'a str {
        h.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap()
    }

    #[test]
    fn posts_signed_events_and_retries() {
        let (url, got) = listener(vec![503]);
        let mut h = Harness::new::<Webhook>(
            json!({"url": url, "secret": "k", "backoff_ms": 1, "event_types": ["deal.create"]}),
        )
        .unwrap();
        let ack = h
            .deliver(&[
                event(1, "client.create", 5, json!({})),
                event(2, "deal.create", 6, json!({"title": [null, "Big"]})),
            ])
            .unwrap();
        assert_eq!(ack, Ack::all());
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 2, "one 503, then the retry");
        let (headers, body) = &got[1];
        assert_eq!(header(headers, "X-Crm-Signature"), signature(b"k", body));
        assert_eq!(header(headers, "X-Crm-Delivery"), "2");
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["entity_id"], 6);
    }

    #[test]
    fn unreachable_receiver_acknowledges_the_prefix() {
        let (url, _got) = listener(vec![]);
        let mut h =
            Harness::new::<Webhook>(json!({"url": url, "secret": "k", "backoff_ms": 1})).unwrap();
        h.deliver(&[event(1, "client.create", 1, json!({}))])
            .unwrap();
        h.destroy();
        // A port nobody listens on.
        let dead = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_url = format!("http://{}/x", dead.local_addr().unwrap());
        drop(dead);
        let mut h = Harness::new::<Webhook>(
            json!({"url": dead_url, "secret": "k", "backoff_ms": 1, "max_attempts": 2}),
        )
        .unwrap();
        let err = h
            .deliver(&[event(7, "client.create", 1, json!({}))])
            .unwrap_err();
        assert_eq!(err.status, crm_plugins::abi::CRM_PLUGIN_RETRY);
        assert!(h.logs().iter().any(|(_, m)| m.contains("attempt 2/2")));
    }

    #[test]
    fn bad_config_is_refused() {
        let err = Harness::new::<Webhook>(json!({"url": "https://x", "secret": "k"})).unwrap_err();
        assert!(err.message.contains("only http://"), "{err}");
        let err = Harness::new::<Webhook>(json!({"secret": "k"})).unwrap_err();
        assert!(err.message.contains("url"), "{err}");
    }

    #[test]
    fn url_parsing() {
        assert_eq!(
            Url::parse("http://localhost:8080/a/b?c=1").unwrap(),
            Url {
                host: "localhost".into(),
                port: 8080,
                path: "/a/b?c=1".into()
            }
        );
        assert_eq!(Url::parse("http://example.com").unwrap().port, 80);
    }
}
