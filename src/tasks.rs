//! Owning background tasks: a task that ends when its owner is dropped.

/// A spawned task that is aborted when this handle is dropped, so a component's tasks end
/// with the component however its future ends (returned, failed or cancelled).
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
