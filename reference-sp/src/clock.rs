//! The SP's clock: the real time plus an offset the admin API can move forward, so a test can
//! see what happens "later" (a session past its `SessionNotOnOrAfter`) without waiting for it.
//! Every decision that depends on the time reads [`Clock::now`]; `POST /admin/reset` puts the
//! offset back to zero.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

/// The longest the clock may be moved forward in one step, and in all: a year.
pub const MAX_ADVANCE_MS: i64 = 366 * 86_400 * 1000;

/// The real time plus an offset.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// The SP's time now.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms())
    }

    /// How far ahead of the real time the SP's clock is, in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }

    /// Moves the clock forward by `ms` (never back: time that has passed stays passed); `Err`
    /// when that would take it more than [`MAX_ADVANCE_MS`] ahead of the real time.
    pub fn advance(&self, ms: i64) -> Result<i64, String> {
        if !(0..=MAX_ADVANCE_MS).contains(&ms) {
            return Err(format!(
                "advance_ms must be between 0 and {MAX_ADVANCE_MS} (a year), not {ms}"
            ));
        }
        self.offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                let next = o + ms;
                (next <= MAX_ADVANCE_MS).then_some(next)
            })
            .map(|o| o + ms)
            .map_err(|o| {
                format!("the clock is already {o} ms ahead; it may be at most {MAX_ADVANCE_MS} ms (a year) ahead")
            })
    }

    /// Back to the real time.
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_adds_up_and_resets() {
        let c = Clock::default();
        let before = Utc::now();
        assert_eq!(c.advance(2_100), Ok(2_100));
        assert_eq!(c.advance(900), Ok(3_000));
        assert!(c.now() >= before + chrono::Duration::milliseconds(3_000));
        c.reset();
        assert_eq!(c.offset_ms(), 0);
        assert!(c.now() < before + chrono::Duration::milliseconds(3_000));
    }

    #[test]
    fn refuses_going_back_or_too_far() {
        let c = Clock::default();
        assert!(c.advance(-1).expect_err("back").contains("between 0"));
        assert!(c.advance(MAX_ADVANCE_MS + 1).is_err());
        assert_eq!(c.advance(MAX_ADVANCE_MS), Ok(MAX_ADVANCE_MS));
        assert!(c.advance(1).expect_err("too far").contains("already"));
        assert_eq!(c.offset_ms(), MAX_ADVANCE_MS);
    }
}
