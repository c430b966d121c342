//! The benchmark process's Rust heap, counted: bytes allocated in total and the live
//! bytes' peak, so a round can report how much it allocated and how far the heap rose.
//! (libpq and librdkafka allocate with C malloc: their buffers are not counted, for
//! either path.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

/// The system allocator, counting.
pub struct Counting;

static ALLOCATED: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

fn grew(bytes: usize) {
    let bytes = bytes as u64;
    ALLOCATED.fetch_add(bytes, Ordering::Relaxed);
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes as u64, Ordering::Relaxed);
}

// SAFETY: every call is passed to the system allocator unchanged; only counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            grew(layout.size());
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            grew(layout.size());
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        unsafe { System.dealloc(block, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            // Counted as what it grew or shrank by: growing a buffer allocates the growth.
            match new_size.checked_sub(layout.size()) {
                Some(growth) => grew(growth),
                None => shrank(layout.size() - new_size),
            }
        }
        moved
    }
}

/// What a stretch of work did to the heap.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeapUse {
    /// Bytes allocated (freed or not).
    pub allocated: u64,
    /// How far live bytes rose above where they started.
    pub peak_rise: u64,
}

/// Watches the heap from now on (one watch at a time: it resets the peak).
pub struct Watch {
    allocated: u64,
    live: u64,
}

impl Watch {
    pub fn start() -> Self {
        let live = LIVE.load(Ordering::Relaxed);
        PEAK.store(live, Ordering::Relaxed);
        Self {
            allocated: ALLOCATED.load(Ordering::Relaxed),
            live,
        }
    }

    pub fn stop(self) -> HeapUse {
        HeapUse {
            allocated: ALLOCATED.load(Ordering::Relaxed) - self.allocated,
            peak_rise: PEAK.load(Ordering::Relaxed).saturating_sub(self.live),
        }
    }
}
