//! One job's sessions of a capability: at most `max` open at once (the operator's
//! `plugins.<capability>.max_sessions`), and the live ones reachable so the host
//! can stop what they run when it gives up on the job. Each capability wraps
//! [`Slots`] with its own session type and its own error for [`Full`].

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The slots of one job. Clones share the count and the live sessions.
pub struct Slots<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    max: usize,
    open: AtomicUsize,
    /// Live sessions (weak: a session the plugin let go of is not kept alive).
    live: Mutex<Vec<Weak<T>>>,
}

/// Every slot is taken: the job already holds `max` sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("session limit reached: {max} sessions are open")]
pub struct Full {
    pub max: usize,
}

impl<T> Slots<T> {
    /// Slots for one job (at least one).
    pub fn new(max: usize) -> Self {
        Slots {
            inner: Arc::new(Inner {
                max: max.max(1),
                open: AtomicUsize::new(0),
                live: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.inner.open.load(Ordering::SeqCst)
    }

    /// Takes a slot, given back when the [`Slot`] is dropped.
    pub fn take(&self) -> Result<Slot<T>, Full> {
        let max = self.inner.max;
        self.inner
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .map(|_| Slot(self.clone()))
            .map_err(|_| Full { max })
    }

    /// Remembers a session opened with a slot of these.
    pub fn register(&self, session: &Arc<T>) {
        if let Ok(mut live) = self.inner.live.lock() {
            live.retain(|w| w.strong_count() > 0);
            live.push(Arc::downgrade(session));
        }
    }

    /// The sessions still open.
    pub fn live(&self) -> Vec<Arc<T>> {
        match self.inner.live.lock() {
            Ok(live) => live.iter().filter_map(Weak::upgrade).collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl<T> Clone for Slots<T> {
    fn clone(&self) -> Self {
        Slots {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Slots<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slots")
            .field("max", &self.inner.max)
            .field("open", &self.open())
            .finish_non_exhaustive()
    }
}

/// One taken slot; a session holds it for as long as its connection lives.
pub struct Slot<T>(Slots<T>);

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        self.0.inner.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<T> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Slot").field(&self.0).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cap_sessions_and_come_back_when_dropped() {
        let slots: Slots<u8> = Slots::new(2);
        let a = slots.take().expect("first");
        let b = slots.clone().take().expect("second, through a clone");
        assert_eq!(slots.take().err(), Some(Full { max: 2 }));
        assert_eq!(slots.open(), 2);
        drop(a);
        assert_eq!(slots.open(), 1);
        let _c = slots.take().expect("a slot came back");
        drop(b);
        assert_eq!(
            Slots::<u8>::new(0).take().map(|_| ()),
            Ok(()),
            "at least one"
        );
    }

    #[test]
    fn only_live_sessions_are_listed() {
        let slots: Slots<&str> = Slots::new(4);
        let kept = Arc::new("kept");
        let gone = Arc::new("gone");
        slots.register(&kept);
        slots.register(&gone);
        drop(gone);
        let live = slots.live();
        assert_eq!(live.len(), 1);
        assert_eq!(*live[0], "kept");
    }
}
