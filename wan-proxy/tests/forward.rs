//! The proxy on loopback: every byte arrives intact and in order in both
//! directions, with a delay and a rate set, and end of stream is passed on.
//! No timing is asserted (speed is what the benchmark measures).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wan_proxy::forward::{ForwardConfig, serve};
use wan_proxy::shape::Shape;

/// A deterministic, non-repeating-looking byte pattern (xorshift), so a
/// dropped, duplicated or reordered chunk changes the bytes seen.
fn pattern(len: usize, mut x: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn start_proxy(upstream: SocketAddr, queue_bytes: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shape = Shape {
        delay: Duration::from_millis(2),
        rate_bps: Some(2e9),
    };
    tokio::spawn(serve(
        listener,
        ForwardConfig {
            upstream,
            to_upstream: shape,
            to_downstream: shape,
            queue_bytes,
        },
    ));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_through_the_proxy_is_byte_exact_and_ordered() {
    // An echo server behind the proxy.
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let (s, _) = echo.accept().await.unwrap();
        let (mut r, mut w) = s.into_split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
    });
    // A small queue, so back-pressure is exercised too.
    let proxy = start_proxy(echo_addr, 100_000).await;

    let sent = pattern(3_000_000, 0x9E37_79B9_7F4A_7C15);
    let s = TcpStream::connect(proxy).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let to_send = sent.clone();
    let writer = tokio::spawn(async move {
        // Uneven writes: 1 byte up to ~64 KiB.
        let mut at = 0;
        let mut step = 1;
        while at < to_send.len() {
            let end = (at + step).min(to_send.len());
            w.write_all(&to_send[at..end]).await.unwrap();
            at = end;
            step = (step * 7 + 13) % 65_537 + 1;
        }
        w.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    writer.await.unwrap();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "bytes altered or reordered through the proxy");
}

#[tokio::test]
async fn upstream_data_and_its_end_of_stream_reach_the_client() {
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();
    let payload = pattern(500_000, 42);
    let to_send = payload.clone();
    tokio::spawn(async move {
        let (mut s, _) = server.accept().await.unwrap();
        s.write_all(&to_send).await.unwrap();
        s.shutdown().await.unwrap();
    });
    let proxy = start_proxy(server_addr, 1 << 20).await;
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert!(got == payload);
}
