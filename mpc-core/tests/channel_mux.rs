//! Multiplexer tests: concurrent sessions, out-of-order opening, session
//! isolation, vanishing peers and garbage from the peer.

use std::time::Duration;

use mpc_core::channel::{Bytes, Channel, ChannelError, ChannelExt, Mux, tcp_pair};
use tokio::io::AsyncWriteExt;

const NO_HANG: Duration = Duration::from_secs(10);

async fn mux_pair() -> (Mux, Mux) {
    let (a, b) = tcp_pair().await.unwrap();
    (Mux::new(a), Mux::new(b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_stay_separate() {
    let (ma, mb) = mux_pair().await;
    let mut tasks = Vec::new();
    for id in 0..8u64 {
        let (ma, mb) = (ma.clone(), mb.clone());
        tasks.push(tokio::spawn(async move {
            let mut a = ma.open(id).unwrap();
            let mut b = mb.open(id).unwrap();
            for round in 0..50u64 {
                a.send_u64s(&[id, round]).await.unwrap();
                assert_eq!(b.recv_u64s(2).await.unwrap(), vec![id, round]);
                b.send_u64s(&[round, id]).await.unwrap();
                assert_eq!(a.recv_u64s(2).await.unwrap(), vec![round, id]);
            }
            (a.stats(), b.stats())
        }));
    }
    for t in tasks {
        let (sa, sb) = tokio::time::timeout(NO_HANG, t).await.unwrap().unwrap();
        assert_eq!(sa.messages_sent, 50);
        assert_eq!(sa.bytes_sent, 50 * 16);
        assert_eq!(sa.rounds, 50);
        assert_eq!(sb.messages_received, 50);
    }
    let w = ma.wire_stats();
    // 8 sessions x 50 messages of 16 bytes, each with 4 + 9 bytes framing.
    assert!(w.bytes_written >= 8 * 50 * (16 + 13));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_opened_in_different_orders_get_their_buffered_messages() {
    let (ma, mb) = mux_pair().await;
    let mut a_sessions = Vec::new();
    for id in [10u64, 11, 12] {
        let mut s = ma.open(id).unwrap();
        s.send(Bytes::from(format!("first for {id}")))
            .await
            .unwrap();
        s.send(Bytes::from(format!("second for {id}")))
            .await
            .unwrap();
        a_sessions.push(s);
    }
    // Give the frames time to arrive before B opens anything.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for id in [12u64, 10, 11] {
        let mut s = mb.open(id).unwrap();
        assert_eq!(
            s.recv().await.unwrap(),
            Bytes::from(format!("first for {id}"))
        );
        assert_eq!(
            s.recv().await.unwrap(),
            Bytes::from(format!("second for {id}"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_one_session_leaves_others_working() {
    let (ma, mb) = mux_pair().await;
    let a1 = ma.open(1).unwrap();
    let mut a2 = ma.open(2).unwrap();
    let mut b1 = mb.open(1).unwrap();
    let mut b2 = mb.open(2).unwrap();
    drop(a1);
    let r = tokio::time::timeout(NO_HANG, b1.recv()).await.unwrap();
    assert!(matches!(r, Err(ChannelError::Closed)), "{r:?}");
    // Later receives keep failing the same way.
    assert!(matches!(b1.recv().await, Err(ChannelError::Closed)));
    a2.send(Bytes::from_static(b"still here")).await.unwrap();
    assert_eq!(&b2.recv().await.unwrap()[..], b"still here");
    b2.send(Bytes::from_static(b"and back")).await.unwrap();
    assert_eq!(&a2.recv().await.unwrap()[..], b"and back");
    // Ids are single use.
    assert!(matches!(ma.open(1), Err(ChannelError::SessionInUse(1))));
    assert!(matches!(ma.open(2), Err(ChannelError::SessionInUse(2))));
    // A session the peer closed before we opened it: messages, then Closed.
    let mut a3 = ma.open(3).unwrap();
    a3.send(Bytes::from_static(b"bye")).await.unwrap();
    drop(a3);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut b3 = mb.open(3).unwrap();
    assert_eq!(&b3.recv().await.unwrap()[..], b"bye");
    assert!(matches!(b3.recv().await, Err(ChannelError::Closed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_peer_fails_every_session_without_hanging() {
    let (ma, mb) = mux_pair().await;
    let mut a1 = ma.open(1).unwrap();
    let mut a2 = ma.open(2).unwrap();
    let b1 = mb.open(1).unwrap();
    // The peer goes away entirely (all handles and sessions dropped).
    drop(b1);
    drop(mb);
    for s in [&mut a1, &mut a2] {
        let r = tokio::time::timeout(NO_HANG, s.recv())
            .await
            .expect("recv must not hang");
        assert!(
            matches!(
                r,
                Err(ChannelError::Closed) | Err(ChannelError::Disconnected(_))
            ),
            "{r:?}"
        );
    }
    // Session 2 was never opened by the peer: it learns the connection died.
    match a2.recv().await {
        Err(ChannelError::Disconnected(reason)) => assert!(reason.contains("closed"), "{reason}"),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // New sessions are refused with the reason.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(matches!(ma.open(9), Err(ChannelError::Disconnected(_))));
    assert!(ma.disconnected().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_killed_mid_session_fails_recv() {
    // The raw stream is dropped abruptly while a session waits.
    let (raw, theirs) = tcp_pair().await.unwrap();
    let mux = Mux::new(theirs);
    let mut s = mux.open(5).unwrap();
    let waiter = tokio::spawn(async move { s.recv().await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    drop(raw);
    let r = tokio::time::timeout(NO_HANG, waiter)
        .await
        .expect("no hang")
        .unwrap();
    assert!(matches!(r, Err(ChannelError::Disconnected(_))), "{r:?}");
}

async fn garbage_case(bytes: &[u8], expect_in_reason: &str) {
    let (mut raw, theirs) = tokio::io::duplex(1 << 16);
    let mux = Mux::new(theirs);
    let mut s = mux.open(1).unwrap();
    raw.write_all(bytes).await.unwrap();
    match tokio::time::timeout(NO_HANG, s.recv())
        .await
        .expect("no hang")
    {
        Err(ChannelError::Disconnected(reason)) => {
            assert!(
                reason.contains(expect_in_reason),
                "reason {reason:?} lacks {expect_in_reason:?}"
            )
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

#[tokio::test]
async fn garbage_frames_are_errors_not_panics() {
    // Frame shorter than the 9-byte session header.
    garbage_case(&[3, 0, 0, 0, 1, 2, 3], "shorter than its header").await;
    // Unknown frame kind 7 for session 1.
    let mut f = vec![9, 0, 0, 0];
    f.extend_from_slice(&1u64.to_le_bytes());
    f.push(7);
    garbage_case(&f, "unknown kind 7").await;
    // Close frame with a payload.
    let mut f = vec![10, 0, 0, 0];
    f.extend_from_slice(&1u64.to_le_bytes());
    f.extend_from_slice(&[1, 0xaa]);
    garbage_case(&f, "close frame").await;
    // Absurd length.
    garbage_case(&[0xff, 0xff, 0xff, 0x7f], "limit").await;
}

#[tokio::test]
async fn data_for_a_valid_session_after_garbage_is_not_delivered() {
    // A well-formed data frame is delivered; the connection then dies on
    // garbage and the session reports it after the good message.
    let (mut raw, theirs) = tokio::io::duplex(1 << 16);
    let mux = Mux::new(theirs);
    let mut s = mux.open(4).unwrap();
    let mut good = vec![11, 0, 0, 0];
    good.extend_from_slice(&4u64.to_le_bytes());
    good.push(0);
    good.extend_from_slice(b"ok");
    raw.write_all(&good).await.unwrap();
    raw.write_all(&[1, 0, 0, 0, 0]).await.unwrap();
    assert_eq!(&s.recv().await.unwrap()[..], b"ok");
    assert!(matches!(s.recv().await, Err(ChannelError::Disconnected(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unopened_session_buffer_is_bounded() {
    use mpc_core::channel::PENDING_LIMIT_PER_SESSION;
    let (mut raw, theirs) = tokio::io::duplex(1 << 20);
    let mux = Mux::new(theirs);
    let frame = |session: u64, payload: &[u8]| {
        let mut f = ((9 + payload.len()) as u32).to_le_bytes().to_vec();
        f.extend_from_slice(&session.to_le_bytes());
        f.push(0);
        f.extend_from_slice(payload);
        f
    };
    // Session 9 gets one byte more than the bound before anyone opens it;
    // session 10 gets a small message that must survive.
    let big = vec![0u8; PENDING_LIMIT_PER_SESSION / 2 + 1];
    raw.write_all(&frame(9, &big)).await.unwrap();
    raw.write_all(&frame(9, &big)).await.unwrap();
    raw.write_all(&frame(10, b"fine")).await.unwrap();
    // Session 10's frame follows session 9's on the wire, so once it has
    // arrived both frames for 9 have been routed into the pending buffer.
    let mut s10 = mux.open(10).unwrap();
    let got = tokio::time::timeout(NO_HANG, s10.recv()).await.unwrap();
    assert_eq!(&got.unwrap()[..], b"fine");
    let mut s9 = mux.open(9).unwrap();
    match tokio::time::timeout(NO_HANG, s9.recv()).await.unwrap() {
        Err(ChannelError::BufferOverflow { session: 9, limit }) => {
            assert_eq!(limit, PENDING_LIMIT_PER_SESSION)
        }
        other => panic!("expected BufferOverflow, got {other:?}"),
    }
}
