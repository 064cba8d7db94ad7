//! Per-channel traffic counters.

/// Traffic of one channel or mux session, from this party's point of view.
///
/// Byte counts are message payload bytes (no framing). A *round* is a flight
/// of consecutive sends: the counter increments on a send that is the first
/// send or follows a receive (see the [module docs](super)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Flights sent (see above).
    pub rounds: u64,
}

impl ChannelStats {
    /// Counter-wise difference `self - earlier`, for measuring one phase.
    pub fn since(&self, earlier: &ChannelStats) -> ChannelStats {
        ChannelStats {
            bytes_sent: self.bytes_sent - earlier.bytes_sent,
            bytes_received: self.bytes_received - earlier.bytes_received,
            messages_sent: self.messages_sent - earlier.messages_sent,
            messages_received: self.messages_received - earlier.messages_received,
            rounds: self.rounds - earlier.rounds,
        }
    }
}

/// The counting logic shared by all channel implementations.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    stats: ChannelStats,
    received_since_send: bool,
}

impl Counters {
    /// Records a sent message of `len` payload bytes.
    pub fn on_send(&mut self, len: usize) {
        if self.stats.messages_sent == 0 || self.received_since_send {
            self.stats.rounds += 1;
        }
        self.received_since_send = false;
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += len as u64;
    }

    /// Records a received message of `len` payload bytes.
    pub fn on_recv(&mut self, len: usize) {
        self.received_since_send = true;
        self.stats.messages_received += 1;
        self.stats.bytes_received += len as u64;
    }

    /// The current counters.
    pub fn stats(&self) -> ChannelStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_count_flights() {
        let mut c = Counters::default();
        c.on_send(3);
        c.on_send(4);
        assert_eq!(c.stats().rounds, 1);
        c.on_recv(5);
        c.on_recv(5);
        c.on_send(1);
        assert_eq!(c.stats().rounds, 2);
        assert_eq!(c.stats().bytes_sent, 8);
        assert_eq!(c.stats().bytes_received, 10);
        assert_eq!(c.stats().messages_sent, 3);
        // A party that receives first starts its first flight on its first send.
        let mut d = Counters::default();
        d.on_recv(1);
        d.on_send(1);
        assert_eq!(d.stats().rounds, 1);
    }
}
