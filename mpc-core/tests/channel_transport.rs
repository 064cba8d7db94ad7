//! Transport tests: in-memory pair, stream channel over TCP and over an
//! in-process duplex pipe, typed helpers, counters and limits.

use std::time::Duration;

use mpc_core::block::Block;
use mpc_core::channel::{
    Bytes, Channel, ChannelError, ChannelExt, MAX_FRAME, RecordingChannel, StreamChannel,
    memory_pair, tcp_pair,
};

/// Ping-pong plus typed helpers, generic over the implementation.
async fn exercise<A: Channel, B: Channel>(a: &mut A, b: &mut B) {
    a.send(Bytes::from_static(b"hello")).await.unwrap();
    a.send(Bytes::new()).await.unwrap();
    assert_eq!(&b.recv().await.unwrap()[..], b"hello");
    assert!(b.recv().await.unwrap().is_empty());

    let blocks: Vec<Block> = (0..100u128).map(|i| Block(i << 64 | i)).collect();
    b.send_blocks(&blocks).await.unwrap();
    assert_eq!(a.recv_blocks(100).await.unwrap(), blocks);

    let words = vec![1u64, u64::MAX, 42];
    a.send_u64s(&words).await.unwrap();
    assert_eq!(b.recv_u64s(3).await.unwrap(), words);

    b.send_bits(&[0b1011, u64::MAX], 70).await.unwrap();
    let bits = a.recv_bits(70).await.unwrap();
    assert_eq!(bits, vec![0b1011, 0b11_1111]);

    // Wrong expected length: a precise error, not a panic.
    a.send_u64s(&words).await.unwrap();
    match b.recv_u64s(4).await {
        Err(ChannelError::UnexpectedLength {
            expected: 32,
            actual: 24,
            ..
        }) => {}
        other => panic!("expected UnexpectedLength, got {other:?}"),
    }

    let sa = a.stats();
    let sb = b.stats();
    assert_eq!(sa.bytes_sent, sb.bytes_received);
    assert_eq!(sb.bytes_sent, sa.bytes_received);
    assert_eq!(sa.messages_sent, 4);
    assert_eq!(sa.bytes_sent, 5 + 24 + 24);
    // a: send,send | recv.. send | recv.. send  => 3 flights; b: 2 flights.
    assert_eq!(sa.rounds, 3);
    assert_eq!(sb.rounds, 2);
}

#[tokio::test]
async fn memory_pair_delivers_in_order_and_counts() {
    let (mut a, mut b) = memory_pair();
    exercise(&mut a, &mut b).await;
    drop(a);
    assert!(matches!(b.recv().await, Err(ChannelError::Closed)));
    assert!(matches!(
        b.send(Bytes::from_static(b"x")).await,
        Err(ChannelError::Closed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_channel_over_tcp() {
    let (sa, sb) = tcp_pair().await.unwrap();
    assert!(sa.nodelay().unwrap() && sb.nodelay().unwrap());
    let mut a = StreamChannel::new(sa);
    let mut b = StreamChannel::new(sb);
    exercise(&mut a, &mut b).await;
    let (written, _) = a.wire_bytes();
    // Payload plus a 4-byte length prefix per frame.
    assert_eq!(written, a.stats().bytes_sent + 4 * a.stats().messages_sent);
    drop(a);
    let r = tokio::time::timeout(Duration::from_secs(5), b.recv())
        .await
        .expect("recv must not hang");
    assert!(matches!(r, Err(ChannelError::Closed)), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_sending_large_messages_do_not_deadlock() {
    // Each side sends 3 x 8 MiB before receiving anything: more than any
    // socket buffer, so a synchronous write would block both forever.
    let (sa, sb) = tcp_pair().await.unwrap();
    let mut a = StreamChannel::new(sa);
    let mut b = StreamChannel::new(sb);
    let big = Bytes::from(vec![7u8; 8 << 20]);
    let (ra, rb) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(
            async {
                for _ in 0..3 {
                    a.send(big.clone()).await?;
                }
                let mut total = 0;
                for _ in 0..3 {
                    total += a.recv().await?.len();
                }
                Ok::<_, ChannelError>(total)
            },
            async {
                for _ in 0..3 {
                    b.send(big.clone()).await?;
                }
                let mut total = 0;
                for _ in 0..3 {
                    total += b.recv().await?.len();
                }
                Ok::<_, ChannelError>(total)
            }
        )
    })
    .await
    .expect("no deadlock");
    assert_eq!(ra.unwrap(), 24 << 20);
    assert_eq!(rb.unwrap(), 24 << 20);
}

#[tokio::test]
async fn stream_channel_over_duplex_rejects_oversized_and_garbage() {
    // Oversized outgoing message: refused locally.
    let (mut a, _b) = memory_pair();
    let huge = Bytes::from(vec![0u8; MAX_FRAME + 1]);
    assert!(matches!(
        a.send(huge).await,
        Err(ChannelError::FrameTooLarge { .. })
    ));

    // A peer announcing a 4 GiB frame: the connection fails with a reason.
    let (raw, theirs) = tokio::io::duplex(1024);
    let mut ch = StreamChannel::new(theirs);
    let mut raw = raw;
    tokio::io::AsyncWriteExt::write_all(&mut raw, &[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), ch.recv())
        .await
        .unwrap()
    {
        Err(ChannelError::Disconnected(reason)) => assert!(reason.contains("limit"), "{reason}"),
        other => panic!("expected Disconnected, got {other:?}"),
    }

    // A frame cut off by the peer closing: Disconnected, not Closed.
    let (raw, theirs) = tokio::io::duplex(1024);
    let mut ch = StreamChannel::new(theirs);
    let mut raw = raw;
    tokio::io::AsyncWriteExt::write_all(&mut raw, &[10, 0, 0, 0, 1, 2])
        .await
        .unwrap();
    drop(raw);
    match tokio::time::timeout(Duration::from_secs(5), ch.recv())
        .await
        .unwrap()
    {
        Err(ChannelError::Disconnected(reason)) => assert!(reason.contains("inside"), "{reason}"),
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

#[tokio::test]
async fn recv_timeout_reports_timeout_and_loses_nothing() {
    let (mut a, mut b) = memory_pair();
    match b.recv_timeout(Duration::from_millis(20)).await {
        Err(ChannelError::Timeout(d)) => assert_eq!(d, Duration::from_millis(20)),
        other => panic!("expected Timeout, got {other:?}"),
    }
    a.send(Bytes::from_static(b"late")).await.unwrap();
    assert_eq!(
        &b.recv_timeout(Duration::from_secs(1)).await.unwrap()[..],
        b"late"
    );
}

#[tokio::test]
async fn recording_channel_keeps_the_transcript() {
    let (a, mut b) = memory_pair();
    let mut a = RecordingChannel::new(a);
    a.send(Bytes::from_static(b"ab")).await.unwrap();
    a.send(Bytes::from_static(b"cd")).await.unwrap();
    b.send(Bytes::from_static(b"reply")).await.unwrap();
    assert_eq!(&a.recv().await.unwrap()[..], b"reply");
    assert_eq!(a.sent_bytes(), b"abcd");
    assert_eq!(a.sent().len(), 2);
    assert_eq!(&a.received()[0][..], b"reply");
    assert_eq!(a.stats().bytes_sent, 4);
}
