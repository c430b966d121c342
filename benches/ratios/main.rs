//! Benchmarks that report ratios. Each runs one of our paths and a reference path doing
//! the same work side by side, in alternating rounds of one run on the same machine, and
//! prints ours ÷ reference: shared, noisy machines move both alike, so the ratio means
//! something where a time would not. Needs the local services (`make bench` starts them).
//!
//! Besides time, each round counts the Rust heap it used (allocated bytes per unit of
//! work, and how far live bytes rose) for the same ratio. `slow_partner` compares
//! latencies (p99) the same way; `webhook_latency` alone has no reference: its goal is
//! absolute (mutation → webhook p50 and p99 at fixed rates).
//!
//! `cargo bench --bench ratios [name]` runs every benchmark whose name contains `name`;
//! `BENCH_ROUNDS` sets the rounds (default 5). Run by `cargo test --all-targets` (as
//! `make test` does; no `--bench`), it does one small round of each, so the suite proves
//! the benchmarks still work.

#[allow(dead_code, unused_imports)]
#[path = "../../tests/it/support/mod.rs"]
mod support;

mod create_producer;
mod delivery;
mod get_producer;
mod health;
mod heap;
mod measure;
mod relay;
mod slow_partner;
mod webhook_latency;

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

use measure::Comparison;

/// How much to measure.
#[derive(Clone, Copy)]
pub struct Plan {
    pub rounds: usize,
    /// Work per round, as a share of each benchmark's full round.
    pub scale: f64,
}

impl Plan {
    /// Units of work per round for a benchmark whose full round is `full`.
    pub fn per_round(self, full: usize) -> usize {
        ((full as f64 * self.scale) as usize).max(1)
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benchmarking = args.iter().any(|arg| arg == "--bench");
    let filter = args
        .iter()
        .find(|arg| !arg.starts_with("--"))
        .cloned()
        .unwrap_or_default();
    let plan = if benchmarking {
        Plan {
            rounds: std::env::var("BENCH_ROUNDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(5),
            scale: 1.0,
        }
    } else {
        Plan {
            rounds: 1,
            scale: 0.05,
        }
    };
    // Our paths log as in production (formatted, then discarded): logging is their cost.
    tracing_subscriber::fmt().with_writer(std::io::sink).init();
    let mut ran = Vec::new();
    for name in [
        get_producer::NAME,
        create_producer::NAME,
        health::NAME,
        relay::NAME,
        delivery::NAME,
        slow_partner::NAME,
    ] {
        if !name.contains(&filter) {
            continue;
        }
        let result: Comparison = match name {
            get_producer::NAME => get_producer::run(plan).await,
            create_producer::NAME => create_producer::run(plan).await,
            health::NAME => health::run(plan).await,
            delivery::NAME => delivery::run(plan).await,
            slow_partner::NAME => slow_partner::run(plan).await,
            _ => relay::run(plan).await,
        };
        println!("{result}");
        ran.push(result);
    }
    let mut latencies = Vec::new();
    if webhook_latency::NAME.contains(&filter) {
        latencies = webhook_latency::run(plan).await;
    }
    if !ran.is_empty() {
        println!("{}", measure::summary(&ran));
    }
    for rate in &latencies {
        println!("  {rate}");
    }
    // A test filter (`cargo test --all-targets -- name`) reaches this binary too: one
    // that names no benchmark runs none, quietly.
    if ran.is_empty() && latencies.is_empty() && benchmarking {
        eprintln!("no benchmark is named like {filter:?}");
        std::process::exit(2);
    }
}
