//! Throughput of the linkage service over real HTTPS on 127.0.0.1, in-process.
//!
//! `cargo bench -p linkage-service --bench ls_throughput`
//!
//! Measures wall-clock time of: `/freshIDs` for 10 000 and 100 000 IDs, and
//! full linkage jobs (both posts, pairing, opening the server's LIDs,
//! re-sealing, store commit) for 1×10 000 and 1 000×10 000 (query records ×
//! server database). Each figure is the median of a few runs.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Harness, client_body, new_tag, server_body, share};
use linkage_service::service::ServiceConfig;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn time_fresh_ids(h: &Harness, count: usize, runs: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let ids = h.fresh_ids(&h.a, count).await;
        times.push(t.elapsed());
        assert_eq!(ids.len(), count);
    }
    median(times)
}

async fn time_job(h: &Harness, server_ids: &[String], queries: usize, runs: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..runs {
        let clear: Vec<_> = (0..queries)
            .map(|i| {
                let idx = (i * 7919) % server_ids.len();
                (i % 3 == 0, i % 3 != 2, idx as u64)
            })
            .collect();
        let (server_shares, client_shares) = share(&clear);
        let tag = new_tag();
        let server = server_body(&tag, &server_shares, server_ids).to_string();
        let client = client_body(&tag, &client_shares, server_ids.len()).to_string();
        let (b_auth, a_auth) = (h.b.auth(), h.a.auth());
        let t = Instant::now();
        let (s, c) = tokio::join!(
            h.post("/linkageResult/B/A", Some(&b_auth), server),
            h.post("/linkageResult/A/B", Some(&a_auth), client),
        );
        let (s, c) = (s.status(), c.text().await.unwrap());
        times.push(t.elapsed());
        assert_eq!(s, 200);
        let reply: serde_json::Value = serde_json::from_str(&c).unwrap();
        assert_eq!(reply["result"].as_array().unwrap().len(), queries);
    }
    median(times)
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let h = Harness::start(ServiceConfig::default()).await;
        let fresh_10k = time_fresh_ids(&h, 10_000, 5).await;
        println!("freshIDs count=10000:            {fresh_10k:?} (median of 5)");
        let fresh_100k = time_fresh_ids(&h, 100_000, 3).await;
        println!("freshIDs count=100000:           {fresh_100k:?} (median of 3)");
        let server_ids = h.fresh_ids(&h.b, 10_000).await;
        let job_1 = time_job(&h, &server_ids, 1, 5).await;
        println!("linkage job 1 x 10000:           {job_1:?} (median of 5)");
        let job_1000 = time_job(&h, &server_ids, 1000, 3).await;
        println!("linkage job 1000 x 10000:        {job_1000:?} (median of 3)");
    });
}
