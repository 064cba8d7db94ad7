//! OT tests over real channels: base OT, IKNP and SoftSpokenOT extension,
//! every derived flavour, pools, and the wire cost per OT.

use mpc_core::block::Block;
use mpc_core::channel::{
    Channel, ChannelExt, Mux, RecordingChannel, StreamChannel, memory_pair, tcp_pair,
};
use mpc_core::ot::base::{base_ot_receive, base_ot_send};
use mpc_core::ot::bits::{count_ones, get_bit, pack_bools};
use mpc_core::ot::softspoken::correction_len;
use mpc_core::ot::{
    CotReceiver, CotSender, ExtensionConfig, OtError, OtPool, OtReceiverPool, OtSenderPool,
    SetupOrder,
};

const CONFIGS: [ExtensionConfig; 2] = [ExtensionConfig::IKNP, ExtensionConfig::SOFTSPOKEN4];

async fn cot_pair<A: Channel, B: Channel>(
    a: &mut A,
    b: &mut B,
    cfg: ExtensionConfig,
) -> (CotSender, CotReceiver) {
    let (s, r) = tokio::join!(
        CotSender::setup(a, cfg, b"test"),
        CotReceiver::setup(b, cfg, b"test")
    );
    (s.unwrap(), r.unwrap())
}

fn assert_correlated(s: &mpc_core::ot::RcotSenderBatch, r: &mpc_core::ot::RcotReceiverBatch) {
    assert_eq!(s.len(), r.len());
    assert_eq!(s.first_index, r.first_index);
    for j in 0..s.len() {
        let expect = if get_bit(&r.choices, j) {
            s.m1(j)
        } else {
            s.m0[j]
        };
        assert_eq!(r.mb[j], expect, "OT {j}");
        // m1 = m0 ^ delta by construction; the receiver does not hold the other one.
        assert_ne!(
            r.mb[j],
            if get_bit(&r.choices, j) {
                s.m0[j]
            } else {
                s.m1(j)
            }
        );
    }
}

#[tokio::test]
async fn base_ot_over_memory_gives_chosen_keys() {
    let (mut a, mut b) = memory_pair();
    let choices: Vec<bool> = (0..128).map(|i| (i * 7) % 3 == 0).collect();
    let (pairs, keys) = tokio::join!(
        base_ot_send(&mut a, b"ctx", 128),
        base_ot_receive(&mut b, b"ctx", &choices)
    );
    let (pairs, keys) = (pairs.unwrap(), keys.unwrap());
    for i in 0..128 {
        assert_eq!(keys[i], pairs[i][choices[i] as usize]);
        assert_ne!(keys[i], pairs[i][!choices[i] as usize]);
    }
    // One round trip: A, then 128 points.
    assert_eq!(a.stats().bytes_sent, 32);
    assert_eq!(b.stats().bytes_sent, 32 * 128);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_ot_over_tcp_with_garbage_point_fails_cleanly() {
    let (sa, sb) = tcp_pair().await.unwrap();
    let mut a = StreamChannel::new(sa);
    let mut b = StreamChannel::new(sb);
    // The "receiver" answers with bytes that are not Ristretto points.
    let (res, _) = tokio::join!(base_ot_send(&mut a, b"ctx", 2), async {
        let _ = b.recv().await.unwrap();
        b.send(mpc_core::channel::Bytes::from(vec![0xffu8; 64]))
            .await
            .unwrap();
    });
    assert!(
        matches!(res, Err(OtError::InvalidPoint { index: 0, .. })),
        "{:?}",
        res.err()
    );
}

#[tokio::test]
async fn extension_over_memory_correlates_for_iknp_and_softspoken() {
    for cfg in CONFIGS {
        let (mut a, mut b) = memory_pair();
        let (mut s, mut r) = cot_pair(&mut a, &mut b, cfg).await;
        let before = b.stats();
        // Odd sizes: partial words and more than one batch.
        for n in [1usize, 1000, 70_001] {
            let (sb, rb) = tokio::join!(s.extend(&mut a, n), r.extend(&mut b, n));
            let (sb, rb) = (sb.unwrap(), rb.unwrap());
            assert_eq!(sb.delta, s.delta());
            assert_correlated(&sb, &rb);
            // Random choices are balanced-ish (for n = 70001: 6 sigma is ~800).
            if n > 10_000 {
                let ones = count_ones(&rb.choices, n);
                assert!(ones.abs_diff(n / 2) < 1_000, "{ones} ones of {n}");
            }
        }
        // Wire cost is exactly the corrections: (128/k - 1) bits per OT,
        // rounded up to whole 128-OT words per batch.
        let sent = b.stats().since(&before).bytes_sent as usize;
        let words = 1 + 1000usize.div_ceil(128) + 70_001usize.div_ceil(128);
        assert_eq!(sent, 16 * correction_len(cfg.k(), words));
        assert!(cfg.bits_per_ot() <= if cfg.k() == 4 { 32 } else { 127 });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extension_over_tcp_and_derived_flavours() {
    let (sa, sb) = tcp_pair().await.unwrap();
    let mut a = StreamChannel::new(sa);
    let mut b = StreamChannel::new(sb);
    let (mut s, mut r) = cot_pair(&mut a, &mut b, ExtensionConfig::SOFTSPOKEN4).await;
    let n = 5_000;

    // Random OT: receiver key equals the sender key it chose.
    let (sb, rb) = tokio::join!(s.extend(&mut a, n), r.extend(&mut b, n));
    let (sb, rb) = (sb.unwrap(), rb.unwrap());
    assert_correlated(&sb, &rb);
    let pairs = sb.random_ot();
    let keys = rb.random_ot();
    for j in 0..n {
        let c = get_bit(&rb.choices, j) as usize;
        assert_eq!(keys[j], pairs[j][c]);
        assert_ne!(keys[j], pairs[j][1 - c]);
        // Hashing breaks the correlation.
        assert_ne!(pairs[j][0] ^ pairs[j][1], s.delta());
    }

    // Bit random OT: m_b bit is the chosen one; messages balanced.
    let (m0, m1) = sb.random_bits();
    let (choices, mb) = rb.random_bits();
    for j in 0..n {
        let expect = if get_bit(&choices, j) {
            get_bit(&m1, j)
        } else {
            get_bit(&m0, j)
        };
        assert_eq!(get_bit(&mb, j), expect, "bit OT {j}");
    }
    let ones = count_ones(&m0, n);
    assert!(ones.abs_diff(n / 2) < 300, "{ones}");
    assert_eq!(m0.len(), n.div_ceil(64));

    // Correlated OT with chosen choice bits.
    let want: Vec<bool> = (0..n).map(|j| j % 3 == 1).collect();
    let want_packed = pack_bools(&want);
    let (sb, rb) = tokio::join!(s.extend(&mut a, n), r.extend(&mut b, n));
    let (sb, rb) = (sb.unwrap(), rb.unwrap());
    let (sb, rb) = tokio::join!(sb.fix_choices(&mut a), rb.fix_choices(&mut b, &want_packed));
    let (sb, rb) = (sb.unwrap(), rb.unwrap());
    assert_eq!(rb.choices, want_packed);
    assert_correlated(&sb, &rb);

    // Chosen-message OT: receiver gets exactly the chosen message.
    let msgs: Vec<[Block; 2]> = (0..n as u128)
        .map(|i| [Block(i * 2), Block(i * 2 + 1)])
        .collect();
    let (sb, rb) = tokio::join!(s.extend(&mut a, n), r.extend(&mut b, n));
    let (sb, rb) = (sb.unwrap(), rb.unwrap());
    let (done, got) = tokio::join!(
        sb.send_chosen(&mut a, &msgs),
        rb.receive_chosen(&mut b, &want_packed)
    );
    done.unwrap();
    let got = got.unwrap();
    for (j, &w) in want.iter().enumerate() {
        assert_eq!(got[j], msgs[j][w as usize], "chosen OT {j}");
    }

    // Chosen-message bit OT.
    let x0: Vec<u64> = (0..n.div_ceil(64) as u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let mut x1: Vec<u64> = x0.iter().map(|w| !w).collect();
    mpc_core::ot::bits::clear_padding(&mut x1, n);
    let mut x0 = x0;
    mpc_core::ot::bits::clear_padding(&mut x0, n);
    let (sb, rb) = tokio::join!(s.extend(&mut a, n), r.extend(&mut b, n));
    let (sb, rb) = (sb.unwrap(), rb.unwrap());
    let (done, got) = tokio::join!(
        sb.send_chosen_bits(&mut a, &x0, &x1),
        rb.receive_chosen_bits(&mut b, &want_packed)
    );
    done.unwrap();
    let got = got.unwrap();
    for (j, &w) in want.iter().enumerate() {
        let expect = if w { get_bit(&x1, j) } else { get_bit(&x0, j) };
        assert_eq!(get_bit(&got, j), expect, "chosen bit OT {j}");
    }
}

#[tokio::test]
async fn mismatched_extension_parameters_are_reported() {
    let (mut a, mut b) = memory_pair();
    let (s, _r) = tokio::join!(
        CotSender::setup(&mut a, ExtensionConfig::IKNP, b"x"),
        // The receiver side gives up after the sender rejects the hello.
        async {
            let r = tokio::time::timeout(
                std::time::Duration::from_millis(200),
                CotReceiver::setup(&mut b, ExtensionConfig::SOFTSPOKEN4, b"x"),
            )
            .await;
            drop(b);
            r
        }
    );
    match s {
        Err(OtError::ConfigMismatch { ours, theirs }) => {
            assert_eq!(ours, "IKNP");
            assert_eq!(theirs, "SoftSpokenOT(k=4)");
        }
        other => panic!("expected ConfigMismatch, got {:?}", other.err()),
    }
    assert!(matches!(
        ExtensionConfig::softspoken(3),
        Err(OtError::InvalidParameter(_))
    ));
}

#[tokio::test]
async fn choice_message_is_a_one_time_pad_of_the_choices() {
    // Transcript check: what the receiver sends to fix its choices is
    // b XOR r for the random r, so it is not b itself and is balanced even
    // for an all-ones choice vector.
    let (mut a, b) = memory_pair();
    let mut b = RecordingChannel::new(b);
    let (mut s, mut r) = cot_pair(&mut a, &mut b, ExtensionConfig::SOFTSPOKEN4).await;
    let n = 4096;
    let (sb, rb) = tokio::join!(s.extend(&mut a, n), r.extend(&mut b, n));
    let (sb, rb) = (sb.unwrap(), rb.unwrap());
    let all_ones = vec![u64::MAX; n / 64];
    let before = b.sent().len();
    let (sb, rb) = tokio::join!(sb.fix_choices(&mut a), rb.fix_choices(&mut b, &all_ones));
    assert_correlated(&sb.unwrap(), &rb.unwrap());
    let msgs = &b.sent()[before..];
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].len(), n / 8);
    let ones: u32 = msgs[0].iter().map(|x| x.count_ones()).sum();
    assert!(
        (ones as usize).abs_diff(n / 2) < 250,
        "{ones} ones in e = b ^ r"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_reserve_and_take_in_lockstep() {
    let (mut a, mut b) = memory_pair();
    let cfg = ExtensionConfig::SOFTSPOKEN4;
    let (sp, rp) = tokio::join!(
        OtSenderPool::setup(&mut a, cfg, b"pool"),
        OtReceiverPool::setup(&mut b, cfg, b"pool")
    );
    let (mut sp, mut rp) = (sp.unwrap(), rp.unwrap());
    assert!(matches!(
        sp.take(1),
        Err(OtError::Exhausted {
            requested: 1,
            available: 0
        })
    ));
    let (x, y) = tokio::join!(sp.reserve(&mut a, 1000), rp.reserve(&mut b, 1000));
    x.unwrap();
    y.unwrap();
    assert_eq!(sp.available(), rp.available());
    assert!(sp.available() >= 1000);
    // Uneven takes keep both sides aligned (stream index and bit offsets).
    for n in [1usize, 63, 64, 65, 700] {
        let sb = sp.take(n).unwrap();
        let rb = rp.take(n).unwrap();
        assert_correlated(&sb, &rb);
        assert_eq!(sb.delta, sp.delta());
        let (m0, m1) = sb.random_bits();
        let (c, mb) = rb.random_bits();
        for j in 0..n {
            assert_eq!(
                get_bit(&mb, j),
                if get_bit(&c, j) {
                    get_bit(&m1, j)
                } else {
                    get_bit(&m0, j)
                }
            );
        }
    }
    // Top up past what is left: the leftover bits stay in order.
    let left = sp.available();
    let (x, y) = tokio::join!(
        sp.reserve(&mut a, left + 50_000),
        rp.reserve(&mut b, left + 50_000)
    );
    x.unwrap();
    y.unwrap();
    let sb = sp.take(left + 50_000).unwrap();
    let rb = rp.take(left + 50_000).unwrap();
    assert_correlated(&sb, &rb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidirectional_pool_over_mux_sessions_in_parallel() {
    // Two independent jobs, each with its own mux session and both OT
    // directions, running concurrently over one TCP connection.
    let (sa, sb) = tcp_pair().await.unwrap();
    let (ma, mb) = (Mux::new(sa), Mux::new(sb));
    let mut jobs = Vec::new();
    for id in [7u64, 8] {
        let mut ca = ma.open(id).unwrap();
        let mut cb = mb.open(id).unwrap();
        jobs.push(tokio::spawn(async move {
            let cfg = ExtensionConfig::SOFTSPOKEN4;
            let ctx = id.to_le_bytes();
            let (pa, pb) = tokio::join!(
                OtPool::setup(&mut ca, SetupOrder::SenderFirst, cfg, &ctx),
                OtPool::setup(&mut cb, SetupOrder::ReceiverFirst, cfg, &ctx)
            );
            let (mut pa, mut pb) = (pa.unwrap(), pb.unwrap());
            assert_ne!(pa.sender.delta(), pb.sender.delta());
            let (x, y) = tokio::join!(
                pa.reserve(&mut ca, 3000, 2000),
                pb.reserve(&mut cb, 2000, 3000)
            );
            x.unwrap();
            y.unwrap();
            assert_correlated(
                &pa.sender.take(3000).unwrap(),
                &pb.receiver.take(3000).unwrap(),
            );
            assert_correlated(
                &pb.sender.take(2000).unwrap(),
                &pa.receiver.take(2000).unwrap(),
            );
            ca.send_u64s(&[id]).await.unwrap();
            assert_eq!(cb.recv_u64s(1).await.unwrap(), vec![id]);
        }));
    }
    for j in jobs {
        j.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derandomisation_splits_messages_beyond_one_chunk() {
    // More OTs than fit one derandomisation message: chunking must agree on
    // both sides and keep bit offsets right across the boundary.
    use mpc_core::ot::derive::MSG_OTS;
    let n = MSG_OTS + 1000;
    let (mut a, mut b) = memory_pair();
    let (mut s, mut r) = cot_pair(&mut a, &mut b, ExtensionConfig::SOFTSPOKEN4).await;
    let want: Vec<bool> = (0..n).map(|j| (j / 7) % 2 == 0).collect();
    let want_packed = pack_bools(&want);

    let msgs: Vec<[Block; 2]> = (0..n as u128).map(|i| [Block(i), Block(!i)]).collect();
    let (sb, rb) = tokio::join!(s.extend(&mut a, n), r.extend(&mut b, n));
    let (done, got) = tokio::join!(
        sb.unwrap().send_chosen(&mut a, &msgs),
        rb.unwrap().receive_chosen(&mut b, &want_packed)
    );
    done.unwrap();
    let got = got.unwrap();
    for (j, &w) in want.iter().enumerate() {
        assert_eq!(got[j], msgs[j][w as usize], "chosen OT {j}");
    }

    let x0: Vec<u64> = vec![0x5555_5555_5555_5555; n.div_ceil(64)];
    let mut x0 = x0;
    mpc_core::ot::bits::clear_padding(&mut x0, n);
    let mut x1: Vec<u64> = x0.iter().map(|w| !w).collect();
    mpc_core::ot::bits::clear_padding(&mut x1, n);
    let (sb, rb) = tokio::join!(s.extend(&mut a, n), r.extend(&mut b, n));
    let (done, got) = tokio::join!(
        sb.unwrap().send_chosen_bits(&mut a, &x0, &x1),
        rb.unwrap().receive_chosen_bits(&mut b, &want_packed)
    );
    done.unwrap();
    let got = got.unwrap();
    for (j, &w) in want.iter().enumerate() {
        assert_eq!(
            get_bit(&got, j),
            if w { get_bit(&x1, j) } else { get_bit(&x0, j) },
            "bit OT {j}"
        );
    }
    // Receiver's messages: setup (hello, base-OT points, GGM sums) = 3, one
    // correction message per extension batch (two extensions), and the
    // choice fix-up split into 2 chunks for each of the two flavours.
    let expected = 3 + 2 * n.div_ceil(mpc_core::ot::BATCH_OTS) + 2 * 2;
    assert_eq!(b.stats().messages_sent as usize, expected);
}

/// One setup, many instances (the per-connection OT of the job API): each
/// instance is a correct correlated-OT stream with the setup's Δ, instances
/// of different tweaks share no output and no hash tweak, and equal tweaks
/// on both sides pair up.
#[test]
fn instances_of_one_setup_are_correct_and_independent() {
    use mpc_core::ot::{ReceiverSeeds, SenderSeeds};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for cfg in CONFIGS {
            let (mut a, mut b) = memory_pair();
            let (s, r) = tokio::join!(
                SenderSeeds::setup(&mut a, cfg, b"conn"),
                ReceiverSeeds::setup(&mut b, cfg, b"conn")
            );
            let (s, r) = (s.unwrap(), r.unwrap());
            let mut batches = Vec::new();
            for tweak in [[1u8; 32], [2u8; 32]] {
                let (mut si, mut ri) = (s.instance(&tweak), r.instance(&tweak));
                let (sb, rb) = tokio::join!(si.extend(&mut a, 1000), ri.extend(&mut b, 1000));
                let (sb, rb) = (sb.unwrap(), rb.unwrap());
                assert_correlated(&sb, &rb);
                batches.push((si.delta(), sb, rb));
            }
            let (d1, s1, r1) = &batches[0];
            let (d2, s2, r2) = &batches[1];
            assert_eq!(d1, d2, "{cfg}: instances share Δ");
            assert_ne!(s1.m0, s2.m0, "{cfg}: fresh pads per instance");
            assert_ne!(r1.choices, r2.choices);
            assert_ne!(s1.first_index >> 64, s2.first_index >> 64);
            // Different tweaks on the two sides do not pair up.
            let (mut si, mut ri) = (s.instance(&[3u8; 32]), r.instance(&[4u8; 32]));
            let (sb, rb) = tokio::join!(si.extend(&mut a, 256), ri.extend(&mut b, 256));
            let (sb, rb) = (sb.unwrap(), rb.unwrap());
            let mismatched = (0..256).any(|j| {
                let want = if get_bit(&rb.choices, j) {
                    sb.m1(j)
                } else {
                    sb.m0[j]
                };
                rb.mb[j] != want
            });
            assert!(mismatched, "{cfg}: other tweak, other stream");
        }
    });
}
