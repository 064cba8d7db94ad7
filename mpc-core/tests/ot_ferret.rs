//! Ferret silent OT over real channels: the correlation of every output
//! across bootstrapping and several iterations, odd sizes, what each party
//! sends, and the wire cost per OT.

use std::collections::HashSet;

use mpc_core::block::Block;
use mpc_core::channel::{Channel, RecordingChannel, memory_pair};
use mpc_core::ot::bits::get_bit;
use mpc_core::ot::ferret::core::message_len;
use mpc_core::ot::ferret::{FerretConfig, LpnParams};
use mpc_core::ot::{
    CotReceiver, CotSender, ExtensionConfig, FerretReceiver, FerretSender, OtError,
    RcotReceiverBatch, RcotSenderBatch,
};

/// Small sets that chain like the real ones, so a test runs many
/// iterations (1,400 outputs each). Not secure: tests only.
fn small() -> FerretConfig {
    FerretConfig::new(
        LpnParams {
            k: 1000,
            t: 40,
            depth: 6,
        },
        LpnParams {
            k: 1500,
            t: 50,
            depth: 6,
        },
    )
    .unwrap()
}

async fn ferret_pair<A: Channel, B: Channel>(
    a: &mut A,
    b: &mut B,
    cfg: FerretConfig,
    tweak: &[u8; 32],
) -> (FerretSender, FerretReceiver) {
    let (s, r) = tokio::join!(
        CotSender::setup(a, ExtensionConfig::SOFTSPOKEN4, b"ferret-test"),
        CotReceiver::setup(b, ExtensionConfig::SOFTSPOKEN4, b"ferret-test")
    );
    (
        FerretSender::new(s.unwrap(), cfg, tweak),
        FerretReceiver::new(r.unwrap(), cfg, tweak),
    )
}

fn check(s: &RcotSenderBatch, r: &RcotReceiverBatch, seen: &mut HashSet<u128>) -> usize {
    assert_eq!(s.len(), r.len());
    assert_eq!(s.first_index, r.first_index);
    let mut ones = 0;
    for j in 0..s.len() {
        let x = get_bit(&r.choices, j);
        ones += x as usize;
        assert_eq!(r.mb[j], s.m0[j] ^ s.delta.and_bit(x), "OT {j}");
        assert!(seen.insert(s.m0[j].0), "repeated output at {j}");
    }
    // Padding bits of the packed choices stay zero.
    if !s.len().is_multiple_of(64) {
        assert_eq!(r.choices.last().unwrap() >> (s.len() % 64), 0);
    }
    ones
}

#[tokio::test]
async fn outputs_are_correlated_across_iterations_and_odd_sizes() {
    let (mut a, mut b) = memory_pair();
    let (mut s, mut r) = ferret_pair(&mut a, &mut b, small(), &[1; 32]).await;
    let delta = s.delta();
    let mut seen = HashSet::new();
    let (mut total, mut ones, mut next) = (0usize, 0usize, None);
    // 760 outputs from the bootstrap iteration, 1,400 per later one: these
    // sizes cross several iteration and piece boundaries.
    for n in [1, 63, 64, 333, 1400, 5000, 12_345, 7] {
        let (sb, rb) = tokio::join!(s.extend(&mut a, n), r.extend(&mut b, n));
        let (sb, rb) = (sb.unwrap(), rb.unwrap());
        assert_eq!(sb.delta, delta);
        if let Some(i) = next {
            assert_eq!(sb.first_index, i, "stream indices are consecutive");
        }
        next = Some(sb.first_index + n as u128);
        ones += check(&sb, &rb, &mut seen);
        total += n;
    }
    assert!(
        ones > total * 45 / 100 && ones < total * 55 / 100,
        "{ones}/{total}"
    );
}

#[tokio::test]
async fn default_parameters_bootstrap_into_the_main_iteration() {
    let (mut a, mut b) = memory_pair();
    let cfg = FerretConfig::default();
    let (mut s, mut r) = ferret_pair(&mut a, &mut b, cfg, &[2; 32]).await;
    // The bootstrap iteration yields 649,728 − 606,659 = 43,069 OTs; this
    // reaches into the first main iteration.
    let mut seen = HashSet::new();
    let mut ones = 0;
    for n in [40_000, 600_001] {
        let (sb, rb) = tokio::join!(s.extend(&mut a, n), r.extend(&mut b, n));
        ones += check(&sb.unwrap(), &rb.unwrap(), &mut seen);
    }
    let total = 640_001;
    assert!(
        ones > total * 49 / 100 && ones < total * 51 / 100,
        "{ones}/{total}"
    );
}

#[tokio::test]
async fn after_bootstrap_only_the_sender_talks_and_sends_tree_sums() {
    let (a, b) = memory_pair();
    let (mut a, mut b) = (RecordingChannel::new(a), RecordingChannel::new(b));
    let cfg = small();
    let (mut s, mut r) = ferret_pair(&mut a, &mut b, cfg, &[3; 32]).await;
    let (x, y) = tokio::join!(s.bootstrap(&mut a), r.bootstrap(&mut b));
    x.unwrap();
    y.unwrap();
    let sent_by_receiver = b.sent().len();
    let sent_by_sender = a.sent().len();
    let n = 10_000;
    let (sb, rb) = tokio::join!(s.extend(&mut a, n), r.extend(&mut b, n));
    let (sb, rb) = (sb.unwrap(), rb.unwrap());
    check(&sb, &rb, &mut HashSet::new());
    // The receiver sent nothing for 10,000 OTs.
    assert_eq!(b.sent().len(), sent_by_receiver);
    // The sender sent one message per piece (here one per iteration of
    // 50 trees or 40 in the bootstrap), of (2·depth + 1) blocks per tree.
    let msgs = &a.sent()[sent_by_sender..];
    assert!(!msgs.is_empty());
    assert_eq!(msgs[0].len(), 16 * message_len(6, 40));
    for m in &msgs[1..] {
        assert_eq!(m.len(), 16 * message_len(6, 50));
    }
    // Nothing the sender sent equals Δ or one of its outputs.
    let delta = s.delta();
    let outputs: HashSet<u128> = sb.m0.iter().map(|b| b.0).collect();
    for m in msgs {
        for c in m.chunks_exact(16) {
            let v = Block::from_bytes(c.try_into().unwrap());
            assert_ne!(v, delta);
            assert!(!outputs.contains(&v.0));
        }
    }
}

#[tokio::test]
async fn a_short_message_is_an_error_not_a_panic() {
    let (mut a, mut b) = memory_pair();
    let cfg = small();
    let (mut s, mut r) = ferret_pair(&mut a, &mut b, cfg, &[4; 32]).await;
    let (x, y) = tokio::join!(s.bootstrap(&mut a), r.bootstrap(&mut b));
    x.unwrap();
    y.unwrap();
    a.send(bytes::Bytes::from_static(&[0u8; 48])).await.unwrap();
    let err = r.extend(&mut b, 10).await.err().unwrap();
    assert!(matches!(err, OtError::Channel(_)), "{err:?}");
}

#[test]
fn parameters_must_chain() {
    let p = LpnParams {
        k: 1000,
        t: 10,
        depth: 6,
    };
    assert!(FerretConfig::new(p, p).is_err()); // 640 outputs < 1,060 needed
    assert!(FerretConfig::new(LpnParams { depth: 5, ..p }, p).is_err());
    let d = FerretConfig::default();
    assert_eq!(d.main().n(), 10_608_640);
    assert_eq!(d.boot().n(), 649_728);
    assert!(d.boot().n() >= d.main().base_cots());
    assert!(d.bits_per_ot() < 0.5);
}
