//! The node's peer messages (`sel-node/src/peer/wire.rs`), with the limits
//! the node applies: a handshake frame read off the stream as the dialer
//! and the acceptor do, its body decoded as a Hello or a Welcome, and a
//! control-session message (first byte chooses). Whatever is accepted must
//! re-encode to bytes that decode again to the same encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sel_node::fuzzing::{PeerMessage, decode, read_handshake_frame};

fn round_trip(kind: PeerMessage, bytes: &[u8]) {
    if let Ok(encoded) = decode(kind, bytes) {
        let again = decode(kind, &encoded).expect("an accepted message re-encodes to a valid one");
        assert_eq!(again, encoded, "re-encoding is not stable");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => round_trip(PeerMessage::Control, body),
        // The handshake: a frame off the stream, then its body.
        m => {
            let kind = if m == 1 {
                PeerMessage::Hello
            } else {
                PeerMessage::Welcome
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            let mut stream = body;
            if let Ok(frame) = rt.block_on(read_handshake_frame(&mut stream)) {
                assert!(frame.len() <= body.len(), "frame longer than the input");
                round_trip(kind, &frame);
            }
            // The body alone too, so the decoder is reached without a length.
            round_trip(kind, body);
        }
    }
});
