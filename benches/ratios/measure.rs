//! Rounds of both paths, and the report: per-round times, rates and ours ÷ reference.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The round times of both paths for the same work.
pub struct Comparison {
    pub name: &'static str,
    /// What one unit of work is ("creates", "webhooks", …).
    pub unit: &'static str,
    pub per_round: usize,
    pub ours: Vec<Duration>,
    pub reference: Vec<Duration>,
    /// What the reference is, for the reader of the report.
    pub reference_is: &'static str,
}

impl Comparison {
    /// Runs `rounds` rounds of each path, alternating which goes first so neither always
    /// runs on the warmer (or busier) machine. Each closure does one round's work
    /// (`per_round` units; it is told the round number) and returns its duration.
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
            let (o, r) = if round % 2 == 0 {
                let o = ours(round).await;
                (o, reference(round).await)
            } else {
                let r = reference(round).await;
                (ours(round).await, r)
            };
            self.ours.push(o);
            self.reference.push(r);
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
            "  ours       {:>8.0} {}/s (median round)",
            self.rate(&self.ours),
            self.unit
        )?;
        writeln!(
            f,
            "  reference  {:>8.0} {}/s — {}",
            self.rate(&self.reference),
            self.unit,
            self.reference_is
        )?;
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        write!(
            f,
            "  ours ÷ reference (time): median {:.2}  [rounds: {}]",
            median(ratios),
            each.join(" ")
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
