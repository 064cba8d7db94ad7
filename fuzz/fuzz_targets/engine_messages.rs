//! The engine's message decoders, driven as the engine really uses them:
//! one party runs a real protocol step over an in-memory channel wrapped in
//! the job channel (kind byte on every message), and the other party is
//! replaced by the fuzz input. The first byte picks the step and the role;
//! the rest is a sequence of peer messages, each `len: u16 LE | bytes`.
//!
//! Steps: the pure decoders (`Lanes::from_bytes`, `channel::decode_*`) with
//! a fuzzed length; the GMW online phase of a comparison (material from
//! local random-looking bits, so no OT is needed to reach it); a whole GMW
//! session (base OT, OT extension seeds and corrections, preprocessing,
//! online); B2A after a session setup; and the vector-product corrections.
//! Nothing may panic or hang (5 s per input, fresh runtime per input).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mpc_core::arith::b2a_bits;
use mpc_core::arith::vector::FixedBitsReceiver;
use mpc_core::block::Block;
use mpc_core::channel::{Bytes, Channel, decode_bits, decode_blocks, decode_u64s, memory_pair};
use mpc_core::circuit::gadgets;
use mpc_core::circuit::netlist::{NetlistBuilder, Reveal};
use mpc_core::gmw::{GmwSession, Inputs, Material, ReceivedBitRots, SentBitRots, run_online};
use mpc_core::ot::ExtensionConfig;
use mpc_core::{Lanes, Party};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Splits the input into peer messages (`len: u16 LE | bytes`, the last one
/// cut short if the input ends).
fn messages(mut data: &[u8]) -> Vec<Bytes> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([data[0], data[1]]));
        let body = &data[2..];
        let take = len.min(body.len());
        out.push(Bytes::copy_from_slice(&body[..take]));
        data = &body[take..];
    }
    out
}

const LANES: usize = 8;
const WIDTH: usize = 8;

fn inputs_for(me: Party) -> (mpc_core::gmw::Netlist, Inputs) {
    let mut b = NetlistBuilder::new();
    let x = b.input_word(Party::Client, WIDTH, LANES).expect("input");
    let y = b.input_word(Party::Server, WIDTH, LANES).expect("input");
    let lt = gadgets::lt(&mut b, &x, &y).expect("lt");
    b.output(&lt, Reveal::Both).expect("out");
    b.output(&lt, Reveal::To(Party::Client)).expect("out");
    b.output(&lt, Reveal::Shares).expect("out");
    let net = b.finish();
    let mut inputs = Inputs::new();
    let values: Vec<u128> = (0..LANES as u128).map(|i| i * 37 % 256).collect();
    let mine = if me == Party::Client { &x } else { &y };
    inputs.set_word(mine, &values).expect("inputs");
    (net, inputs)
}

/// Bits that are not all zero, so the online phase computes something.
fn pattern(len: usize, seed: u64) -> Lanes {
    Lanes::from_bools(
        &(0..len)
            .map(|i| (i as u64).wrapping_mul(seed | 1).rotate_left(7) & 4 != 0)
            .collect::<Vec<_>>(),
    )
}

async fn step(kind: u8, wire: &[u8]) {
    let me = if kind & 0x80 == 0 {
        Party::Client
    } else {
        Party::Server
    };
    let (ours, mut theirs) = memory_pair();
    for m in messages(wire) {
        let _ = theirs.send(m).await;
    }
    // The peer is gone after its messages: every further receive must end.
    drop(theirs);
    let mut ch = mpc_core::fuzzing::job_channel(ours);
    match kind & 0x7f {
        1 => {
            let (net, inputs) = inputs_for(me);
            let req = net.requirements();
            let n_recv = usize::try_from(req.rots_received_by(me)).unwrap_or(0);
            let n_send = usize::try_from(req.rots_received_by(me.other())).unwrap_or(0);
            let received = ReceivedBitRots {
                choices: pattern(n_recv, 3),
                messages: pattern(n_recv, 5),
            };
            let sent = SentBitRots {
                m0: pattern(n_send, 7),
                m1: pattern(n_send, 11),
            };
            let material = Material::from_rots(me, &req, &received, &sent).expect("material");
            let _ = run_online(&net, me, &mut ch, &material, inputs).await;
        }
        2 => {
            let (net, inputs) = inputs_for(me);
            if let Ok(mut s) = GmwSession::setup(me, &mut ch, ExtensionConfig::IKNP, b"f").await {
                let _ = s.evaluate(&mut ch, &net, inputs).await;
            }
        }
        3 => {
            if let Ok(mut s) = GmwSession::setup(me, &mut ch, ExtensionConfig::IKNP, b"f").await {
                let _ = b2a_bits::<u32, _>(me, &mut ch, s.pool(), &pattern(LANES, 13), 32).await;
            }
        }
        _ => {
            let x = pattern(16, 17);
            let keys = (0..16u8).map(|i| Block::from_bytes([i; 16])).collect();
            let mut r = FixedBitsReceiver::from_keys(x, keys).expect("receiver");
            let _ = r.inner_products::<u32, _>(&mut ch, 3, 20).await;
            let _ = r.inner_products::<u64, _>(&mut ch, 2, 64).await;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    if kind & 0x7f == 0 {
        // Pure decoders with a fuzzed expected length.
        let Some((n, body)) = rest.split_first_chunk::<2>() else {
            return;
        };
        let n = usize::from(u16::from_le_bytes(*n));
        if let Ok(l) = Lanes::from_bytes(body, n) {
            let mut back = Vec::new();
            l.write_bytes(&mut back);
            assert_eq!(
                back, body,
                "accepted lanes must re-encode to the same bytes"
            );
        }
        let _ = decode_bits(body, n);
        let _ = decode_blocks(body, n);
        let _ = decode_u64s(body, n);
        return;
    }
    runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(5), step(kind, rest))
            .await
            .expect("an engine step hung on peer messages");
    });
});
