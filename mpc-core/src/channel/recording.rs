//! [`RecordingChannel`]: keeps a copy of the transcript, for tests that
//! check what a party reveals.

use bytes::Bytes;

use super::{Channel, ChannelError, ChannelStats};

/// Wraps a channel and records every message sent and received, in order.
///
/// Meant for transcript tests ("the bytes party A sent do not contain its
/// input", "two runs with different inputs send equally long messages").
/// Copies are cheap (`Bytes` is reference-counted).
pub struct RecordingChannel<C> {
    inner: C,
    sent: Vec<Bytes>,
    received: Vec<Bytes>,
}

impl<C: Channel> RecordingChannel<C> {
    /// Starts recording on `inner`.
    pub fn new(inner: C) -> Self {
        RecordingChannel {
            inner,
            sent: Vec::new(),
            received: Vec::new(),
        }
    }

    /// Messages sent so far, in order.
    pub fn sent(&self) -> &[Bytes] {
        &self.sent
    }

    /// Messages received so far, in order.
    pub fn received(&self) -> &[Bytes] {
        &self.received
    }

    /// Every byte sent so far, concatenated (message boundaries dropped).
    pub fn sent_bytes(&self) -> Vec<u8> {
        self.sent.iter().flat_map(|m| m.iter().copied()).collect()
    }

    /// The wrapped channel.
    pub fn into_inner(self) -> C {
        self.inner
    }
}

impl<C: Channel> Channel for RecordingChannel<C> {
    async fn send(&mut self, msg: Bytes) -> Result<(), ChannelError> {
        self.inner.send(msg.clone()).await?;
        self.sent.push(msg);
        Ok(())
    }

    async fn recv(&mut self) -> Result<Bytes, ChannelError> {
        let msg = self.inner.recv().await?;
        self.received.push(msg.clone());
        Ok(msg)
    }

    fn stats(&self) -> ChannelStats {
        self.inner.stats()
    }
}
