//! The job channel: every message of a job carries one kind byte, so a
//! cancellation reaches the peer at whatever step it is in, and both sides
//! stop within one message (not at the next chunk boundary).
//!
//! Kinds: `0` data (the protocol message follows), `1` cancelled (the
//! sender stopped the job; nothing follows). Every receive and send waits
//! on the job's [`CancellationToken`] too: when it fires, this party sends
//! `cancelled` and its run ends with [`ProtocolError::Cancelled`]; the peer's
//! next receive sees the byte and ends with [`ProtocolError::PeerCancelled`].
//! A dropped peer session is different: its receive fails with `Closed`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::sync::CancellationToken;

use super::error::ProtocolError;
use crate::channel::{Channel, ChannelError, ChannelStats};

const KIND_DATA: u8 = 0;
/// Bytes the job channel adds to every message (the kind byte); the cost
/// engine counts them too.
pub(crate) const KIND_BYTES: usize = 1;
const KIND_CANCEL: u8 = 1;
/// How long the cancel message may wait for room in the send queue.
const CANCEL_SEND_LIMIT: Duration = Duration::from_millis(500);

const RUNNING: u8 = 0;
const CANCELLED: u8 = 1;
const PEER_CANCELLED: u8 = 2;

/// How a job ended, as far as cancellation goes; shared with the caller so
/// it can name the error precisely after the channel is gone.
#[derive(Clone, Default)]
pub(crate) struct CancelStatus(Arc<AtomicU8>);

impl CancelStatus {
    /// Replaces a transport error caused by a cancellation with the
    /// cancellation itself.
    pub(crate) fn explain(&self, e: ProtocolError) -> ProtocolError {
        match self.0.load(Ordering::Acquire) {
            CANCELLED => ProtocolError::Cancelled,
            PEER_CANCELLED => ProtocolError::PeerCancelled,
            _ => e,
        }
    }

    fn set(&self, v: u8) {
        let _ = self
            .0
            .compare_exchange(RUNNING, v, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// A [`Channel`] for one job: kind byte on every message, cancellation
/// awaited on every send and receive.
pub(crate) struct JobChannel<C: Channel> {
    inner: C,
    cancel: CancellationToken,
    status: CancelStatus,
}

impl<C: Channel> JobChannel<C> {
    pub(crate) fn new(inner: C, cancel: CancellationToken) -> Self {
        JobChannel {
            inner,
            cancel,
            status: CancelStatus::default(),
        }
    }

    pub(crate) fn status(&self) -> CancelStatus {
        self.status.clone()
    }

    /// Stops the job now if it was cancelled: tells the peer and fails.
    pub(crate) async fn check_cancelled(&mut self) -> Result<(), ProtocolError> {
        if self.cancel.is_cancelled() {
            self.abort().await;
            return Err(ProtocolError::Cancelled);
        }
        Ok(())
    }

    /// Cancels the job (as if the token had fired).
    pub(crate) fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Marks the job cancelled here and tells the peer (best effort: a
    /// peer that is gone learns nothing, and a full send queue is not
    /// waited on for long).
    async fn abort(&mut self) {
        if self.status.0.load(Ordering::Acquire) != RUNNING {
            return;
        }
        self.status.set(CANCELLED);
        let _ = tokio::time::timeout(
            CANCEL_SEND_LIMIT,
            self.inner.send(Bytes::from_static(&[KIND_CANCEL])),
        )
        .await;
    }

    fn stopped(&self) -> ChannelError {
        ChannelError::Closed
    }

    /// After a failed send: the peer may have cancelled and gone, leaving
    /// its cancel message unread behind data this party no longer needs.
    /// Reads what is left (briefly) so the error names the cancellation.
    async fn look_for_peer_cancel(&mut self) {
        let drain = async {
            while let Ok(m) = self.inner.recv().await {
                if m.as_ref() == [KIND_CANCEL] {
                    self.status.set(PEER_CANCELLED);
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(CANCEL_SEND_LIMIT, drain).await;
    }
}

impl<C: Channel> Channel for JobChannel<C> {
    async fn send(&mut self, msg: Bytes) -> Result<(), ChannelError> {
        if self.status.0.load(Ordering::Acquire) != RUNNING {
            return Err(self.stopped());
        }
        if self.cancel.is_cancelled() {
            self.abort().await;
            return Err(self.stopped());
        }
        let mut framed = BytesMut::with_capacity(msg.len() + KIND_BYTES);
        framed.put_u8(KIND_DATA);
        framed.extend_from_slice(&msg);
        let cancel = self.cancel.clone();
        tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                self.abort().await;
                Err(self.stopped())
            }
            r = self.inner.send(framed.freeze()) => {
                if r.is_err() {
                    self.look_for_peer_cancel().await;
                }
                r
            }
        }
    }

    async fn recv(&mut self) -> Result<Bytes, ChannelError> {
        if self.status.0.load(Ordering::Acquire) != RUNNING {
            return Err(self.stopped());
        }
        let cancel = self.cancel.clone();
        let msg = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                self.abort().await;
                return Err(self.stopped());
            }
            r = self.inner.recv() => r?,
        };
        match msg.first() {
            Some(&KIND_DATA) => Ok(msg.slice(1..)),
            Some(&KIND_CANCEL) if msg.len() == 1 => {
                self.status.set(PEER_CANCELLED);
                Err(self.stopped())
            }
            _ => Err(ChannelError::Malformed(
                "job message without a valid kind byte".into(),
            )),
        }
    }

    fn stats(&self) -> ChannelStats {
        self.inner.stats()
    }
}
