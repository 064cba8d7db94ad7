//! The peer channel between two real hubs on 127.0.0.1 over verified TLS
//! (a local CA and a leaf for localhost/127.0.0.1): authentication, the
//! configuration test, jobs in both directions running the real EpiLink 2PC
//! (checked against the plaintext reference), refusals, cancellation, a
//! vanishing peer, re-dial, and garbage on the peer port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use mpc_core::Party;
use mpc_core::epilink::synth::{Population, SynthOptions};
use mpc_core::epilink::{JobOptions, JobOutput, Mode, PeerOt, ResultShare, fingerprint, run_job};
use protocol_spec::config::{FieldSpec, FieldType, LinkageConfig, Record};
use protocol_spec::messages::mainsel::{
    AlgorithmConfig, Authentication, Connection, DataService, InitLocal, InitRemote, Profile,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use sel_node::model::{
    Accepted, Announce, IncomingJobs, JobMode, LocalSite, PEER_PROTOCOL_VERSION, Refusal,
    RemoteDirectory, RemoteSite,
};
use sel_node::peer::{ConnectionState, PeerConfig, PeerError, PeerHub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------- TLS

/// A local CA and one leaf certificate for `localhost` and 127.0.0.1.
struct Pki {
    ca: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    Pki {
        ca: ca.der().clone(),
        leaf: leaf.der().clone(),
        key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_tls(pki: &Pki) -> Arc<rustls::ServerConfig> {
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![pki.leaf.clone()], pki.key.clone_key())
            .unwrap(),
    )
}

fn client_tls(trusted_ca: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted_ca.clone()).unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

// ---------------------------------------------------------------- sites

fn config(firstname_frequency: f64, threshold_match: f64) -> LinkageConfig {
    LinkageConfig::new(
        vec![
            FieldSpec::with_default_comparator(
                "firstname",
                firstname_frequency,
                0.01,
                FieldType::Bitmask,
                500,
            ),
            FieldSpec::with_default_comparator("lastname", 0.0002, 0.01, FieldType::Bitmask, 500),
            FieldSpec::with_default_comparator("birthyear", 0.01, 0.005, FieldType::Integer, 16),
        ],
        &[vec!["firstname".to_string(), "lastname".to_string()]],
        threshold_match,
        0.7,
    )
    .unwrap()
}

fn base_config() -> LinkageConfig {
    config(0.001, 0.9)
}

fn fingerprint_hex(config: &LinkageConfig) -> String {
    blake3::Hash::from(fingerprint(config)).to_hex().to_string()
}

/// What the job manager would hold: the local site and the remotes.
struct Directory {
    local: Mutex<LocalSite>,
    remotes: Mutex<HashMap<String, RemoteSite>>,
}

impl Directory {
    fn new(id: &str, config: &LinkageConfig) -> Arc<Directory> {
        let init = InitLocal {
            local_id: id.to_string(),
            local_authentication: Authentication::api_key(format!("local-key-{id}")),
            data_service: DataService {
                url: "https://ds.example.org/getAllRecords".into(),
                page_size: None,
                extra: Default::default(),
            },
            algorithm: AlgorithmConfig::from(config),
        };
        Arc::new(Directory {
            local: Mutex::new(LocalSite { init }),
            remotes: Mutex::new(HashMap::new()),
        })
    }

    /// `initRemote`'s `mpcProfile` for `id`; the updated entry.
    fn set_profile(&self, id: &str, profile: Profile) -> RemoteSite {
        let mut remotes = self.remotes.lock().unwrap();
        let remote = remotes.get_mut(id).unwrap();
        remote.init.mpc_profile = Some(profile);
        remote.clone()
    }

    fn set_config(&self, config: &LinkageConfig) {
        self.local.lock().unwrap().init.algorithm = AlgorithmConfig::from(config);
    }

    /// `initRemote/{id}`: the remote's peer endpoint and the pair's key.
    fn add_remote(&self, id: &str, addr: SocketAddr, key: &str) -> RemoteSite {
        let remote = RemoteSite {
            id: id.to_string(),
            init: InitRemote {
                connection_profile: Connection {
                    url: format!("https://localhost:{}", addr.port()),
                    authentication: Authentication::api_key(key),
                },
                linkage_service: None,
                matching_allowed: false,
                mpc_profile: None,
            },
        };
        self.remotes
            .lock()
            .unwrap()
            .insert(id.to_string(), remote.clone());
        remote
    }
}

impl RemoteDirectory for Directory {
    fn local(&self) -> Option<LocalSite> {
        Some(self.local.lock().unwrap().clone())
    }

    fn remote(&self, id: &str) -> Option<RemoteSite> {
        self.remotes.lock().unwrap().get(id).cloned()
    }
}

type JobOutcome = Result<Vec<ResultShare>, String>;

/// The server side of jobs: the real 2PC (`run_server`) over the job's
/// session, on this site's database. Jobs whose id starts with `slow` wait
/// for their token before starting (a long job, to cancel or cut off).
struct ServerJobs {
    config: LinkageConfig,
    database: Vec<Record>,
    busy: std::sync::atomic::AtomicBool,
    outcomes: Mutex<HashMap<String, JobOutcome>>,
    /// Slow jobs that have reached `run`.
    started: Mutex<Vec<String>>,
    changed: Notify,
}

impl ServerJobs {
    fn new(config: &LinkageConfig, database: Vec<Record>) -> Arc<ServerJobs> {
        Arc::new(ServerJobs {
            config: config.clone(),
            database,
            busy: false.into(),
            outcomes: Mutex::new(HashMap::new()),
            started: Mutex::new(Vec::new()),
            changed: Notify::new(),
        })
    }

    async fn wait_until<T>(&self, mut check: impl FnMut(&ServerJobs) -> Option<T>) -> T {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let notified = self.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(t) = check(self) {
                    return t;
                }
                notified.await;
            }
        })
        .await
        .expect("the server side did not get there")
    }

    async fn outcome(&self, job_id: &str) -> JobOutcome {
        self.wait_until(|s| s.outcomes.lock().unwrap().get(job_id).cloned())
            .await
    }

    async fn slow_job_started(&self, job_id: &str) {
        self.wait_until(|s| {
            s.started
                .lock()
                .unwrap()
                .iter()
                .any(|j| j == job_id)
                .then_some(())
        })
        .await
    }

    fn record(&self, job_id: &str, outcome: JobOutcome) {
        self.outcomes
            .lock()
            .unwrap()
            .insert(job_id.to_string(), outcome);
        self.changed.notify_waiters();
    }
}

#[async_trait::async_trait]
impl IncomingJobs for ServerJobs {
    async fn accept(&self, _remote_id: &str, _announce: &Announce) -> Result<Accepted, Refusal> {
        if self.busy.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Refusal::Busy);
        }
        Ok(Accepted {
            database_records: self.database.len() as u64,
        })
    }

    async fn run(
        &self,
        _remote_id: &str,
        announce: Announce,
        channel: mpc_core::channel::MuxSession,
        ot: Arc<PeerOt>,
        cancel: CancellationToken,
    ) {
        let job_id = announce.job_id.clone();
        if job_id.starts_with("slow") {
            self.started.lock().unwrap().push(job_id.clone());
            self.changed.notify_waiters();
            cancel.cancelled().await;
            drop(channel);
            self.record(&job_id, Err("cancelled".into()));
            return;
        }
        let opts = JobOptions {
            job_id: job_id.clone(),
            expected_peer_records: Some(announce.query_records),
            cancel: cancel.clone(),
            ..JobOptions::default()
        };
        let run = run_job(
            channel,
            &ot,
            Party::Server,
            Mode::Linkage,
            &self.config,
            &self.database,
            &opts,
        );
        let outcome = tokio::select! {
            r = run => r.map_err(|e| e.to_string()).and_then(|r| shares(r.output)),
            _ = cancel.cancelled() => Err("cancelled".into()),
        };
        self.record(&job_id, outcome);
    }
}

/// One node: its hub, its directory and the server side of its jobs.
struct Site {
    hub: Arc<PeerHub>,
    directory: Arc<Directory>,
    jobs: Arc<ServerJobs>,
    population: Population,
}

async fn site(id: &str, pki: &Pki, listen: SocketAddr, seed: u64) -> Site {
    let config = base_config();
    let population = Population::generate(
        &config,
        &SynthOptions {
            database: 12,
            queries: 4,
            seed,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let directory = Directory::new(id, &config);
    let jobs = ServerJobs::new(&config, population.database.clone());
    let hub = PeerHub::start(
        PeerConfig {
            listen,
            server_tls: server_tls(pki),
            client_tls: client_tls(&pki.ca),
        },
        directory.clone(),
        jobs.clone(),
    )
    .await
    .unwrap();
    Site {
        hub,
        directory,
        jobs,
        population,
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Two sites that know each other under one shared key.
async fn pair(pki: &Pki) -> (Site, Site, RemoteSite, RemoteSite) {
    let a = site("siteA", pki, any_port(), 1).await;
    let b = site("siteB", pki, any_port(), 2).await;
    let b_at_a = a
        .directory
        .add_remote("siteB", b.hub.local_addr(), "pair-key-AB");
    let a_at_b = b
        .directory
        .add_remote("siteA", a.hub.local_addr(), "pair-key-AB");
    (a, b, b_at_a, a_at_b)
}

fn announce(job_id: &str, queries: &[Record]) -> Announce {
    Announce {
        version: PEER_PROTOCOL_VERSION,
        job_id: job_id.to_string(),
        mode: JobMode::Linkage,
        query_records: queries.len() as u64,
        config_fingerprint: fingerprint_hex(&base_config()),
        session: 0,
        profile: Default::default(),
    }
}

/// Runs a linkage job from `client` to `server` (whose directory entry at
/// the client is `remote`) and checks the combined shares against the
/// plaintext reference.
async fn linkage_job(client: &Site, server: &Site, remote: &RemoteSite, job_id: &str) {
    let queries = client.population.queries.clone();
    let link = client
        .hub
        .open_job(remote, announce(job_id, &queries))
        .await
        .unwrap_or_else(|e| panic!("job {job_id}: {e}"));
    assert_eq!(
        link.database_records,
        server.population.database.len() as u64
    );
    let opts = JobOptions {
        job_id: job_id.to_owned(),
        expected_peer_records: Some(link.database_records),
        ..JobOptions::default()
    };
    let mine = run_job(
        link.channel,
        &link.ot,
        Party::Client,
        Mode::Linkage,
        &base_config(),
        &queries,
        &opts,
    )
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| shares(r.output))
    .unwrap_or_else(|e| panic!("job {job_id}: {e}"));
    let theirs = server.jobs.outcome(job_id).await.unwrap();
    let reference =
        protocol_spec::epilink::link_records(&base_config(), &queries, &server.population.database)
            .unwrap();
    assert_eq!(mine.len(), reference.len());
    for (k, expected) in reference.iter().enumerate() {
        assert_eq!(
            mine[k].combine(&theirs[k]),
            *expected,
            "job {job_id}, query {k}"
        );
    }
}

async fn wait_for_state(hub: &PeerHub, remote: &str, want: impl Fn(&ConnectionState) -> bool) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while !want(&hub.connection_state(remote)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("state stayed {:?}", hub.connection_state(remote)));
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_succeeds_and_a_config_mismatch_names_the_first_difference() {
    let pki = pki();
    let (a, b, b_at_a, a_at_b) = pair(&pki).await;
    assert_eq!(
        a.hub.connection_state("siteB"),
        ConnectionState::NotConnected
    );
    a.hub.test(&b_at_a).await.unwrap();
    assert!(matches!(
        a.hub.connection_state("siteB"),
        ConnectionState::Connected { .. }
    ));
    // The same connection serves the other direction.
    b.hub.test(&a_at_b).await.unwrap();

    b.directory.set_config(&config(0.002, 0.9));
    assert_eq!(
        a.hub.test(&b_at_a).await,
        Err(PeerError::ConfigMismatch(
            "field \"firstname\": frequency differs".into()
        ))
    );
    b.directory.set_config(&config(0.001, 0.8));
    assert_eq!(
        a.hub.test(&b_at_a).await,
        Err(PeerError::ConfigMismatch("threshold_match differs".into()))
    );
    // A job announced with the old fingerprint is refused before any work.
    let err = a
        .hub
        .open_job(&b_at_a, announce("job-mismatch", &a.population.queries))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, PeerError::Refused(Refusal::ConfigMismatch(_))),
        "{err}"
    );
    b.directory.set_config(&base_config());
    a.hub.test(&b_at_a).await.unwrap();
    a.hub.shutdown().await;
    b.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_mismatch_is_named_by_test_and_refuses_jobs() {
    let pki = pki();
    let (a, b, b_at_a, _a_at_b) = pair(&pki).await;
    // B runs `lan` with A; A runs the default (`wan`) with B.
    b.directory.set_profile("siteA", Profile::Lan);
    match a.hub.test(&b_at_a).await {
        Err(PeerError::ConfigMismatch(m)) => {
            assert!(m.contains("mpcProfile differs"), "{m}");
            assert!(m.contains("this node runs wan"), "{m}");
            assert!(m.contains("the remote runs lan"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    // An announcement with A's profile is refused before any work, naming
    // both profiles from B's side.
    match a
        .hub
        .open_job(&b_at_a, announce("job-profile", &a.population.queries))
        .await
    {
        Err(PeerError::Refused(Refusal::ConfigMismatch(m))) => {
            assert!(m.contains("this node runs lan"), "{m}");
            assert!(m.contains("the remote runs wan"), "{m}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a job with another profile was accepted"),
    }
    // The same profile on both sides: the test passes.
    let b_at_a = a.directory.set_profile("siteB", Profile::Lan);
    a.hub.test(&b_at_a).await.unwrap();
    a.hub.shutdown().await;
    b.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_and_an_unknown_site_are_refused_alike() {
    let pki = pki();
    let a = site("siteA", &pki, any_port(), 1).await;
    let b = site("siteB", &pki, any_port(), 2).await;
    let b_at_a = a
        .directory
        .add_remote("siteB", b.hub.local_addr(), "key-of-A");
    // B does not know A yet.
    let unknown = a.hub.test(&b_at_a).await.unwrap_err();
    assert!(matches!(unknown, PeerError::Unauthorized(_)), "{unknown}");
    // B knows A under another key.
    b.directory
        .add_remote("siteA", a.hub.local_addr(), "key-of-B");
    let wrong = a.hub.test(&b_at_a).await.unwrap_err();
    assert_eq!(wrong, unknown);
    assert!(!wrong.to_string().contains("key-of"));
    assert!(!matches!(
        a.hub.connection_state("siteB"),
        ConnectionState::Connected { .. }
    ));
    // With the shared key it works.
    b.directory
        .add_remote("siteA", a.hub.local_addr(), "key-of-A");
    a.hub.test(&b_at_a).await.unwrap();
    a.hub.shutdown().await;
    b.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused() {
    let pki_b = pki();
    let stranger = pki();
    // A trusts only `stranger`'s CA; B presents a leaf of its own CA.
    let a = site("siteA", &stranger, any_port(), 1).await;
    let b = site("siteB", &pki_b, any_port(), 2).await;
    let b_at_a = a.directory.add_remote("siteB", b.hub.local_addr(), "k");
    b.directory.add_remote("siteA", a.hub.local_addr(), "k");
    let err = a.hub.test(&b_at_a).await.unwrap_err();
    assert!(matches!(err, PeerError::Tls(_)), "{err}");
    assert!(matches!(
        a.hub.connection_state("siteB"),
        ConnectionState::Failed { .. }
    ));
    a.hub.shutdown().await;
    b.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_jobs_in_both_directions_equal_the_reference() {
    let pki = pki();
    let (a, b, b_at_a, a_at_b) = pair(&pki).await;
    // Both sides dial at once: the tie-break keeps one connection, the
    // same at both sites (if they kept different ones, each would close the
    // other's and the next requests would re-dial, changing `since`).
    let (x, y) = tokio::join!(a.hub.test(&b_at_a), b.hub.test(&a_at_b));
    x.unwrap();
    y.unwrap();
    let since = |hub: &PeerHub, remote: &str| match hub.connection_state(remote) {
        ConnectionState::Connected { since } => since,
        other => panic!("not connected: {other:?}"),
    };
    let (a_since, b_since) = (since(&a.hub, "siteB"), since(&b.hub, "siteA"));
    tokio::join!(
        linkage_job(&a, &b, &b_at_a, "a-to-b-1"),
        linkage_job(&a, &b, &b_at_a, "a-to-b-2"),
        linkage_job(&a, &b, &b_at_a, "a-to-b-3"),
        linkage_job(&b, &a, &a_at_b, "b-to-a-1"),
        linkage_job(&b, &a, &a_at_b, "b-to-a-2"),
        linkage_job(&b, &a, &a_at_b, "b-to-a-3"),
    );
    assert_eq!(since(&a.hub, "siteB"), a_since);
    assert_eq!(since(&b.hub, "siteA"), b_since);
    let stats = a.hub.wire_stats("siteB").expect("a live connection");
    assert!(stats.bytes_written > 0 && stats.bytes_read > 0);
    a.hub.shutdown().await;
    b.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_remote_refuses_the_job() {
    let pki = pki();
    let (a, b, b_at_a, _) = pair(&pki).await;
    b.jobs.busy.store(true, std::sync::atomic::Ordering::SeqCst);
    let err = a
        .hub
        .open_job(&b_at_a, announce("job-busy", &a.population.queries))
        .await
        .err()
        .unwrap();
    assert_eq!(err, PeerError::Refused(Refusal::Busy));
    // The refusal left the connection usable.
    b.jobs
        .busy
        .store(false, std::sync::atomic::Ordering::SeqCst);
    linkage_job(&a, &b, &b_at_a, "job-after-busy").await;
    a.hub.shutdown().await;
    b.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_ends_on_both_sides_while_another_finishes() {
    let pki = pki();
    let (a, b, b_at_a, _) = pair(&pki).await;
    let queries = a.population.queries.clone();
    let slow = a
        .hub
        .open_job(&b_at_a, announce("slow-1", &queries))
        .await
        .unwrap();
    b.jobs.slow_job_started("slow-1").await;
    let slow_client = tokio::spawn(async move {
        let opts = JobOptions {
            job_id: "slow-1".into(),
            ..JobOptions::default()
        };
        let result = run_job(
            slow.channel,
            &slow.ot,
            Party::Client,
            Mode::Linkage,
            &base_config(),
            &queries,
            &opts,
        )
        .await;
        (
            result.map(|_| ()).map_err(|e| e.to_string()),
            slow.cancelled,
        )
    });
    let other = linkage_job(&a, &b, &b_at_a, "job-other");
    a.hub.cancel_job("siteB", "slow-1");
    other.await;
    assert_eq!(b.jobs.outcome("slow-1").await, Err("cancelled".to_string()));
    let (client_result, token) = slow_client.await.unwrap();
    assert!(
        client_result.is_err(),
        "the cancelled job's client side ended"
    );
    assert!(token.is_cancelled());
    // The connection carries on.
    assert!(matches!(
        a.hub.connection_state("siteB"),
        ConnectionState::Connected { .. }
    ));
    linkage_job(&a, &b, &b_at_a, "job-after-cancel").await;
    a.hub.shutdown().await;
    b.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_hub_fails_its_jobs_and_is_redialed_when_back() {
    let pki = pki();
    let (a, b, b_at_a, _) = pair(&pki).await;
    let b_addr = b.hub.local_addr();
    let queries = a.population.queries.clone();
    let link = a
        .hub
        .open_job(&b_at_a, announce("slow-cut", &queries))
        .await
        .unwrap();
    b.jobs.slow_job_started("slow-cut").await;
    let cancelled = link.cancelled.clone();
    let client = tokio::spawn(async move {
        let opts = JobOptions {
            job_id: "slow-cut".into(),
            ..JobOptions::default()
        };
        run_job(
            link.channel,
            &link.ot,
            Party::Client,
            Mode::Linkage,
            &base_config(),
            &queries,
            &opts,
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    });
    b.hub.shutdown().await;
    assert!(client.await.unwrap().is_err());
    cancelled.cancelled().await;
    assert_eq!(
        b.jobs.outcome("slow-cut").await,
        Err("cancelled".to_string())
    );
    wait_for_state(&a.hub, "siteB", |s| {
        !matches!(s, ConnectionState::Connected { .. })
    })
    .await;

    // The same site comes back on the same port; A re-dials on its own.
    let b2 = site("siteB", &pki, b_addr, 2).await;
    b2.directory
        .add_remote("siteA", a.hub.local_addr(), "pair-key-AB");
    wait_for_state(&a.hub, "siteB", |s| {
        matches!(s, ConnectionState::Connected { .. })
    })
    .await;
    linkage_job(&a, &b2, &b_at_a, "job-after-restart").await;
    a.hub.shutdown().await;
    b2.hub.shutdown().await;
}

/// A TLS client of `addr` that trusts `pki`.
async fn raw_tls(
    pki: &Pki,
    addr: SocketAddr,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_rustls::TlsConnector::from(client_tls(&pki.ca))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// Reads until the peer closes; the bytes it sent first.
async fn read_to_close(
    stream: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the hub did not close the connection");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_peer_port_does_not_stop_the_hub() {
    let pki = pki();
    let (a, b, b_at_a, _) = pair(&pki).await;
    let addr = b.hub.local_addr();

    // A frame length far above the handshake limit.
    let mut s = raw_tls(&pki, addr).await;
    s.write_all(&[0xff, 0xff, 0xff, 0x7f, 1, 2, 3])
        .await
        .unwrap();
    s.flush().await.unwrap();
    assert!(read_to_close(&mut s).await.is_empty());

    // A small frame that is not a Hello.
    let mut s = raw_tls(&pki, addr).await;
    s.write_all(&[5, 0, 0, 0, b'{', 0xc3, b'x', b'\n', 0])
        .await
        .unwrap();
    s.flush().await.unwrap();
    assert!(read_to_close(&mut s).await.is_empty());

    // Bytes that are not even TLS.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\n\r\n\x00\x01\x02")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut buf)).await;

    // An authenticated peer whose control session carries garbage.
    let mut s = raw_tls(&pki, addr).await;
    let hello = format!(
        r#"{{"version":{PEER_PROTOCOL_VERSION},"site":"siteA","key":"pair-key-AB","fingerprint":"00"}}"#
    );
    s.write_all(&(hello.len() as u32).to_le_bytes())
        .await
        .unwrap();
    s.write_all(hello.as_bytes()).await.unwrap();
    let mut frame = Vec::new();
    let body: &[u8] = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00not a control message";
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(body);
    s.write_all(&frame).await.unwrap();
    s.flush().await.unwrap();
    let answer = read_to_close(&mut s).await;
    let welcome_len = u32::from_le_bytes(answer[..4].try_into().unwrap()) as usize;
    let welcome = std::str::from_utf8(&answer[4..4 + welcome_len]).unwrap();
    assert!(welcome.contains("accepted"), "{welcome}");

    // The hub still serves a proper dialer, and a whole job.
    a.hub.test(&b_at_a).await.unwrap();
    linkage_job(&a, &b, &b_at_a, "job-after-garbage").await;
    a.hub.shutdown().await;
    b.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_settle_on_one_connection() {
    let pki = pki();
    for round in 0..5 {
        let (a, b, b_at_a, a_at_b) = pair(&pki).await;
        let (x, y) = tokio::join!(a.hub.test(&b_at_a), b.hub.test(&a_at_b));
        x.unwrap_or_else(|e| panic!("round {round}: {e}"));
        y.unwrap_or_else(|e| panic!("round {round}: {e}"));
        let since = |hub: &PeerHub, remote: &str| match hub.connection_state(remote) {
            ConnectionState::Connected { since } => since,
            other => panic!("round {round}: not connected: {other:?}"),
        };
        let before = (since(&a.hub, "siteB"), since(&b.hub, "siteA"));
        for _ in 0..3 {
            a.hub.test(&b_at_a).await.unwrap();
            b.hub.test(&a_at_b).await.unwrap();
        }
        assert_eq!(
            (since(&a.hub, "siteB"), since(&b.hub, "siteA")),
            before,
            "round {round}: the connection was replaced"
        );
        a.hub.shutdown().await;
        b.hub.shutdown().await;
    }
}

/// The shares of a linkage run.
fn shares(output: JobOutput) -> Result<Vec<ResultShare>, String> {
    match output {
        JobOutput::Shares(s) => Ok(s),
        _ => Err("not a linkage outcome".into()),
    }
}
