//! The settings lock, by batches: scenarios that need the SP in the same state run together.
//!
//! Every exchange names the SP state it needs ([`Batch`]): the target's defaults, the defaults
//! changed by a set of hooks, or the SP to itself (a scenario that changes shared state as it
//! runs: a `set` step, an IdP outage, the SP's clock). One batch is open at a time. Its first
//! member opens it (runs its hooks); members of the same batch join while it is open and run
//! in parallel; the last to leave closes it (runs `reset`). When no batch is open, the batch
//! with the most scenarios waiting opens next, so the run goes through the defaults, then each
//! set of hooks once, instead of hooks and `reset` around every scenario one at a time.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

use crate::error::Error;

/// The SP state an exchange needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Batch {
    /// The target's defaults: no hooks.
    Defaults,
    /// The defaults changed by these hooks (sorted), shared with every scenario that needs
    /// the same ones; `reset` after the last.
    Hooks(Vec<String>),
    /// Alone: no other exchange runs meanwhile (the number tells two such apart).
    Alone(u64),
}

impl Batch {
    /// A batch of its own.
    pub(crate) fn alone() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self::Alone(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The batch of scenarios that need `hooks` and nothing else that is shared.
    pub(crate) fn hooks(hooks: &[String]) -> Self {
        if hooks.is_empty() {
            return Self::Defaults;
        }
        let mut hooks = hooks.to_vec();
        hooks.sort();
        hooks.dedup();
        Self::Hooks(hooks)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Its first member is setting the SP up.
    Opening,
    /// Members may join.
    Ready,
    /// Its last member is undoing its hooks.
    Closing,
}

#[derive(Debug)]
struct Open {
    batch: Batch,
    members: usize,
    phase: Phase,
    /// Why opening failed: every member is told.
    failure: Option<Error>,
}

#[derive(Debug, Default)]
struct State {
    open: Option<Open>,
    /// How many exchanges wait for each batch (none are zero: those leave the map).
    waiting: BTreeMap<Batch, usize>,
}

/// The lock. See the module's documentation.
#[derive(Debug, Default)]
pub(crate) struct Batches {
    state: Mutex<State>,
    changed: Notify,
}

/// Membership of the open batch; give it back with [`Batches::leave`].
#[derive(Debug)]
#[must_use = "a member must leave, or its batch never closes"]
pub(crate) struct Member {
    /// Why the batch could not be set up, if it could not: the exchange must not run.
    pub(crate) failure: Option<Error>,
}

enum Next {
    Join(Option<Error>),
    Open,
    Wait,
}

impl Batches {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until `batch` is open and joins it; the first member opens it with `open` (the
    /// batch's hooks), whose failure every member of this opening is given.
    pub(crate) async fn enter<F, Fut>(&self, batch: &Batch, open: F) -> Member
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), Error>>,
    {
        *self.state().waiting.entry(batch.clone()).or_default() += 1;
        let next = loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = {
                let mut state = self.state();
                let mine_next = state.next_batch() == Some(batch);
                let next = match &mut state.open {
                    Some(o) if o.batch == *batch && o.phase == Phase::Ready => {
                        o.members += 1;
                        Next::Join(o.failure.clone())
                    }
                    Some(_) => Next::Wait,
                    None if mine_next => {
                        state.open = Some(Open {
                            batch: batch.clone(),
                            members: 1,
                            phase: Phase::Opening,
                            failure: None,
                        });
                        Next::Open
                    }
                    None => Next::Wait,
                };
                if !matches!(next, Next::Wait) {
                    state.leave_queue(batch);
                }
                next
            };
            match next {
                Next::Wait => notified.await,
                next => break next,
            }
        };
        match next {
            Next::Join(failure) => Member { failure },
            _ => {
                let failure = open().await.err();
                if let Some(o) = &mut self.state().open {
                    o.phase = Phase::Ready;
                    o.failure.clone_from(&failure);
                }
                self.changed.notify_waiters();
                Member { failure }
            }
        }
    }

    /// Leaves the open batch; the last member to leave, when nobody waits to join, closes it
    /// with `close` (`reset`) before the next batch may open.
    pub(crate) async fn leave<F, Fut>(&self, member: Member, close: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        drop(member);
        let last = {
            let mut state = self.state();
            let State { open, waiting } = &mut *state;
            let Some(open) = open.as_mut() else {
                return;
            };
            open.members -= 1;
            let last = open.members == 0 && !waiting.contains_key(&open.batch);
            if last {
                open.phase = Phase::Closing;
            }
            last
        };
        if last {
            close().await;
            self.state().open = None;
        }
        self.changed.notify_waiters();
    }
}

impl State {
    /// The batch that opens next: the one most exchanges wait for (the defaults first on a
    /// tie, then in order).
    fn next_batch(&self) -> Option<&Batch> {
        self.waiting
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(b, _)| b)
    }

    fn leave_queue(&mut self, batch: &Batch) {
        if let Some(n) = self.waiting.get_mut(batch) {
            *n -= 1;
            if *n == 0 {
                self.waiting.remove(batch);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    /// What the SP looks like to the test: the hooks applied now, and who is inside.
    #[derive(Default)]
    struct Sp {
        applied: Mutex<Option<Batch>>,
        inside: AtomicUsize,
        most_inside: AtomicUsize,
        opened: AtomicUsize,
    }

    async fn exchange(lock: &Batches, sp: &Sp, batch: Batch) {
        let member = lock
            .enter(&batch, || async {
                let mut applied = sp.applied.lock().expect("lock");
                assert!(applied.is_none(), "opened over {applied:?}");
                *applied = Some(batch.clone());
                sp.opened.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert!(member.failure.is_none());
        assert_eq!(
            sp.applied.lock().expect("lock").as_ref(),
            Some(&batch),
            "ran in another batch's state"
        );
        let inside = sp.inside.fetch_add(1, Ordering::SeqCst) + 1;
        sp.most_inside.fetch_max(inside, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        sp.inside.fetch_sub(1, Ordering::SeqCst);
        lock.leave(member, || async {
            *sp.applied.lock().expect("lock") = None;
        })
        .await;
    }

    // One thread: every task registers before the first batch can close, so the count of
    // openings is exact.
    #[tokio::test]
    async fn batches_run_together_never_mixed_and_each_opens_once() {
        let lock = Arc::new(Batches::default());
        let sp = Arc::new(Sp::default());
        let hooks = |h: &str| Batch::hooks(&[h.to_owned()]);
        let mut batches = vec![Batch::Defaults; 20];
        batches.extend(vec![hooks("a"); 6]);
        batches.extend(vec![hooks("b"); 3]);
        batches.extend((0..3).map(|_| Batch::alone()));
        let mut tasks = tokio::task::JoinSet::new();
        for batch in batches {
            let (lock, sp) = (Arc::clone(&lock), Arc::clone(&sp));
            tasks.spawn(async move { exchange(&lock, &sp, batch).await });
        }
        while let Some(t) = tasks.join_next().await {
            t.expect("no panic");
        }
        // Defaults, a, b and the three alone: each opened once, since every exchange was
        // waiting before the first batch closed.
        assert_eq!(sp.opened.load(Ordering::SeqCst), 6);
        assert!(
            sp.most_inside.load(Ordering::SeqCst) > 1,
            "nothing ran together"
        );
        assert!(lock.state().open.is_none() && lock.state().waiting.is_empty());
    }

    #[tokio::test]
    async fn a_failed_opening_is_every_members_and_the_batch_still_closes() {
        let lock = Batches::default();
        let batch = Batch::hooks(&["x-broken".to_owned()]);
        let first = lock
            .enter(&batch, || async { Err(Error::hook("the hook failed")) })
            .await;
        let second = lock
            .enter(&batch, || async { panic!("opened twice") })
            .await;
        for m in [&first, &second] {
            assert!(
                m.failure
                    .as_ref()
                    .is_some_and(|e| e.message.contains("the hook failed"))
            );
        }
        let closed = AtomicUsize::new(0);
        lock.leave(first, || async {
            closed.fetch_add(1, Ordering::SeqCst);
        })
        .await;
        assert_eq!(closed.load(Ordering::SeqCst), 0, "a member is still inside");
        lock.leave(second, || async {
            closed.fetch_add(1, Ordering::SeqCst);
        })
        .await;
        assert_eq!(closed.load(Ordering::SeqCst), 1);
        let next = lock.enter(&Batch::Defaults, || async { Ok(()) }).await;
        assert!(next.failure.is_none());
        lock.leave(next, || async {}).await;
    }

    #[test]
    fn hooks_in_any_order_are_one_batch_and_none_is_the_defaults() {
        let (a, b) = ("a".to_owned(), "b".to_owned());
        assert_eq!(Batch::hooks(&[a.clone(), b.clone()]), Batch::hooks(&[b, a]));
        assert_eq!(Batch::hooks(&[]), Batch::Defaults);
        assert_ne!(Batch::alone(), Batch::alone());
    }
}
