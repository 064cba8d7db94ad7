//! The node-facing job API over one multiplexed connection: one `PeerOt`
//! per connection, many jobs in both directions at once, each equal to the
//! plaintext reference; a job cancelled mid-chunk and a job whose peer drops
//! its session end alone (with the right error, without hanging) while the
//! others finish; an oversized announced count is refused in the handshake;
//! job tags are equal on both sides and differ between jobs.

mod epilink_support;

use std::sync::Arc;

use epilink_support::*;
use mpc_core::Party;
use mpc_core::channel::{Bytes, Channel, ChannelError, ChannelStats, Mux, MuxSession};
use mpc_core::epilink::handshake::{Hello, context_digest, fresh_nonce};
use mpc_core::epilink::{
    Carries, HandshakeError, JobOptions, JobOutput, JobResult, Mode, PeerOt, ProtocolError,
    ResultShare, fingerprint, run_job,
};
use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::epilink::{LinkResult, link_records, match_records};
use tokio_util::sync::CancellationToken;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Two nodes' ends of one connection and their OT state.
struct Connection {
    dialer: Mux,
    acceptor: Mux,
    dialer_ot: Arc<PeerOt>,
    acceptor_ot: Arc<PeerOt>,
}

/// Session 0 of the connection carries the base OTs.
async fn connect() -> Connection {
    let (x, y) = tokio::io::duplex(1 << 16);
    let (dialer, acceptor) = (Mux::new(x), Mux::new(y));
    let (sa, sb) = (
        dialer.open(0).expect("open"),
        acceptor.open(0).expect("open"),
    );
    let (a, b) = tokio::join!(
        PeerOt::establish(sa, Party::Client, b"connection-1"),
        PeerOt::establish(sb, Party::Server, b"connection-1"),
    );
    Connection {
        dialer,
        acceptor,
        dialer_ot: a.expect("dialer OT"),
        acceptor_ot: b.expect("acceptor OT"),
    }
}

fn population(config: &LinkageConfig, seed: u64, n: usize) -> Vec<Record> {
    let s = Scenario {
        pools: pools_for(config, seed),
        config: config.clone(),
    };
    (0..n)
        .map(|i| {
            let choices: Vec<u8> = (0..8).map(|f| ((i * 7 + f * 3) % 11) as u8).collect();
            record_from_choices(&s, &choices)
        })
        .collect()
}

/// One job as both nodes see it.
struct Job {
    id: u64,
    mode: Mode,
    /// Which node holds the queries (runs as client).
    dialer_queries: bool,
    queries: Vec<Record>,
    database: Vec<Record>,
    lanes: usize,
}

fn opts(job: &Job, lanes: usize) -> JobOptions {
    JobOptions {
        job_id: format!("job-{}", job.id),
        max_peer_records: 1000,
        lanes_per_chunk: lanes,
        carries: Carries::default(),
        ..JobOptions::default()
    }
}

type Outcome = (
    Result<JobResult, ProtocolError>,
    Result<JobResult, ProtocolError>,
);

/// Runs `job` on both nodes; `wrap_*` lets a test interpose on a side's
/// session (the real session underneath).
async fn run_both(
    conn: &Connection,
    config: &LinkageConfig,
    job: Job,
    client_opts: JobOptions,
    server_opts: JobOptions,
    client_tap: Tap,
    server_tap: Tap,
) -> (Job, Outcome) {
    let (dialer_session, acceptor_session) = (
        conn.dialer.open(job.id).expect("open"),
        conn.acceptor.open(job.id).expect("open"),
    );
    let (client_ch, client_ot, server_ch, server_ot) = if job.dialer_queries {
        (
            dialer_session,
            conn.dialer_ot.clone(),
            acceptor_session,
            conn.acceptor_ot.clone(),
        )
    } else {
        (
            acceptor_session,
            conn.acceptor_ot.clone(),
            dialer_session,
            conn.dialer_ot.clone(),
        )
    };
    let (cfg_c, cfg_s) = (config.clone(), config.clone());
    let (q, d, mode) = (job.queries.clone(), job.database.clone(), job.mode);
    let client = tokio::spawn(async move {
        let ch = client_tap.on(client_ch);
        run_job(
            ch,
            &client_ot,
            Party::Client,
            mode,
            &cfg_c,
            &q,
            &client_opts,
        )
        .await
    });
    let server = tokio::spawn(async move {
        run_job(
            server_tap.on(server_ch),
            &server_ot,
            Party::Server,
            mode,
            &cfg_s,
            &d,
            &server_opts,
        )
        .await
    });
    let out = (
        client.await.expect("client task"),
        server.await.expect("server task"),
    );
    (job, out)
}

/// What a test does to one side's session: nothing, stop after `cut`
/// received messages as if the node had dropped the job (its run then
/// fails and drops the session), or fire a cancellation token after
/// `cancel.0` received messages (inside a chunk, at a known point).
#[derive(Default)]
struct Tap {
    cut: Option<usize>,
    cancel: Option<(usize, CancellationToken)>,
}

impl Tap {
    fn on(self, inner: MuxSession) -> Interposed {
        Interposed {
            inner,
            tap: self,
            seen: 0,
        }
    }
}

/// A real mux session with a [`Tap`].
struct Interposed {
    inner: MuxSession,
    tap: Tap,
    seen: usize,
}

impl Channel for Interposed {
    async fn send(&mut self, msg: Bytes) -> Result<(), ChannelError> {
        self.inner.send(msg).await
    }

    async fn recv(&mut self) -> Result<Bytes, ChannelError> {
        if self.tap.cut.is_some_and(|n| self.seen >= n) {
            return Err(ChannelError::Disconnected("test cut".into()));
        }
        self.seen += 1;
        let msg = self.inner.recv().await;
        if let Some((n, token)) = &self.tap.cancel
            && self.seen >= *n
        {
            token.cancel();
        }
        msg
    }

    fn stats(&self) -> ChannelStats {
        self.inner.stats()
    }
}

fn combine(c: &[ResultShare], s: &[ResultShare]) -> Vec<LinkResult> {
    assert_eq!(c.len(), s.len());
    c.iter().zip(s).map(|(a, b)| a.combine(b)).collect()
}

fn check_against_reference(config: &LinkageConfig, job: &Job, out: &Outcome) -> [u8; 32] {
    let (c, s) = (
        out.0.as_ref().expect("client result"),
        out.1.as_ref().expect("server result"),
    );
    assert_eq!(c.job_tag, s.job_tag, "job {}: tags differ", job.id);
    assert_eq!(c.job_tag_hex(), s.job_tag_hex());
    assert_eq!(c.job_tag_hex().len(), 64);
    assert_eq!(
        c.comparisons,
        (job.queries.len() * job.database.len()) as u64
    );
    match (job.mode, &c.output, &s.output) {
        (Mode::Linkage, JobOutput::Shares(cs), JobOutput::Shares(ss)) => {
            let want = link_records(config, &job.queries, &job.database).expect("reference");
            assert_eq!(combine(cs, ss), want, "job {}", job.id);
        }
        (Mode::Matching, JobOutput::Counts(counts), JobOutput::Nothing) => {
            let want = match_records(config, &job.queries, &job.database).expect("reference");
            assert_eq!(*counts, want, "job {}", job.id);
        }
        other => panic!("job {}: unexpected outputs {other:?}", job.id),
    }
    c.job_tag
}

#[test]
fn many_jobs_share_one_connection_and_end_alone() {
    let rt = runtime();
    rt.block_on(async {
        let config = default_config();
        let conn = connect().await;
        let db_a = population(&config, 11, 9);
        let db_b = population(&config, 23, 7);
        // Queries: some equal to database rows of the other side, some not.
        let q_from = |db: &[Record], extra: &[Record]| {
            let mut q = vec![db[2].clone(), db[5].clone()];
            q.extend_from_slice(extra);
            q
        };
        let mut jobs = Vec::new();
        for (i, (mode, dialer_queries, lanes)) in [
            (Mode::Linkage, true, 1 << 14),
            (Mode::Linkage, false, 1 << 14),
            (Mode::Matching, true, 1 << 14),
            (Mode::Matching, false, 4),
            (Mode::Linkage, true, 3),
            (Mode::Linkage, false, 5),
        ]
        .into_iter()
        .enumerate()
        {
            let (queries, database) = if dialer_queries {
                (q_from(&db_b, &db_a[..1]), db_b.clone())
            } else {
                (q_from(&db_a, &db_b[..1]), db_a.clone())
            };
            jobs.push(Job {
                id: 10 + i as u64,
                mode,
                dialer_queries,
                queries,
                database,
                lanes,
            });
        }
        let conn = Arc::new(conn);
        let mut tasks = Vec::new();
        for job in jobs {
            let (conn, config) = (conn.clone(), config.clone());
            tasks.push(tokio::spawn(async move {
                let o = opts(&job, job.lanes);
                run_both(
                    &conn,
                    &config,
                    job,
                    o.clone(),
                    o,
                    Tap::default(),
                    Tap::default(),
                )
                .await
            }));
        }
        // Cancelled mid-chunk: the server's token fires after its 6th
        // received message of the job (inside the first and only chunk).
        let cancelled = {
            let (conn, config) = (conn.clone(), config.clone());
            let job = Job {
                id: 90,
                mode: Mode::Linkage,
                dialer_queries: true,
                queries: db_a[..2].to_vec(),
                database: db_b.clone(),
                lanes: 1 << 14,
            };
            tokio::spawn(async move {
                let client_opts = opts(&job, job.lanes);
                let token = CancellationToken::new();
                let server_opts = JobOptions {
                    cancel: token.clone(),
                    ..opts(&job, job.lanes)
                };
                let tap = Tap {
                    cancel: Some((6, token)),
                    ..Tap::default()
                };
                run_both(
                    &conn,
                    &config,
                    job,
                    client_opts,
                    server_opts,
                    Tap::default(),
                    tap,
                )
                .await
            })
        };
        // The client's session stops after 4 messages as if its node
        // dropped the job; the server must fail, not hang.
        let dropped = {
            let (conn, config) = (conn.clone(), config.clone());
            let job = Job {
                id: 91,
                mode: Mode::Linkage,
                dialer_queries: false,
                queries: db_b[..2].to_vec(),
                database: db_a.clone(),
                lanes: 4,
            };
            tokio::spawn(async move {
                let o = opts(&job, job.lanes);
                let cut = Tap {
                    cut: Some(4),
                    ..Tap::default()
                };
                run_both(&conn, &config, job, o.clone(), o, cut, Tap::default()).await
            })
        };
        let mut tags = Vec::new();
        for t in tasks {
            let (job, out) = t.await.expect("job task");
            tags.push(check_against_reference(&config, &job, &out));
        }
        let (_, (c, s)) = cancelled.await.expect("cancelled task");
        assert!(matches!(c, Err(ProtocolError::PeerCancelled)), "{c:?}");
        assert!(matches!(s, Err(ProtocolError::Cancelled)), "{s:?}");
        let (_, (c, s)) = dropped.await.expect("dropped task");
        assert!(matches!(c, Err(ProtocolError::Transport(_))), "{c:?}");
        assert!(matches!(s, Err(ProtocolError::ChannelClosed)), "{s:?}");
        // Every job has its own tag.
        let mut unique = tags.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), tags.len());
        // The connection is still usable: one more job after all that.
        let job = Job {
            id: 99,
            mode: Mode::Linkage,
            dialer_queries: true,
            queries: db_b[..1].to_vec(),
            database: db_b.clone(),
            lanes: 1 << 14,
        };
        let o = opts(&job, job.lanes);
        let (job, out) = run_both(
            &conn,
            &config,
            job,
            o.clone(),
            o,
            Tap::default(),
            Tap::default(),
        )
        .await;
        check_against_reference(&config, &job, &out);
    });
}

#[test]
fn the_same_job_id_twice_gets_two_tags() {
    let rt = runtime();
    rt.block_on(async {
        let config = default_config();
        let conn = connect().await;
        let db = population(&config, 5, 4);
        let mut tags = Vec::new();
        for id in [1, 2] {
            let job = Job {
                id,
                mode: Mode::Linkage,
                dialer_queries: true,
                queries: db[..1].to_vec(),
                database: db.clone(),
                lanes: 1 << 14,
            };
            // Both runs use the job id "job-same".
            let o = JobOptions {
                job_id: "job-same".into(),
                ..opts(&job, job.lanes)
            };
            let (job, out) = run_both(
                &conn,
                &config,
                job,
                o.clone(),
                o,
                Tap::default(),
                Tap::default(),
            )
            .await;
            tags.push(check_against_reference(&config, &job, &out));
        }
        assert_ne!(tags[0], tags[1]);
    });
}

/// A peer announcing more records than the maximum is refused in the
/// handshake: nothing is allocated for it and no OT or chunk message
/// follows (the next thing the peer sees is the session closing).
#[test]
fn an_oversized_announced_count_is_refused_before_anything() {
    let rt = runtime();
    rt.block_on(async {
        let config = default_config();
        let conn = connect().await;
        let db = population(&config, 3, 3);
        let mut peer = conn.dialer.open(7).expect("open");
        let mine = conn.acceptor.open(7).expect("open");
        let opts = JobOptions {
            job_id: "job-7".into(),
            max_peer_records: 1000,
            ..JobOptions::default()
        };
        let ot = conn.acceptor_ot.clone();
        let cfg = config.clone();
        let server = tokio::spawn(async move {
            run_job(mine, &ot, Party::Server, Mode::Linkage, &cfg, &db, &opts).await
        });
        let hello = Hello {
            role: Party::Client,
            mode: Mode::Linkage,
            carries: Carries::default(),
            ot_k: 4,
            record_arity: 2,
            ot_backend: mpc_core::epilink::OtBackend::SoftSpoken,
            records: 1 << 40,
            lanes_per_chunk: 1 << 14,
            fingerprint: fingerprint(&config),
            context: context_digest(b"job-7"),
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
                    max: 1000
                }))
            ),
            "{got:?}"
        );
        // The server's own hello, then the end of the session.
        let first = peer.recv().await.expect("the server's hello");
        assert_eq!(first.len(), 1 + 128);
        assert!(matches!(peer.recv().await, Err(ChannelError::Closed)));
    });
}
