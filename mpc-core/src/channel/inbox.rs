//! The receive queue between a connection's reader task and one channel (or
//! one mux session), bounded in bytes.
//!
//! Why bounded: the reader drains the socket so that two parties can both
//! send before receiving (see `conn.rs`); without a bound, a peer that sends
//! faster than the local protocol receives — or a hostile peer that never
//! stops — grows the queue until the process runs out of memory. With a
//! bound, the reader waits for room before queueing the next message, which
//! stops it reading the socket: the peer's TCP window closes and its writer
//! waits. That is back-pressure, not loss.
//!
//! Every queued message costs its length plus [`FRAME_OVERHEAD`], so a flood
//! of empty messages is bounded too.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc};

/// Bytes charged per queued message on top of its payload: the `Bytes`
/// handle, the queue node and the allocation of the frame body. Without it
/// millions of empty frames would cost nothing against a byte bound.
pub const FRAME_OVERHEAD: usize = 128;

/// What the reader hands to a channel or session.
pub(super) enum Item {
    /// A message and the budget it holds until received.
    Data(Bytes, usize),
    /// The peer closed the session.
    PeerClosed,
    /// The session overflowed the mux's buffer before it was opened.
    Overflowed,
    /// The session's queue stayed full longer than the stall timeout; it
    /// was failed so the connection's other sessions could go on.
    Stalled,
}

/// Why [`InboxTx::push`] did not queue a message.
pub(super) enum PushError {
    /// The receiving end is gone; the message is of no use to anyone.
    Gone,
    /// No room within the stall timeout.
    Stalled,
}

/// The reader's end.
#[derive(Clone)]
pub(super) struct InboxTx {
    tx: mpsc::UnboundedSender<Item>,
    budget: Arc<Semaphore>,
    limit: usize,
}

/// The channel's end. Dropping it wakes a reader waiting for room.
pub(super) struct InboxRx {
    rx: mpsc::UnboundedReceiver<Item>,
    budget: Arc<Semaphore>,
}

/// The budget a message of `len` bytes holds while queued. Capped at the
/// queue's limit so that one message larger than the limit still fits into
/// an empty queue.
fn charge(len: usize, limit: usize) -> usize {
    len.saturating_add(FRAME_OVERHEAD).min(limit)
}

/// A queue bounded at `limit` bytes, starting with `prefill` (messages that
/// arrived before the queue existed; they count against the bound as far as
/// it reaches).
pub(super) fn inbox(limit: usize, prefill: impl IntoIterator<Item = Bytes>) -> (InboxTx, InboxRx) {
    // acquire_many takes a u32; the semaphore has its own maximum too.
    let limit = limit
        .clamp(1, u32::MAX as usize)
        .min(Semaphore::MAX_PERMITS);
    let (tx, rx) = mpsc::unbounded_channel();
    let mut room = limit;
    for msg in prefill {
        let c = charge(msg.len(), limit).min(room);
        room -= c;
        // The receiver is alive: it is returned below.
        let _ = tx.send(Item::Data(msg, c));
    }
    let budget = Arc::new(Semaphore::new(room));
    (
        InboxTx {
            tx,
            budget: budget.clone(),
            limit,
        },
        InboxRx { rx, budget },
    )
}

impl InboxTx {
    /// Queues `msg` once there is room for it, waiting at most `stall`
    /// (`None`: as long as it takes).
    pub(super) async fn push(&self, msg: Bytes, stall: Option<Duration>) -> Result<(), PushError> {
        let c = charge(msg.len(), self.limit);
        // `c <= limit <= u32::MAX`, see `inbox`.
        let acquire = self.budget.acquire_many(c as u32);
        let permit = match stall {
            None => acquire.await,
            Some(limit) => match tokio::time::timeout(limit, acquire).await {
                Ok(p) => p,
                Err(_) => return Err(PushError::Stalled),
            },
        };
        match permit {
            Ok(p) => p.forget(),
            Err(_) => return Err(PushError::Gone),
        }
        self.tx
            .send(Item::Data(msg, c))
            .map_err(|_| PushError::Gone)
    }

    /// Queues a control item (no payload, no budget). Errors mean the
    /// receiving end is gone, which needs no handling.
    pub(super) fn push_control(&self, item: Item) {
        let _ = self.tx.send(item);
    }

    /// Whether `other` is a handle of the same queue.
    pub(super) fn same_queue(&self, other: &InboxTx) -> bool {
        Arc::ptr_eq(&self.budget, &other.budget)
    }
}

impl InboxRx {
    /// The next item; `None` once every sender is gone and the queue is
    /// empty. Cancel-safe (a cancelled call loses nothing).
    pub(super) async fn recv(&mut self) -> Option<Item> {
        let item = self.rx.recv().await?;
        if let Item::Data(_, c) = &item {
            self.budget.add_permits(*c);
        }
        Some(item)
    }
}

impl Drop for InboxRx {
    fn drop(&mut self) {
        // A reader waiting for room must not wait for a queue nobody reads.
        self.budget.close();
    }
}
