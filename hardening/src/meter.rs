//! Process-wide meters of the expensive operations (signing, self-checks, validations): how
//! many ran and how much CPU time their threads spent in them. `saml-harness bench` reads them
//! before and after a run to say where its CPU went, in RSA signatures' worth.
//!
//! A meter costs two reads of the thread's CPU clock and two relaxed atomic additions per
//! operation (about a microsecond); the operations it meters take hundreds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counts operations and the CPU time of the threads that ran them.
#[derive(Debug)]
pub struct Meter {
    count: AtomicU64,
    cpu_ns: AtomicU64,
}

/// What a [`Meter`] had counted at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    /// Operations.
    pub count: u64,
    /// CPU time spent in them, nanoseconds.
    pub cpu_ns: u64,
}

impl Reading {
    /// What was counted between `earlier` and this reading.
    pub fn since(self, earlier: Reading) -> Reading {
        Reading {
            count: self.count.saturating_sub(earlier.count),
            cpu_ns: self.cpu_ns.saturating_sub(earlier.cpu_ns),
        }
    }

    /// The CPU time.
    pub fn cpu(self) -> Duration {
        Duration::from_nanos(self.cpu_ns)
    }
}

impl Meter {
    /// A meter at zero.
    pub const fn new() -> Self {
        Self {
            count: AtomicU64::new(0),
            cpu_ns: AtomicU64::new(0),
        }
    }

    /// Runs `op` on this thread, counting it and the thread's CPU time it took. An operation
    /// metered inside another is counted by both meters.
    pub fn time<T>(&self, op: impl FnOnce() -> T) -> T {
        let start = thread_cpu();
        let out = op();
        let spent = thread_cpu().saturating_sub(start).as_nanos();
        self.add(1, u64::try_from(spent).unwrap_or(u64::MAX));
        out
    }

    /// Counts `count` operations without timing them.
    pub fn count(&self, count: u64) {
        self.add(count, 0);
    }

    fn add(&self, count: u64, cpu_ns: u64) {
        self.count.fetch_add(count, Ordering::Relaxed);
        self.cpu_ns.fetch_add(cpu_ns, Ordering::Relaxed);
    }

    /// What it has counted since the process started.
    pub fn read(&self) -> Reading {
        Reading {
            count: self.count.load(Ordering::Relaxed),
            cpu_ns: self.cpu_ns.load(Ordering::Relaxed),
        }
    }
}

impl Default for Meter {
    fn default() -> Self {
        Self::new()
    }
}

/// This thread's CPU time (zero where the clock cannot be read).
pub fn thread_cpu() -> Duration {
    cpu_clock(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
}

/// The CPU time of all this process's threads (zero where the clock cannot be read).
pub fn process_cpu() -> Duration {
    cpu_clock(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
}

fn cpu_clock(clock: nix::time::ClockId) -> Duration {
    nix::time::clock_gettime(clock).map_or(Duration::ZERO, Duration::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meter_counts_operations_and_their_cpu_time() {
        let meter = Meter::new();
        let before = meter.read();
        let sum = meter.time(|| (0..2_000_000u64).map(std::hint::black_box).sum::<u64>());
        assert_eq!(sum, 1_999_999_000_000);
        meter.count(2);
        let counted = meter.read().since(before);
        assert_eq!(counted.count, 3);
        // A loop of two million additions takes some CPU time; only `time` adds any.
        assert!(counted.cpu_ns > 0, "{counted:?}");
        assert_eq!(Meter::new().read(), Reading::default());
    }
}
