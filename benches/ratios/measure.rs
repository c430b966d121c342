//! Rounds of both paths, and the report: per-round times, rates and ours ÷ reference.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::heap::{HeapUse, Watch};

/// The rounds of both paths for the same work: their times and heap use.
pub struct Comparison {
    name: &'static str,
    /// What one unit of work is ("creates", "webhooks", …).
    unit: &'static str,
    per_round: usize,
    /// What the reference is, for the reader of the report.
    reference_is: &'static str,
    /// The rounds' durations are a latency each (a percentile), not a round's time.
    latency: bool,
    ours: Vec<Duration>,
    reference: Vec<Duration>,
    ours_heap: Vec<HeapUse>,
    reference_heap: Vec<HeapUse>,
}

impl Comparison {
    pub fn new(
        name: &'static str,
        unit: &'static str,
        per_round: usize,
        reference_is: &'static str,
    ) -> Self {
        Self {
            name,
            unit,
            per_round,
            reference_is,
            latency: false,
            ours: Vec::new(),
            reference: Vec::new(),
            ours_heap: Vec::new(),
            reference_heap: Vec::new(),
        }
    }

    /// Runs `rounds` rounds of each path, alternating which goes first so neither always
    /// runs on the warmer (or busier) machine. Each closure does one round's work
    /// (`per_round` units; it is told the round number) and returns its duration; ours
    /// also waits, off the clock, for the background work it caused (the relay, the
    /// attempts' records), so none of it lands in the next reference round.
    /// A comparison whose rounds each return a latency (a percentile over the round's
    /// `per_round` units), reported as such.
    pub fn latency(
        name: &'static str,
        unit: &'static str,
        per_round: usize,
        reference_is: &'static str,
    ) -> Self {
        Self {
            latency: true,
            ..Self::new(name, unit, per_round, reference_is)
        }
    }

    pub async fn measure<O, OF, R, RF>(
        mut self,
        rounds: usize,
        mut ours: O,
        mut reference: R,
    ) -> Self
    where
        O: FnMut(usize) -> OF,
        OF: Future<Output = Duration>,
        R: FnMut(usize) -> RF,
        RF: Future<Output = Duration>,
    {
        for round in 0..rounds {
            if round % 2 == 0 {
                let (time, heap) = watched(|| ours(round)).await;
                self.ours.push(time);
                self.ours_heap.push(heap);
            }
            let (time, heap) = watched(|| reference(round)).await;
            self.reference.push(time);
            self.reference_heap.push(heap);
            if round % 2 == 1 {
                let (time, heap) = watched(|| ours(round)).await;
                self.ours.push(time);
                self.ours_heap.push(heap);
            }
        }
        self
    }

    fn ratios(&self) -> Vec<f64> {
        self.ours
            .iter()
            .zip(&self.reference)
            .map(|(o, r)| o.as_secs_f64() / r.as_secs_f64())
            .collect()
    }

    fn rate(&self, times: &[Duration]) -> f64 {
        self.per_round as f64 / median(times.iter().map(Duration::as_secs_f64).collect())
    }

    /// The median round's rate, or for a latency its median in milliseconds.
    fn shown(&self, times: &[Duration]) -> String {
        if self.latency {
            let ms = median(times.iter().map(|t| t.as_secs_f64() * 1000.0).collect());
            format!("{ms:.1} ms")
        } else {
            format!("{:.0}/s", self.rate(times))
        }
    }

    /// [`Self::shown`] with what it counts.
    fn described(&self, times: &[Duration]) -> String {
        if self.latency {
            format!("{} p99 of the round's {}", self.shown(times), self.unit)
        } else {
            format!("{:.0} {}/s", self.rate(times), self.unit)
        }
    }

    /// Median bytes allocated per unit of work.
    fn allocated_per_unit(&self, heap: &[HeapUse]) -> f64 {
        median(heap.iter().map(|h| h.allocated as f64).collect()) / self.per_round as f64
    }

    /// Median rise of the live heap in a round.
    fn peak_rise(heap: &[HeapUse]) -> f64 {
        median(heap.iter().map(|h| h.peak_rise as f64).collect())
    }
}

/// Runs one round — started inside the heap watch, so what the closure does before its
/// future counts too — and returns its time and heap use.
async fn watched<F: Future<Output = Duration>>(start: impl FnOnce() -> F) -> (Duration, HeapUse) {
    let watch = Watch::start();
    let time = start().await;
    (time, watch.stop())
}

/// `ours ÷ reference`, when the reference used any (librdkafka's buffers, for one, are
/// C heap: not counted).
fn ratio(ours: f64, reference: f64) -> String {
    if reference > 0.0 {
        format!("{:.1}×", ours / reference)
    } else {
        "n/a (the reference used no Rust heap)".into()
    }
}

/// Bytes, readably.
fn bytes(value: f64) -> String {
    match value {
        v if v >= 1024.0 * 1024.0 => format!("{:.1} MiB", v / (1024.0 * 1024.0)),
        v if v >= 1024.0 => format!("{:.1} KiB", v / 1024.0),
        v => format!("{v:.0} B"),
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ratios = self.ratios();
        writeln!(
            f,
            "{}: {} rounds of {} {}",
            self.name,
            ratios.len(),
            self.per_round,
            self.unit
        )?;
        writeln!(
            f,
            "  ours       {} (median round)",
            self.described(&self.ours)
        )?;
        writeln!(
            f,
            "  reference  {} — {}",
            self.described(&self.reference),
            self.reference_is
        )?;
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        writeln!(
            f,
            "  ours ÷ reference (time): median {:.2}  [rounds: {}]",
            median(ratios),
            each.join(" ")
        )?;
        let (ours, reference) = (
            self.allocated_per_unit(&self.ours_heap),
            self.allocated_per_unit(&self.reference_heap),
        );
        writeln!(
            f,
            "  heap allocated per {}: ours {}, reference {} → {}",
            self.unit.trim_end_matches('s'),
            bytes(ours),
            bytes(reference),
            ratio(ours, reference)
        )?;
        let (ours, reference) = (
            Self::peak_rise(&self.ours_heap),
            Self::peak_rise(&self.reference_heap),
        );
        write!(
            f,
            "  live heap's rise in a round: ours {}, reference {} → {}",
            bytes(ours),
            bytes(reference),
            ratio(ours, reference)
        )
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Runs `work` on every item, `workers` at a time; how long all of it took.
pub async fn drain<T, F, Fut>(workers: usize, items: Vec<T>, work: F) -> Duration
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let queue = Arc::new(Mutex::new(VecDeque::from(items)));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let queue = queue.clone();
            let work = work.clone();
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().unwrap().pop_front();
                    let Some(item) = next else { break };
                    work(item).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a worker panicked");
    }
    started.elapsed()
}

/// Polls `done` every few milliseconds until it holds (panics after `limit`); how long
/// it took from `since`.
pub async fn until<F, Fut>(since: Instant, limit: Duration, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    while !done().await {
        assert!(since.elapsed() < limit, "not done within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    since.elapsed()
}

/// One table of every benchmark that ran: our rate and the reference's, the median ratio
/// of times (above 1: ours is slower), and how far the rounds' ratios spread around it.
pub fn summary(results: &[Comparison]) -> String {
    let mut table = String::from(
        "summary (ours ÷ reference, time; spread: the rounds' ratios around the median)\n",
    );
    table.push_str(&format!(
        "  {:<18} {:>12} {:>12} {:>8} {:>14}\n",
        "benchmark", "ours", "reference", "ratio", "spread"
    ));
    for result in results {
        let ratios = result.ratios();
        let middle = median(ratios.clone());
        let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let high = ratios.iter().copied().fold(0.0, f64::max);
        table.push_str(&format!(
            "  {:<18} {:>12} {:>12} {:>8.2} {:>+6.0}%/{:>+4.0}%\n",
            result.name,
            result.shown(&result.ours),
            result.shown(&result.reference),
            middle,
            (low / middle - 1.0) * 100.0,
            (high / middle - 1.0) * 100.0,
        ));
    }
    table
}
