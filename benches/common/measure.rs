//! A tiny measuring harness: interleaved rounds, percentiles, a human table and JSON lines.

use serde_json::{json, Map, Value};
use std::time::Instant;

/// One thing measured: a workload run by one implementation.
pub struct Case<'a> {
    /// Workload key, e.g. `list_first_page`.
    pub workload: &'static str,
    /// `engine`, `raw` (hand-written SQL without permissions) or `engine_sql` (the engine's SQL
    /// run directly with rusqlite).
    pub imp: &'static str,
    run: Box<dyn FnMut() -> usize + 'a>,
    samples: Vec<f64>,
    rows: usize,
}

impl<'a> Case<'a> {
    /// A case; `run` performs one call and returns the number of rows it got.
    pub fn new(workload: &'static str, imp: &'static str, run: impl FnMut() -> usize + 'a) -> Self {
        Case {
            workload,
            imp,
            run: Box::new(run),
            samples: Vec::new(),
            rows: 0,
        }
    }
}

/// Summary of one case, in microseconds.
#[derive(Clone, Debug)]
pub struct Stats {
    pub workload: &'static str,
    pub imp: &'static str,
    pub rows: usize,
    pub iters: usize,
    pub p50: f64,
    pub p95: f64,
    pub mean: f64,
    pub min: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Runs every case `warmup` times, then `iters` times each in `rounds` interleaved rounds (so
/// background load falls on all cases alike).
pub fn run(cases: &mut [Case<'_>], warmup: usize, iters: usize, rounds: usize) -> Vec<Stats> {
    for c in cases.iter_mut() {
        for _ in 0..warmup {
            c.rows = (c.run)();
        }
    }
    let per_round = iters.div_ceil(rounds);
    for _ in 0..rounds {
        for c in cases.iter_mut() {
            for _ in 0..per_round {
                let t = Instant::now();
                let rows = (c.run)();
                c.samples.push(t.elapsed().as_secs_f64() * 1e6);
                assert_eq!(rows, c.rows, "{} {}: row count changed", c.workload, c.imp);
            }
        }
    }
    cases
        .iter_mut()
        .map(|c| {
            c.samples.sort_by(f64::total_cmp);
            let s = &c.samples;
            Stats {
                workload: c.workload,
                imp: c.imp,
                rows: c.rows,
                iters: s.len(),
                p50: percentile(s, 50.0),
                p95: percentile(s, 95.0),
                mean: s.iter().sum::<f64>() / s.len() as f64,
                min: s[0],
            }
        })
        .collect()
}

/// One JSON line for a measurement: its figures plus the run's metadata.
pub fn json_line(bench: &str, s: &Stats, meta: &Map<String, Value>, extra: Value) -> String {
    let mut m = Map::new();
    m.insert("bench".into(), json!(bench));
    m.insert("workload".into(), json!(s.workload));
    m.insert("impl".into(), json!(s.imp));
    m.insert("rows".into(), json!(s.rows));
    m.insert("iters".into(), json!(s.iters));
    let us = |x: f64| json!((x * 100.0).round() / 100.0);
    m.insert("p50_us".into(), us(s.p50));
    m.insert("p95_us".into(), us(s.p95));
    m.insert("mean_us".into(), us(s.mean));
    m.insert("min_us".into(), us(s.min));
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    m.extend(meta.clone());
    Value::Object(m).to_string()
}
