//! Preprocessing pools: run the base OTs once per session pair, extend in
//! large batches ahead of time, and let the online phase draw precomputed
//! correlations without waiting for the network.
//!
//! Protocol discipline: [`OtSenderPool::reserve`] and
//! [`OtReceiverPool::reserve`] are interactive and must be called by the two
//! parties with the same `n` at the same point of their protocols; `take`
//! is local and must also be called with matching sizes in the same order,
//! because the hash tweak of each OT is its position in the stream.

use super::OtError;
use super::derive::{RcotReceiverBatch, RcotSenderBatch};
use super::extension::{CotReceiver, CotSender, ExtensionConfig};
use crate::block::Block;
use crate::channel::Channel;

/// Extend at least this many OTs at a time: smaller top-ups cost a message
/// each and waste pipelining.
pub const MIN_TOP_UP: usize = 1 << 14;

/// The sender side of a precomputed RCOT stream.
pub struct OtSenderPool {
    ext: CotSender,
    buf: RcotSenderBatch,
}

impl OtSenderPool {
    /// Base OTs and seed setup, paired with [`OtReceiverPool::setup`].
    pub async fn setup<C: Channel>(
        ch: &mut C,
        cfg: ExtensionConfig,
        ctx: &[u8],
    ) -> Result<Self, OtError> {
        let ext = CotSender::setup(ch, cfg, ctx).await?;
        let buf = RcotSenderBatch {
            first_index: 0,
            delta: ext.delta(),
            m0: Vec::new(),
        };
        Ok(OtSenderPool { ext, buf })
    }

    /// The global correlation Δ of every OT from this pool.
    pub fn delta(&self) -> Block {
        self.ext.delta()
    }

    /// OTs ready to be taken.
    pub fn available(&self) -> usize {
        self.buf.len()
    }

    /// Makes at least `n` OTs available, extending if needed (paired with
    /// the receiver's `reserve(n)`; both sides compute the same top-up).
    pub async fn reserve<C: Channel>(&mut self, ch: &mut C, n: usize) -> Result<(), OtError> {
        let missing = top_up(self.available(), n);
        if missing > 0 {
            // Grown in place: no fresh batch to copy and wipe.
            let first = self.ext.extend_into(ch, missing, &mut self.buf.m0).await?;
            debug_assert_eq!(
                first,
                self.buf.first_index + (self.buf.len() - missing) as u128
            );
        }
        Ok(())
    }

    /// Takes the next `n` precomputed OTs (local, no messages).
    pub fn take(&mut self, n: usize) -> Result<RcotSenderBatch, OtError> {
        if n > self.available() {
            return Err(OtError::Exhausted {
                requested: n,
                available: self.available(),
            });
        }
        Ok(self.buf.take_front(n))
    }
}

/// The receiver side of a precomputed RCOT stream.
pub struct OtReceiverPool {
    ext: CotReceiver,
    buf: RcotReceiverBatch,
}

impl OtReceiverPool {
    /// Base OTs and seed setup, paired with [`OtSenderPool::setup`].
    pub async fn setup<C: Channel>(
        ch: &mut C,
        cfg: ExtensionConfig,
        ctx: &[u8],
    ) -> Result<Self, OtError> {
        let ext = CotReceiver::setup(ch, cfg, ctx).await?;
        let buf = RcotReceiverBatch {
            first_index: 0,
            choices: Vec::new(),
            mb: Vec::new(),
        };
        Ok(OtReceiverPool { ext, buf })
    }

    /// OTs ready to be taken.
    pub fn available(&self) -> usize {
        self.buf.len()
    }

    /// Makes at least `n` OTs available (paired with the sender's
    /// `reserve(n)`).
    pub async fn reserve<C: Channel>(&mut self, ch: &mut C, n: usize) -> Result<(), OtError> {
        let missing = top_up(self.available(), n);
        if missing > 0 {
            // Grown in place: fresh choice bits appended word-wise after the
            // buffered ones, messages written straight into the buffer.
            let buf = &mut self.buf;
            let first = self
                .ext
                .extend_into(ch, missing, &mut buf.choices, &mut buf.mb)
                .await?;
            debug_assert_eq!(first, buf.first_index + (buf.len() - missing) as u128);
        }
        Ok(())
    }

    /// Takes the next `n` precomputed OTs (local, no messages).
    pub fn take(&mut self, n: usize) -> Result<RcotReceiverBatch, OtError> {
        if n > self.available() {
            return Err(OtError::Exhausted {
                requested: n,
                available: self.available(),
            });
        }
        Ok(self.buf.take_front(n))
    }
}

/// How many OTs to extend so that `n` are available: nothing if enough are
/// buffered, else the shortfall rounded up to a multiple of 128 and at
/// least [`MIN_TOP_UP`]. A pure function of shared values, so both parties
/// agree on it without talking.
fn top_up(available: usize, n: usize) -> usize {
    if available >= n {
        0
    } else {
        (n - available).max(MIN_TOP_UP).next_multiple_of(128)
    }
}

/// Which direction a bidirectional [`OtPool`] sets up first; the two
/// parties must pass opposite values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupOrder {
    /// Set up (and top up) my sender pool first, then my receiver pool.
    SenderFirst,
    /// Set up (and top up) my receiver pool first, then my sender pool.
    ReceiverFirst,
}

/// Both directions at once: each party is OT sender in one stream and
/// receiver in the other — what GMW needs for Beaver triples (one random
/// 1-bit OT in each direction per triple).
pub struct OtPool {
    order: SetupOrder,
    /// The stream where this party is the sender (holds Δ).
    pub sender: OtSenderPool,
    /// The stream where this party is the receiver.
    pub receiver: OtReceiverPool,
}

impl OtPool {
    /// Sets up both streams over one channel (two base-OT runs, in the
    /// order given; the peer passes the opposite order).
    pub async fn setup<C: Channel>(
        ch: &mut C,
        order: SetupOrder,
        cfg: ExtensionConfig,
        ctx: &[u8],
    ) -> Result<Self, OtError> {
        // Distinct contexts per direction so the two streams' keys differ.
        let ctx_a = [ctx, b"/stream-a"].concat();
        let ctx_b = [ctx, b"/stream-b"].concat();
        let (sender, receiver) = match order {
            SetupOrder::SenderFirst => {
                let s = OtSenderPool::setup(ch, cfg, &ctx_a).await?;
                let r = OtReceiverPool::setup(ch, cfg, &ctx_b).await?;
                (s, r)
            }
            SetupOrder::ReceiverFirst => {
                let r = OtReceiverPool::setup(ch, cfg, &ctx_a).await?;
                let s = OtSenderPool::setup(ch, cfg, &ctx_b).await?;
                (s, r)
            }
        };
        Ok(OtPool {
            order,
            sender,
            receiver,
        })
    }

    /// Makes `n_send` OTs available as sender and `n_recv` as receiver.
    /// The peer calls it with the two numbers swapped.
    pub async fn reserve<C: Channel>(
        &mut self,
        ch: &mut C,
        n_send: usize,
        n_recv: usize,
    ) -> Result<(), OtError> {
        match self.order {
            SetupOrder::SenderFirst => {
                self.sender.reserve(ch, n_send).await?;
                self.receiver.reserve(ch, n_recv).await
            }
            SetupOrder::ReceiverFirst => {
                self.receiver.reserve(ch, n_recv).await?;
                self.sender.reserve(ch, n_send).await
            }
        }
    }
}
