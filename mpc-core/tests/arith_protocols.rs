//! Arithmetic shares: B2A, A2B and the fixed-vector inner products, run by
//! both parties as tokio tasks, checked against plain integer arithmetic.

use mpc_core::arith::ring::{Ring, packed_len};
use mpc_core::arith::{self, ArithError, BitRows, FixedBitsReceiver, Matrix, RowsSender};
use mpc_core::channel::{Channel, MemoryChannel, memory_pair};
use mpc_core::circuit::gadgets::AdderKind;
use mpc_core::circuit::word::{lanes_to_values, values_to_lanes};
use mpc_core::gmw::{GmwSession, setup_pool};
use mpc_core::ot::{ExtensionConfig, OtPool};
use mpc_core::{Lanes, Party};
use proptest::prelude::*;

async fn pools() -> ((OtPool, MemoryChannel), (OtPool, MemoryChannel)) {
    let (mut a, mut b) = memory_pair();
    let ta = tokio::spawn(async move {
        let p = setup_pool(
            Party::Client,
            &mut a,
            ExtensionConfig::default(),
            b"arith-test",
        )
        .await
        .expect("pool");
        (p, a)
    });
    let tb = tokio::spawn(async move {
        let p = setup_pool(
            Party::Server,
            &mut b,
            ExtensionConfig::default(),
            b"arith-test",
        )
        .await
        .expect("pool");
        (p, b)
    });
    (ta.await.expect("client"), tb.await.expect("server"))
}

fn lanes(bits: &[bool]) -> Lanes {
    Lanes::from_bools(bits)
}

fn mask(w: u32) -> u128 {
    if w >= 128 { u128::MAX } else { (1 << w) - 1 }
}

/// B2A of XOR-shared bits for ring R at `width`.
async fn check_b2a_bits<R: Ring>(bits: Vec<bool>, split: Vec<bool>, width: u32) {
    let ((mut pa, mut ca), (mut pb, mut cb)) = pools().await;
    let sc: Vec<bool> = split.clone();
    let ss: Vec<bool> = bits.iter().zip(&split).map(|(b, r)| b ^ r).collect();
    let ta = tokio::spawn(async move {
        arith::b2a_bits::<R, _>(Party::Client, &mut ca, &mut pa, &lanes(&sc), width)
            .await
            .expect("b2a")
    });
    let tb = tokio::spawn(async move {
        arith::b2a_bits::<R, _>(Party::Server, &mut cb, &mut pb, &lanes(&ss), width)
            .await
            .expect("b2a")
    });
    let (xa, xb) = (ta.await.expect("client"), tb.await.expect("server"));
    for (i, b) in bits.iter().enumerate() {
        assert_eq!(
            xa[i].add(xb[i]).reduce(width),
            R::from_u128(u128::from(*b)),
            "bit {i}, width {width}"
        );
        assert_eq!(xa[i].reduce(width), xa[i], "shares are reduced");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn b2a_bits_any_ring(bits in proptest::collection::vec(any::<bool>(), 1..150), seed in any::<u64>(), w in 1u32..=128) {
        let split: Vec<bool> = (0..bits.len()).map(|i| (seed.rotate_left(i as u32) ^ (i as u64)) & 1 == 1).collect();
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(check_b2a_bits::<u32>(bits.clone(), split.clone(), w.min(32)));
        rt.block_on(check_b2a_bits::<u64>(bits.clone(), split.clone(), w.min(64)));
        rt.block_on(check_b2a_bits::<u128>(bits, split, w));
    }

    #[test]
    fn b2a_word_and_a2b_round_trip(vals in proptest::collection::vec(any::<u32>(), 1..80), r in any::<u32>(), w in 1u32..=32) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let values: Vec<u128> = vals.iter().map(|&v| u128::from(v) & mask(w)).collect();
            // XOR-share the words, B2A them.
            let bits = values_to_lanes(&values, w as usize).expect("fits");
            let masks: Vec<Lanes> = bits.iter().enumerate()
                .map(|(i, l)| Lanes::from_words(vec![u64::from(r.rotate_left(i as u32)) * 0x9E37_79B9; l.len().div_ceil(64)], l.len()))
                .collect();
            let server_bits: Vec<Lanes> = bits.iter().zip(&masks).map(|(b, m)| b.xor(m)).collect();
            let ((mut pa, mut ca), (mut pb, mut cb)) = pools().await;
            let ta = tokio::spawn(async move {
                arith::b2a_word::<u32, _>(Party::Client, &mut ca, &mut pa, &masks, w).await.expect("b2a")
            });
            let tb = tokio::spawn(async move {
                arith::b2a_word::<u32, _>(Party::Server, &mut cb, &mut pb, &server_bits, w).await.expect("b2a")
            });
            let (xa, xb) = (ta.await.expect("client"), tb.await.expect("server"));
            let sums: Vec<u128> = xa.iter().zip(&xb).map(|(a, b)| u128::from(a.wrapping_add(*b)) & mask(w)).collect();
            assert_eq!(sums, values);

            // And back: A2B of those additive shares.
            let (mut a, mut b) = memory_pair();
            let ta = tokio::spawn(async move {
                let mut s = GmwSession::setup(Party::Client, &mut a, ExtensionConfig::default(), b"a2b").await.expect("setup");
                arith::a2b::<u32, _>(&mut s, &mut a, &xa, w, AdderKind::Ripple).await.expect("a2b")
            });
            let tb = tokio::spawn(async move {
                let mut s = GmwSession::setup(Party::Server, &mut b, ExtensionConfig::default(), b"a2b").await.expect("setup");
                arith::a2b::<u32, _>(&mut s, &mut b, &xb, w, AdderKind::Ripple).await.expect("a2b")
            });
            let (ba, bb) = (ta.await.expect("client"), tb.await.expect("server"));
            let xored: Vec<Lanes> = ba.iter().zip(&bb).map(|(x, y)| x.xor(y)).collect();
            assert_eq!(lanes_to_values(&xored).expect("bits"), values);
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a2b_kinds_disagreeing_is_caught_by_the_netlist_shape() {
    // Both parties must build the same circuit; with different adder kinds
    // the message sizes differ and the run fails with an error instead of
    // a hang or a silently wrong result.
    let (mut a, mut b) = memory_pair();
    let ta = tokio::spawn(async move {
        let mut s = GmwSession::setup(Party::Client, &mut a, ExtensionConfig::default(), b"a2b")
            .await
            .expect("setup");
        arith::a2b::<u32, _>(&mut s, &mut a, &[1, 2, 3], 16, AdderKind::Ripple).await
    });
    let tb = tokio::spawn(async move {
        let mut s = GmwSession::setup(Party::Server, &mut b, ExtensionConfig::default(), b"a2b")
            .await
            .expect("setup");
        let r = arith::a2b::<u32, _>(&mut s, &mut b, &[1, 2, 3], 16, AdderKind::LogDepth).await;
        drop(b);
        r
    });
    let (ra, rb) = (ta.await.expect("client"), tb.await.expect("server"));
    assert!(ra.is_err() || rb.is_err());
}

/// Inner products: A's bit vector x against B's rows, twice with the same
/// setup (streams continue), checking values and traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_vector_inner_products() {
    let n = 300;
    let rows = 257;
    let width = 9;
    let x: Vec<bool> = (0..n).map(|i| (i * 7) % 3 == 0).collect();
    let bit_rows: Vec<Lanes> = (0..rows)
        .map(|j| {
            lanes(
                &(0..n)
                    .map(|i| (i * 13 + j * 5) % 4 == 1)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let dense: Vec<u32> = (0..rows * n)
        .map(|k| (k as u32).wrapping_mul(2_654_435_761))
        .collect();
    let expect_bits: Vec<u32> = bit_rows
        .iter()
        .map(|r| {
            (0..n)
                .filter(|&i| x[i] && r.get(i).expect("in range"))
                .count() as u32
        })
        .collect();
    let expect_dense: Vec<u32> = (0..rows)
        .map(|j| {
            (0..n)
                .filter(|&i| x[i])
                .fold(0u32, |acc, i| acc.wrapping_add(dense[j * n + i]))
        })
        .collect();

    let ((pa, mut ca), (pb, mut cb)) = pools().await;
    let xl = lanes(&x);
    let ta = tokio::spawn(async move {
        let mut pa = pa;
        let before = ca.stats();
        let mut r = FixedBitsReceiver::setup(&mut ca, &mut pa.receiver, &xl)
            .await
            .expect("setup");
        let z1: Vec<u32> = r
            .inner_products(&mut ca, rows, width)
            .await
            .expect("products");
        let z2: Vec<u32> = r.inner_products(&mut ca, rows, 32).await.expect("products");
        (z1, z2, ca.stats().since(&before))
    });
    let db = dense.clone();
    let tb = tokio::spawn(async move {
        let mut pb = pb;
        let mut s = RowsSender::setup(&mut cb, &mut pb.sender, n)
            .await
            .expect("setup");
        let before = cb.stats();
        let z1: Vec<u32> = s
            .inner_products(&mut cb, &BitRows::new(&bit_rows).expect("rows"), width)
            .await
            .expect("products");
        let after_first = cb.stats().since(&before);
        let z2: Vec<u32> = s
            .inner_products(&mut cb, &Matrix::new(db, n).expect("matrix"), 32)
            .await
            .expect("products");
        (z1, z2, after_first)
    });
    let ((a1, a2, _), (b1, b2, first)) = (ta.await.expect("client"), tb.await.expect("server"));
    let sum = |a: &[u32], b: &[u32], w: u32| -> Vec<u32> {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.wrapping_add(*y).reduce(w))
            .collect()
    };
    assert_eq!(sum(&a1, &b1, width), expect_bits);
    assert_eq!(sum(&a2, &b2, 32), expect_dense);
    // One correction of `width` bits per (i, j), packed back to back in
    // one message, nothing else: no OT per row.
    assert_eq!(first.bytes_sent, packed_len::<u32>(n * rows, width) as u64);
    assert_eq!(first.messages_sent, 1);
    assert_eq!(first.bytes_received, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_errors() {
    let ((mut pa, mut ca), _server) = pools().await;
    let r = arith::b2a_bits::<u32, _>(Party::Client, &mut ca, &mut pa, &Lanes::zeros(3), 33).await;
    assert!(matches!(r, Err(ArithError::Width { width: 33, max: 32 })));
    let r = arith::b2a_bits::<u64, _>(Party::Client, &mut ca, &mut pa, &Lanes::zeros(3), 0).await;
    assert!(matches!(r, Err(ArithError::Width { width: 0, max: 64 })));
    assert!(matches!(
        Matrix::new(vec![1u32, 2, 3], 2),
        Err(ArithError::Shape(_))
    ));
    let uneven = [Lanes::zeros(3), Lanes::zeros(4)];
    assert!(matches!(BitRows::new(&uneven), Err(ArithError::Shape(_))));
}
