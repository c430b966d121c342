//! Owning background tasks: a task that ends when its owner is dropped; stopping one.

use std::time::Duration;

use tokio::sync::watch;

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
