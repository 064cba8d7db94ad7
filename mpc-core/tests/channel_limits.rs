//! Resource bounds of the peer channel against a hostile or broken peer
//! (issue 9, items 2–4): receive queues are bounded in bytes with
//! back-pressure, the mux's buffer for unopened sessions counts frames and
//! their overhead, and an announced frame length is never allocated before
//! the body arrives.
//!
//! The peer is played by raw bytes written into one end of a
//! `tokio::io::duplex`, so each test controls exactly what crosses the wire.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mpc_core::channel::{Channel, ChannelError, ChannelLimits, Mux, RECV_BUDGET, StreamChannel};
use tokio::io::AsyncWriteExt;

const NO_HANG: Duration = Duration::from_secs(20);
/// How long a test waits before concluding that a blocked write stays
/// blocked. Only the "still blocked" direction depends on it: a correct
/// implementation never unblocks, so a slow machine cannot make it fail.
const SETTLE: Duration = Duration::from_millis(500);

/// Counts the bytes currently allocated by this test binary, so a test can
/// show that an announced length was not allocated up front.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn mux_frame(session: u64, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = ((9 + payload.len()) as u32).to_le_bytes().to_vec();
    f.extend_from_slice(&session.to_le_bytes());
    f.push(kind);
    f.extend_from_slice(payload);
    f
}

fn stream_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_le_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

// ---- item 4: an announced length is not allocated before the body ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_frame_length_is_not_allocated_up_front() {
    const ANNOUNCED: usize = 200 << 20;
    let (mut raw, theirs) = tokio::io::duplex(1024);
    let _ch = StreamChannel::new(theirs);
    let before = LIVE.load(Ordering::Relaxed);
    // Header of a 200 MiB frame, then 256 KiB of its body. With a 1 KiB
    // duplex, write_all returns only once the reader has consumed all but
    // the last KiB, so the reader is inside the body when we look.
    raw.write_all(&(ANNOUNCED as u32).to_le_bytes())
        .await
        .unwrap();
    raw.write_all(&vec![0u8; 256 << 10]).await.unwrap();
    let grown = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    assert!(
        grown < 16 << 20,
        "{grown} bytes allocated for a frame of which 256 KiB arrived"
    );
}

// ---- item 3: frames to unopened sessions count overhead and are capped ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_empty_frames_to_an_unopened_session_overflow_it() {
    let (mut raw, theirs) = tokio::io::duplex(1 << 20);
    let mux = Mux::new(theirs);
    let empty = mux_frame(9, 0, b"");
    let mut flood = Vec::with_capacity(empty.len() * 100_000);
    for _ in 0..100_000 {
        flood.extend_from_slice(&empty);
    }
    raw.write_all(&flood).await.unwrap();
    raw.write_all(&mux_frame(10, 0, b"fine")).await.unwrap();
    // Session 10's frame follows the flood, so once it is here the flood has
    // been routed.
    let mut s10 = mux.open(10).unwrap();
    let got = tokio::time::timeout(NO_HANG, s10.recv()).await.unwrap();
    assert_eq!(&got.unwrap()[..], b"fine");
    let mut s9 = mux.open(9).unwrap();
    // Whatever was buffered before the cap is delivered; then the overflow.
    let mut delivered = 0usize;
    loop {
        match tokio::time::timeout(NO_HANG, s9.recv()).await.unwrap() {
            Ok(msg) => {
                assert!(msg.is_empty());
                delivered += 1;
            }
            Err(ChannelError::BufferOverflow { session: 9, .. }) => break,
            Err(other) => panic!("expected BufferOverflow, got {other:?}"),
        }
    }
    assert!(delivered < 100_000, "all {delivered} empty frames buffered");
}

// ---- item 2: receive queues are bounded, with back-pressure ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_channel_stops_reading_while_its_queue_is_full() {
    let (mut raw, theirs) = tokio::io::duplex(64 << 10);
    let mut ch = StreamChannel::new(theirs);
    let one_mib = stream_frame(&vec![1u8; 1 << 20]);
    let frames = RECV_BUDGET / (1 << 20) + 16;
    let mut flood = Vec::with_capacity(one_mib.len() * frames);
    for _ in 0..frames {
        flood.extend_from_slice(&one_mib);
    }
    // Nobody receives: the reader must stop reading the socket once the
    // queue holds RECV_BUDGET bytes, so the peer's write cannot finish.
    let writer = tokio::spawn(async move {
        raw.write_all(&flood).await.unwrap();
        raw
    });
    tokio::time::sleep(SETTLE).await;
    assert!(!writer.is_finished(), "the peer wrote everything unread");
    let (_, read) = ch.wire_bytes();
    assert!(
        read as usize <= RECV_BUDGET + (2 << 20),
        "{read} bytes read with a budget of {RECV_BUDGET}"
    );
    // Receiving drains the queue and the rest flows; nothing is lost.
    for _ in 0..frames {
        let msg = tokio::time::timeout(NO_HANG, ch.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(msg.len(), 1 << 20);
    }
    let _raw = tokio::time::timeout(NO_HANG, writer)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mux_session_that_is_not_read_pushes_back_on_the_socket() {
    let (mut raw, theirs) = tokio::io::duplex(64 << 10);
    let mux = Mux::new(theirs);
    let mut s1 = mux.open(1).unwrap();
    let one_mib = mux_frame(1, 0, &vec![2u8; 1 << 20]);
    let frames = RECV_BUDGET / (1 << 20) + 16;
    let mut flood = Vec::with_capacity(one_mib.len() * frames);
    for _ in 0..frames {
        flood.extend_from_slice(&one_mib);
    }
    let writer = tokio::spawn(async move {
        raw.write_all(&flood).await.unwrap();
        raw
    });
    tokio::time::sleep(SETTLE).await;
    assert!(!writer.is_finished(), "the peer wrote everything unread");
    let read = mux.wire_stats().bytes_read as usize;
    assert!(
        read <= RECV_BUDGET + (2 << 20),
        "{read} bytes read with a budget of {RECV_BUDGET}"
    );
    for _ in 0..frames {
        let msg = tokio::time::timeout(NO_HANG, s1.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(msg.len(), 1 << 20);
    }
    let _raw = tokio::time::timeout(NO_HANG, writer)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_session_is_failed_and_the_others_go_on() {
    let limits = ChannelLimits {
        recv_budget: 1 << 20,
        stall_timeout: Duration::from_millis(200),
    };
    let (mut raw, theirs) = tokio::io::duplex(64 << 10);
    let mux = Mux::with_limits(theirs, limits);
    let mut slow = mux.open(1).unwrap();
    let mut other = mux.open(2).unwrap();
    // Session 1 gets 4 MiB nobody reads; session 2's message comes after it.
    let chunk = mux_frame(1, 0, &vec![3u8; 256 << 10]);
    let writer = tokio::spawn(async move {
        for _ in 0..16 {
            raw.write_all(&chunk).await.unwrap();
        }
        raw.write_all(&mux_frame(2, 0, b"not starved"))
            .await
            .unwrap();
        raw
    });
    // Session 2 gets its message once session 1 has been failed.
    let got = tokio::time::timeout(NO_HANG, other.recv()).await.unwrap();
    assert_eq!(&got.unwrap()[..], b"not starved");
    let _raw = tokio::time::timeout(NO_HANG, writer)
        .await
        .unwrap()
        .unwrap();
    // Session 1 delivers what fitted in its queue, then fails for good.
    let mut delivered = 0usize;
    let err = loop {
        match tokio::time::timeout(NO_HANG, slow.recv()).await.unwrap() {
            Ok(msg) => delivered += msg.len(),
            Err(e) => break e,
        }
    };
    assert!(delivered <= limits.recv_budget + (256 << 10));
    match err {
        ChannelError::ReceiveStalled { session, limit, .. } => {
            assert_eq!((session, limit), (1, 1 << 20))
        }
        other => panic!("expected ReceiveStalled, got {other:?}"),
    }
    assert!(matches!(
        slow.recv().await,
        Err(ChannelError::ReceiveStalled { .. })
    ));
    // The connection itself is fine.
    assert!(mux.disconnected().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_full_session_releases_the_reader_at_once() {
    let limits = ChannelLimits {
        recv_budget: 1 << 20,
        // Far beyond the test: only the drop can release the reader.
        stall_timeout: Duration::from_secs(3600),
    };
    let (mut raw, theirs) = tokio::io::duplex(64 << 10);
    let mux = Mux::with_limits(theirs, limits);
    let full = mux.open(1).unwrap();
    let mut other = mux.open(2).unwrap();
    let chunk = mux_frame(1, 0, &vec![4u8; 256 << 10]);
    let writer = tokio::spawn(async move {
        for _ in 0..16 {
            raw.write_all(&chunk).await.unwrap();
        }
        raw.write_all(&mux_frame(2, 0, b"after the drop"))
            .await
            .unwrap();
        raw
    });
    tokio::time::sleep(SETTLE).await;
    drop(full);
    let got = tokio::time::timeout(NO_HANG, other.recv()).await.unwrap();
    assert_eq!(&got.unwrap()[..], b"after the drop");
    let _raw = tokio::time::timeout(NO_HANG, writer)
        .await
        .unwrap()
        .unwrap();
}
