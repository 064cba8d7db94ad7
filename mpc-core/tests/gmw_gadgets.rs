//! Every gadget on the two-party GMW backend (both parties as tokio tasks)
//! against plain Rust integer arithmetic: random cases through the
//! in-memory channel, a few through loopback TCP.

mod circuit_support;

use circuit_support::{
    Case, Op, Owner, Transport, any_case, reference, run_gmw, run_plain, runtime,
};
use mpc_core::circuit::gadgets::AdderKind;
use proptest::prelude::*;

proptest! {
    // Each case runs base OTs, OT extension and the circuit; keep the count
    // moderate.
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn gadgets_in_2pc_match_integer_arithmetic(c in any_case(70)) {
        let rt = runtime();
        let got = rt.block_on(run_gmw(&c, Transport::Memory));
        prop_assert_eq!(&got, &reference(&c), "case {:?}", c);
        prop_assert_eq!(got, run_plain(&c));
    }
}

fn case(op: Op, widths: Vec<usize>, owners: Vec<Owner>, values: Vec<Vec<u128>>) -> Case {
    Case {
        op,
        widths,
        owners,
        values,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ownership_combination() {
    let a = vec![0, 255, 255, 0, 17, 200, 128];
    let b = vec![0, 255, 0, 255, 17, 201, 127];
    let owners = [Owner::Client, Owner::Server, Owner::Shared];
    for oa in owners {
        for ob in owners {
            for op in [
                Op::Add(AdderKind::Ripple),
                Op::Lt,
                Op::Eq,
                Op::Mul(AdderKind::LogDepth, 16),
            ] {
                let c = case(op, vec![8, 8], vec![oa, ob], vec![a.clone(), b.clone()]);
                assert_eq!(
                    run_gmw(&c, Transport::Memory).await,
                    reference(&c),
                    "{:?} {oa:?} {ob:?}",
                    c.op
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argmax_edge_cases_in_2pc() {
    let cases = [
        case(
            Op::ArgmaxLanes,
            vec![8],
            vec![Owner::Server],
            vec![vec![42]],
        ),
        case(
            Op::ArgmaxLanes,
            vec![8],
            vec![Owner::Shared],
            vec![vec![9; 13]],
        ),
        case(
            Op::ArgmaxLanes,
            vec![8],
            vec![Owner::Server],
            vec![vec![1, 5, 5, 5, 0, 5, 2]],
        ),
        case(
            Op::ArgmaxLanes,
            vec![16],
            vec![Owner::Shared],
            vec![(0..100).map(|i| (i * 37) % 11).collect()],
        ),
        case(
            Op::Argmax,
            vec![4; 5],
            vec![
                Owner::Client,
                Owner::Server,
                Owner::Shared,
                Owner::Client,
                Owner::Server,
            ],
            vec![vec![3, 0], vec![7, 0], vec![7, 0], vec![1, 0], vec![7, 1]],
        ),
    ];
    for c in &cases {
        assert_eq!(run_gmw(c, Transport::Memory).await, reference(c), "{c:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_cases_over_tcp() {
    let m = u128::from(u16::MAX);
    let cases = [
        case(
            Op::Add(AdderKind::LogDepth),
            vec![16, 16],
            vec![Owner::Client, Owner::Server],
            vec![vec![0, m, 5, m], vec![0, m, 7, 1]],
        ),
        case(
            Op::Lt,
            vec![16, 16],
            vec![Owner::Shared, Owner::Server],
            vec![vec![0, m, 5, 9], vec![0, m, 7, 9]],
        ),
        case(
            Op::DivFixed(AdderKind::Ripple, 8, 9),
            vec![10, 10],
            vec![Owner::Client, Owner::Server],
            vec![vec![0, 500, 250, 1], vec![1, 500, 1000, 1023]],
        ),
        case(
            Op::FractionGt(AdderKind::Ripple),
            vec![8, 8, 8, 8],
            vec![Owner::Shared; 4],
            vec![vec![1, 2, 3], vec![2, 4, 7], vec![1, 1, 1], vec![2, 2, 2]],
        ),
        case(
            Op::ArgmaxLanes,
            vec![12],
            vec![Owner::Shared],
            vec![(0..77).map(|i| (i * 13) % 40).collect()],
        ),
        case(
            Op::Popcount,
            vec![100],
            vec![Owner::Client],
            vec![vec![0, (1 << 100) - 1, 12345]],
        ),
    ];
    for c in &cases {
        assert_eq!(run_gmw(c, Transport::Tcp).await, reference(c), "{c:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_simd_run() {
    // 3000 lanes: several words per wire and several KB per layer message.
    let n = 3000;
    let a: Vec<u128> = (0..n).map(|i| (i * 7919) % 65536).collect();
    let b: Vec<u128> = (0..n).map(|i| (i * 104_729) % 65536).collect();
    for op in [
        Op::Lt,
        Op::Sub(AdderKind::Ripple),
        Op::Mul(AdderKind::LogDepth, 32),
    ] {
        let c = case(
            op,
            vec![16, 16],
            vec![Owner::Client, Owner::Server],
            vec![a.clone(), b.clone()],
        );
        assert_eq!(run_gmw(&c, Transport::Memory).await, reference(&c));
    }
}
