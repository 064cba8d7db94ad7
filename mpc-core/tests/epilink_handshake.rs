//! The handshake of the standalone API (`run_client`/`run_server`) against
//! a hand-made peer: an absurd announced count is refused before OT setup
//! (issue 9 item 1), and two identical runs never share a handshake, hence
//! never an OT session context (issue 9 item 6).

mod epilink_support;

use epilink_support::*;
use mpc_core::Party;
use mpc_core::channel::{Bytes, Channel, ChannelError, RecordingChannel, memory_pair};
use mpc_core::epilink::handshake::{Hello, context_digest, fresh_nonce};
use mpc_core::epilink::{
    Carries, HandshakeError, Mode, Options, ProtocolError, fingerprint, run_client, run_server,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn a_client_announcing_2_pow_40_records_is_refused_before_ot_setup() {
    let rt = runtime();
    rt.block_on(async {
        let config = default_config();
        let db = vec![empty_record(&config); 3];
        let (mine, mut peer) = memory_pair();
        let cfg = config.clone();
        let server =
            tokio::spawn(async move { run_server(mine, &cfg, &db, &Options::default()).await });
        let hello = Hello {
            role: Party::Client,
            mode: Mode::Linkage,
            carries: Carries::default(),
            ot_k: 4,
            record_arity: 2,
            ot_backend: mpc_core::epilink::OtBackend::SoftSpoken,
            records: 1 << 40,
            lanes_per_chunk: Options::default().lanes_per_chunk as u64,
            fingerprint: fingerprint(&config),
            context: context_digest(&Options::default().context),
            nonce: fresh_nonce(),
        };
        let mut msg = vec![0u8];
        msg.extend_from_slice(&hello.encode());
        peer.send(Bytes::from(msg)).await.expect("send");
        let got = server.await.expect("server task");
        assert!(
            matches!(
                got,
                Err(ProtocolError::Mismatch(HandshakeError::TooManyRecords {
                    announced: 1099511627776,
                    ..
                }))
            ),
            "{got:?}"
        );
        // The server's hello, then nothing: no base-OT message was sent.
        assert_eq!(peer.recv().await.expect("hello").len(), 1 + 128);
        assert!(matches!(
            peer.recv().await,
            Err(ChannelError::Closed | ChannelError::Disconnected(_))
        ));
    });
}

#[test]
fn identical_runs_have_different_handshakes_and_still_agree() {
    let rt = runtime();
    rt.block_on(async {
        let config = default_config();
        let s = Scenario {
            pools: pools_for(&config, 4),
            config: config.clone(),
        };
        let db: Vec<_> = (0u8..4).map(|x| record_from_choices(&s, &[x; 8])).collect();
        let q = vec![db[1].clone()];
        let mut hellos = Vec::new();
        for _ in 0..2 {
            let (a, b) = memory_pair();
            let (cfg, d) = (config.clone(), db.clone());
            let server =
                tokio::spawn(async move { run_server(b, &cfg, &d, &Options::default()).await });
            let mut rec = RecordingChannel::new(a);
            let c = run_client(&mut rec, &config, &q, &Options::default())
                .await
                .expect("client");
            let s = server.await.expect("server task").expect("server");
            assert!(c[0].combine(&s[0]).is_match);
            hellos.push(rec.sent()[0].clone());
        }
        // Same options, same context, same records: only the nonces differ.
        assert_eq!(hellos[0].len(), hellos[1].len());
        assert_ne!(hellos[0], hellos[1]);
        assert_eq!(hellos[0][..1 + 96], hellos[1][..1 + 96]);
    });
}
