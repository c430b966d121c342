//! What every long-running component shares: the runtime it runs on, owned background
//! tasks (a task ends when its owner is dropped), the wait that a stop cuts short, and
//! the termination signal.

use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;

/// The multi-threaded runtime with the threads `runtime.*` allows. tokio's own defaults
/// fit a node, not a pod: up to 512 blocking threads, where database work can use no
/// more than the pool's connections.
pub fn runtime(config: &Config) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .enable_all()
        .max_blocking_threads(config.runtime.blocking_threads(&config.database));
    if config.runtime.worker_threads > 0 {
        builder.worker_threads(config.runtime.worker_threads);
    }
    builder.build()
}

/// A spawned task that is aborted when this handle is dropped, so a component's tasks end
/// with the component however its future ends (returned, failed or cancelled).
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits up to `period` for `stop` to turn true; whether it did (a sender gone counts:
/// nobody is left to keep the task going).
pub async fn stopped_within(stop: &mut watch::Receiver<bool>, period: Duration) -> bool {
    match tokio::time::timeout(period, stop.changed()).await {
        Ok(Err(_)) => true,
        _ => *stop.borrow(),
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is
/// called, not when it is first awaited: a signal that arrives while the server is still
/// starting is kept, and the server drains as soon as it is up.
pub fn termination_signal() -> impl Future<Output = ()> + Send {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    }
}
