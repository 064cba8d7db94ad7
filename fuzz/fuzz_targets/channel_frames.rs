//! Peer bytes into a `StreamChannel` or a `Mux` (first input byte chooses),
//! exactly as a hostile peer would write them onto the socket. The receiver
//! opens a few sessions and drains them; nothing may panic, hang or grow
//! without bound, and every receive must end in a message or an error.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mpc_core::channel::{Channel, ChannelLimits, Mux, StreamChannel};
use tokio::io::AsyncWriteExt;
use tokio::runtime::Runtime;

/// A fresh runtime per input: dropping it drops every task the channel
/// spawned, so each run starts clean and the leak checker sees only real
/// leaks (a runtime kept across runs holds the last run's aborted tasks).
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Small bounds so back-pressure and the stall path are reached quickly.
const LIMITS: ChannelLimits = ChannelLimits {
    recv_budget: 4096,
    stall_timeout: Duration::from_millis(1),
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, wire)) = data.split_first() else {
        return;
    };
    runtime().block_on(async {
        let (mut raw, theirs) = tokio::io::duplex(1 << 16);
        let feed = async move {
            let _ = raw.write_all(wire).await;
            let _ = raw.shutdown().await;
            // Keep the write end alive until the reader has seen EOF.
            raw
        };
        if mode & 1 == 0 {
            let mut ch = StreamChannel::with_limits(theirs, LIMITS);
            let drain = async { while ch.recv().await.is_ok() {} };
            let _ =
                tokio::time::timeout(Duration::from_secs(5), async { tokio::join!(feed, drain) })
                    .await
                    .expect("a stream channel hung on peer bytes");
        } else {
            let mux = Mux::with_limits(theirs, LIMITS);
            let mut sessions: Vec<_> = (0..4u64).filter_map(|id| mux.open(id).ok()).collect();
            let drain = async {
                for s in &mut sessions {
                    while s.recv().await.is_ok() {}
                }
            };
            let _ =
                tokio::time::timeout(Duration::from_secs(5), async { tokio::join!(feed, drain) })
                    .await
                    .expect("a mux hung on peer bytes");
            // Sessions the peer addressed but we had not opened.
            for id in 4..8u64 {
                if let Ok(mut s) = mux.open(id) {
                    while let Ok(Ok(_)) =
                        tokio::time::timeout(Duration::from_secs(5), s.recv()).await
                    {
                    }
                }
            }
        }
    });
});
