//! One door (link.md §5.2): its pending knocks, oldest first, and the long-polls waiting on
//! it. A waiter may wait on up to 64 doors at once, so it registers one `Notify` of its own
//! on each; a knock wakes every waiter of its door, and the first to take the lock consumes
//! it. `notify_one` keeps a permit, so a knock between a waiter's check and its sleep is not
//! missed.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::ids::Id;

#[derive(Debug, Clone, Copy)]
pub struct Knock {
    pub session: Id,
    /// Which incarnation of the session id knocked (an id can be deleted and created again).
    pub instance: u64,
    pub at: Instant,
    /// Relay-wide arrival order, so a waiter on several doors gets the oldest knock.
    pub order: u64,
}

#[derive(Default)]
pub struct Door {
    knocks: VecDeque<Knock>,
    waiters: Vec<(u64, Arc<Notify>)>,
}

impl Door {
    pub fn knocks(&self) -> usize {
        self.knocks.len()
    }

    pub fn oldest(&self) -> Option<&Knock> {
        self.knocks.front()
    }

    pub fn take_oldest(&mut self) -> Option<Knock> {
        self.knocks.pop_front()
    }

    /// Queues a knock and wakes the door's waiters.
    pub fn push(&mut self, knock: Knock) {
        self.knocks.push_back(knock);
        for (_, waiter) in &self.waiters {
            waiter.notify_one();
        }
    }

    /// Keeps the knocks `keep` accepts; returns how many were removed.
    pub fn retain(&mut self, mut keep: impl FnMut(&Knock) -> bool) -> usize {
        let before = self.knocks.len();
        self.knocks.retain(|k| keep(k));
        before - self.knocks.len()
    }

    pub fn any_knock(&self, test: impl FnMut(&Knock) -> bool) -> bool {
        self.knocks.iter().any(test)
    }

    pub fn add_waiter(&mut self, waiter: u64, notify: Arc<Notify>) {
        if !self.waiters.iter().any(|(id, _)| *id == waiter) {
            self.waiters.push((waiter, notify));
        }
    }

    pub fn remove_waiter(&mut self, waiter: u64) {
        self.waiters.retain(|(id, _)| *id != waiter);
    }

    pub fn wake_all(&self) {
        for (_, waiter) in &self.waiters {
            waiter.notify_one();
        }
    }

    /// Nothing queued and nobody waiting: the entry can go.
    pub fn is_idle(&self) -> bool {
        self.knocks.is_empty() && self.waiters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knock(order: u64) -> Knock {
        Knock {
            session: Id::from_bytes(&[7; 16]).unwrap(),
            instance: 1,
            at: Instant::now(),
            order,
        }
    }

    #[test]
    fn fifo_and_retain() {
        let mut door = Door::default();
        assert!(door.is_idle());
        door.push(knock(1));
        door.push(knock(2));
        door.push(knock(3));
        assert_eq!(door.retain(|k| k.order != 2), 1);
        assert_eq!(door.take_oldest().map(|k| k.order), Some(1));
        assert_eq!(door.oldest().map(|k| k.order), Some(3));
        assert_eq!(door.knocks(), 1);
    }

    #[tokio::test]
    async fn a_knock_wakes_a_registered_waiter_even_before_it_sleeps() {
        let mut door = Door::default();
        let notify = Arc::new(Notify::new());
        door.add_waiter(9, notify.clone());
        door.add_waiter(9, notify.clone());
        door.push(knock(1));
        // The permit was stored: this returns at once.
        notify.notified().await;
        door.remove_waiter(9);
        door.take_oldest();
        assert!(door.is_idle());
    }
}
