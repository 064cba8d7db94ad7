//! [`memory_pair`]: two connected in-process channel ends, for tests.

use std::future::Future;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Channel, ChannelError, ChannelStats, Counters, MAX_FRAME};

/// One end of an in-memory channel pair. Behaves like a
/// [`StreamChannel`](super::StreamChannel) without the socket: unbounded
/// queues, same size limit, [`ChannelError::Closed`] once the other end is
/// dropped and its queued messages are drained.
#[derive(Debug)]
pub struct MemoryChannel {
    tx: mpsc::UnboundedSender<Bytes>,
    rx: mpsc::UnboundedReceiver<Bytes>,
    counters: Counters,
}

/// Two connected in-memory channel ends.
pub fn memory_pair() -> (MemoryChannel, MemoryChannel) {
    let (tx_a, rx_b) = mpsc::unbounded_channel();
    let (tx_b, rx_a) = mpsc::unbounded_channel();
    (
        MemoryChannel {
            tx: tx_a,
            rx: rx_a,
            counters: Counters::default(),
        },
        MemoryChannel {
            tx: tx_b,
            rx: rx_b,
            counters: Counters::default(),
        },
    )
}

impl Channel for MemoryChannel {
    fn send(&mut self, msg: Bytes) -> impl Future<Output = Result<(), ChannelError>> + Send {
        let res = if msg.len() > MAX_FRAME {
            Err(ChannelError::FrameTooLarge {
                len: msg.len() as u64,
                max: MAX_FRAME as u64,
            })
        } else {
            let len = msg.len();
            match self.tx.send(msg) {
                Ok(()) => {
                    self.counters.on_send(len);
                    Ok(())
                }
                Err(_) => Err(ChannelError::Closed),
            }
        };
        std::future::ready(res)
    }

    async fn recv(&mut self) -> Result<Bytes, ChannelError> {
        let msg = self.rx.recv().await.ok_or(ChannelError::Closed)?;
        self.counters.on_recv(msg.len());
        Ok(msg)
    }

    fn stats(&self) -> ChannelStats {
        self.counters.stats()
    }
}
