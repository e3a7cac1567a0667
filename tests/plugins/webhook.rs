//! The webhook connector, loaded for real, posting to a real HTTP listener that checks every
//! signature with its own HMAC.

use crate::support::*;
use crm_plugins::host::EnableOptions;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Received {
    /// (X-Crm-Delivery, body) of each correctly signed request.
    good: Vec<(i64, Value)>,
    bad_signatures: usize,
    requests: usize,
}

/// A listener on 127.0.0.1 that fails the first `fail_first` requests with 503.
fn listener(secret: &'static str, fail_first: usize) -> (String, Arc<Mutex<Received>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/crm/events", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Received::default()));
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() || !line.starts_with("POST /crm/events ") {
                continue;
            }
            let (mut len, mut sig, mut delivery) = (0usize, String::new(), 0i64);
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(": ").unwrap();
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.parse().unwrap(),
                    "x-crm-signature" => sig = v.to_string(),
                    "x-crm-delivery" => delivery = v.parse().unwrap(),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(&body);
            let hex = sig.strip_prefix("sha256=").unwrap_or("");
            let tag: Vec<u8> = (0..hex.len() / 2)
                .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                .collect();
            let mut g = g.lock().unwrap();
            g.requests += 1;
            let status = if g.requests <= fail_first {
                503
            } else if mac.verify_slice(&tag).is_err() {
                g.bad_signatures += 1;
                401
            } else {
                g.good
                    .push((delivery, serde_json::from_slice(&body).unwrap()));
                200
            };
            drop(g);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, got)
}

#[test]
fn webhook_posts_signed_events_in_order_with_retries() {
    let f = Fixture::new();
    install(
        &f.plugin_dir(),
        "webhook",
        &artifacts().webhook,
        "events = [\"client.create\", \"deal.change_stage\"]",
    );
    let (url, got) = listener("topsecret", 2);
    let host = f.host();
    host.enable(
        "webhook",
        &EnableOptions {
            user_id: Some(f.connector),
            config: json!({ "url": url, "secret": "topsecret", "backoff_ms": 10 }),
            ..EnableOptions::default()
        },
    )
    .unwrap();
    let ids = f.clients(f.rep, 25, "Hooked");
    // Not subscribed: an update.
    let ctx = f.crm.user_context(f.rep).unwrap();
    let c = f.crm.list_clients(&ctx, &Default::default()).unwrap().items[0].clone();
    f.crm.archive_client(&ctx, c.id, c.version).unwrap();
    let head = f.crm.outbox_head(&f.sys).unwrap();
    host.notify();
    wait_until(30, "the webhook to post everything", || {
        host.status("webhook").unwrap().delivery.unwrap().cursor == head
    });
    let got = got.lock().unwrap();
    assert_eq!(got.bad_signatures, 0);
    let delivered: Vec<i64> = got.good.iter().map(|(d, _)| *d).collect();
    assert_eq!(delivered, ids, "each event once, in commit order");
    for (id, body) in &got.good {
        assert_eq!(body["id"], *id);
        assert_eq!(body["event_type"], "client.create");
        assert_eq!(body["entity"], "client");
        assert!(body["payload"]["changes"]["name"].is_array());
    }
    assert_eq!(got.requests, ids.len() + 2, "two 503s were retried");
    let stats = host.call("webhook", "stats", &json!({})).unwrap();
    assert_eq!(stats["posted"], ids.len());
    assert_eq!(stats["failed"], 2);
}

#[test]
fn a_wrong_secret_is_caught_by_the_receiver() {
    let f = Fixture::new();
    install(
        &f.plugin_dir(),
        "webhook",
        &artifacts().webhook,
        "events = [\"client.create\"]",
    );
    let (url, got) = listener("right", 0);
    let host = f.host();
    host.enable(
        "webhook",
        &EnableOptions {
            user_id: Some(f.connector),
            config: json!({ "url": url, "secret": "wrong" }),
            ..EnableOptions::default()
        },
    )
    .unwrap();
    let ids = f.clients(f.rep, 2, "Hooked");
    host.notify();
    wait_until(30, "two attempts", || got.lock().unwrap().requests >= 2);
    assert_eq!(got.lock().unwrap().bad_signatures, 2);
    assert!(got.lock().unwrap().good.is_empty());
    // 401 is a permanent refusal: logged and skipped, the stream goes on.
    wait_until(30, "the cursor to move on", || {
        host.status("webhook").unwrap().delivery.unwrap().cursor == *ids.last().unwrap()
    });
    let log = host.status("webhook").unwrap().log;
    assert!(log
        .iter()
        .any(|l| l.message.contains("refused by the receiver (HTTP 401)")));
}
