//! No `Debug` output of a type that holds shares, keys, seeds or values
//! shows them (issue 9 item 11): every such type is formatted with a
//! distinctive secret inside and the output is searched for it.

use mpc_core::Lanes;
use mpc_core::Party;
use mpc_core::arith::Matrix;
use mpc_core::channel::memory_pair;
use mpc_core::epilink::{JobOptions, PeerOt, ResultShare};
use mpc_core::gmw::{Inputs, Material, Outputs};
use mpc_core::ot::{CotReceiver, CotSender, ExtensionConfig};

/// A value's decimal and hex forms must not appear in `text`.
fn hides(text: &str, secret: u64) {
    for needle in [
        secret.to_string(),
        format!("{secret:x}"),
        format!("{secret:X}"),
    ] {
        assert!(!text.contains(&needle), "{text:?} shows {needle}");
    }
}

#[test]
fn shares_and_values_are_redacted() {
    let secret: u64 = 0x5eed_cafe_f00d_1234;
    let lanes = Lanes::from_words(vec![secret], 64);
    let text = format!("{lanes:?}");
    assert!(!text.contains("0010"), "{text}");
    hides(&text, secret);

    let share = ResultShare {
        is_match: true,
        tentative: true,
        best_index: secret,
    };
    let text = format!("{share:?}");
    hides(&text, secret);
    assert!(!text.contains("true"), "{text}");

    let m = Matrix::new(vec![secret, secret], 1).expect("matrix");
    hides(&format!("{m:?}"), secret);

    for text in [
        format!("{:?}", Inputs::new()),
        format!("{:?}", Outputs::default()),
        format!("{:?}", Material::default()),
    ] {
        assert!(text.ends_with("(redacted)"), "{text}");
    }
}

#[test]
fn ot_state_is_redacted() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (mut a, mut b) = memory_pair();
        let cfg = ExtensionConfig::default();
        let (s, r) = tokio::join!(
            CotSender::setup(&mut a, cfg, b"ctx"),
            CotReceiver::setup(&mut b, cfg, b"ctx")
        );
        let (mut s, mut r) = (s.expect("sender"), r.expect("receiver"));
        let (sb, rb) = tokio::join!(s.extend(&mut a, 256), r.extend(&mut b, 256));
        let (sb, rb) = (sb.expect("sender batch"), rb.expect("receiver batch"));
        let delta = s.delta().0;
        for text in [format!("{sb:?}"), format!("{rb:?}")] {
            hides(&text, delta as u64);
            hides(&text, (delta >> 64) as u64);
            hides(&text, sb.m0[0].0 as u64);
            assert!(text.contains("redacted"), "{text}");
        }
        let (x, y) = memory_pair();
        let (p, q) = tokio::join!(
            PeerOt::establish(x, Party::Client, b"conn"),
            PeerOt::establish(y, Party::Server, b"conn")
        );
        let (p, q) = (p.expect("dialer"), q.expect("acceptor"));
        for text in [format!("{p:?}"), format!("{q:?}")] {
            assert!(text.starts_with("PeerOt {"), "{text}");
            assert!(text.ends_with(".. }"), "{text}");
        }
        let opts = JobOptions {
            job_id: "job-1".into(),
            ..JobOptions::default()
        };
        assert!(format!("{opts:?}").contains("job-1"));
    });
}
