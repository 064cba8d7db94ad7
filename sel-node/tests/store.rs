//! The node's store: the same cases on the memory store, the redb store and
//! the PostgreSQL store (through `&dyn NodeStore`), then what only a
//! persistent store has: state survives a reopen, a wrong node key is
//! refused, and neither the file nor the database holds an API key, a field
//! value or a LID in clear.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use protocol_spec::messages::mainsel::{InitLocal, InitRemote, JobStatus, WireRecord};
use sel_node::model::{CallbackDelivery, Cardinality, JobMode, JobRecord, JobSide, StatusChange};
use sel_node::pg::{Pg, PgOptions, testing};
use sel_node::seal::NodeKey;
use sel_node::store::{CacheMeta, MemoryStore, NodeStore, PgStore, RedbStore, StoreError};
use serde_json::json;

const LOCAL_KEY: &str = "local-api-key-Zq81";
const REMOTE_KEY: &str = "remote-api-key-Hx42";
const LS_KEY: &str = "ls-api-key-Wm77";
/// A field value that must never be on disk in clear.
const FIELD_VALUE: &str = "PatientValueQx9Vk3";
const LID: &str = "LidValueJ5Rt2Np8";

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("store-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn key(byte: u8) -> Arc<NodeKey> {
    Arc::new(NodeKey::from_bytes(&[byte; 32]))
}

fn init_local() -> InitLocal {
    serde_json::from_value(json!({
        "localId": "TUD",
        "localAuthentication": {"authType": "apiKey", "sharedKey": LOCAL_KEY},
        "dataService": {"url": "https://ds.example/getAllRecords", "pageSize": 100},
        "algorithm": {
            "algoType": "epilink",
            "threshold_match": 0.9,
            "threshold_non_match": 0.7,
            "fields": [{
                "name": "firstname", "frequency": 0.000235, "errorRate": 0.01,
                "comparator": "dice", "fieldType": "bitmask", "bitlength": 500
            }]
        }
    }))
    .unwrap()
}

fn init_remote(url: &str) -> InitRemote {
    serde_json::from_value(json!({
        "connectionProfile": {"url": url, "authentication": {"authType": "apiKey", "sharedKey": REMOTE_KEY}},
        "linkageService": {"url": "https://ls.example/", "authentication": {"authType": "apiKey", "sharedKey": LS_KEY}},
        "matchingAllowed": true
    }))
    .unwrap()
}

fn record(i: usize) -> WireRecord {
    serde_json::from_value(json!({
        "fields": {"firstname": format!("{FIELD_VALUE}{i}"), "birthyear": 1900 + i},
        "id": format!("rec{i}")
    }))
    .unwrap()
}

fn job(id: &str, created: u64, status: JobStatus) -> JobRecord {
    JobRecord {
        id: id.to_string(),
        remote_id: "MHH".into(),
        mode: JobMode::Linkage,
        side: JobSide::Client,
        cardinality: Cardinality::Many,
        status,
        progress_percent: 40,
        created,
        started: Some(created + 1),
        finished: None,
        error: None,
        callback_url: Some("https://cb.example/x".into()),
        callback_delivery: CallbackDelivery::default(),
        query_records: 3,
        database_records: Some(10),
        config_fingerprint: "ab12".into(),
        history: vec![
            StatusChange {
                status: JobStatus::Queued,
                at: created,
                reason: None,
            },
            StatusChange {
                status,
                at: created + 1,
                reason: Some("why".into()),
            },
        ],
        match_counts: None,
    }
}

fn meta(requester: &str, records: u64, fetched_at: u64) -> CacheMeta {
    CacheMeta {
        requester: requester.into(),
        fetched_at,
        total: Some(records),
        to_date: Some("1232345512".into()),
        records,
    }
}

/// Everything the node stores, round-tripped through any backend.
fn exercise(store: &dyn NodeStore) {
    // Local configuration.
    assert_eq!(store.load_local().unwrap(), None);
    store.save_local(&init_local()).unwrap();
    assert_eq!(store.load_local().unwrap(), Some(init_local()));

    // Remotes: replace by id, listed with their ids.
    assert!(store.load_remotes().unwrap().is_empty());
    store
        .save_remote("MHH", &init_remote("https://old.example"))
        .unwrap();
    store
        .save_remote("MHH", &init_remote("https://mhh.example"))
        .unwrap();
    store
        .save_remote("DKFZ", &init_remote("https://dkfz.example"))
        .unwrap();
    let mut remotes = store.load_remotes().unwrap();
    remotes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        remotes,
        vec![
            ("DKFZ".to_string(), init_remote("https://dkfz.example")),
            ("MHH".to_string(), init_remote("https://mhh.example")),
        ]
    );

    // Jobs: insert or replace, oldest first.
    store.save_job(&job("j2", 200, JobStatus::Queued)).unwrap();
    store.save_job(&job("j1", 100, JobStatus::Running)).unwrap();
    store.save_job(&job("j3", 200, JobStatus::Done)).unwrap();
    let mut replaced = job("j2", 200, JobStatus::Fault);
    replaced.error = Some("node restarted".into());
    store.save_job(&replaced).unwrap();
    assert_eq!(store.load_job("j2").unwrap(), Some(replaced.clone()));
    assert_eq!(store.load_job("nope").unwrap(), None);
    let ids: Vec<String> = store
        .load_jobs()
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(ids, ["j1", "j2", "j3"]);

    // Job inputs.
    let input: Vec<WireRecord> = (0..3).map(record).collect();
    assert_eq!(store.load_job_input("j1").unwrap(), None);
    store.save_job_input("j1", &input).unwrap();
    assert_eq!(store.load_job_input("j1").unwrap(), Some(input.clone()));
    store.delete_job_input("j1").unwrap();
    assert_eq!(store.load_job_input("j1").unwrap(), None);
    store.delete_job_input("j1").unwrap();

    // Idempotency: found until it expires, then forgotten.
    let h1 = [1u8; 32];
    let h2 = [2u8; 32];
    store.save_idempotency(&h1, "j1", u64::MAX - 1).unwrap();
    store.save_idempotency(&h2, "j2", 1_000).unwrap();
    assert_eq!(
        store.lookup_idempotency(&h1, 5_000).unwrap(),
        Some("j1".into())
    );
    assert_eq!(
        store.lookup_idempotency(&h2, 999).unwrap(),
        Some("j2".into())
    );
    assert_eq!(store.lookup_idempotency(&h2, 1_000).unwrap(), None);
    assert_eq!(store.lookup_idempotency(&h2, 999).unwrap(), None, "purged");
    assert_eq!(store.lookup_idempotency(&[3u8; 32], 0).unwrap(), None);

    // Caches: more than one chunk, replaced by a smaller one, per requester.
    let big: Vec<WireRecord> = (0..2500).map(record).collect();
    assert_eq!(store.load_cache("MHH").unwrap(), None);
    store.save_cache(&meta("MHH", 2500, 10), &big).unwrap();
    store.save_cache(&meta("DKFZ", 1, 11), &big[..1]).unwrap();
    assert_eq!(
        store.load_cache_meta("MHH").unwrap(),
        Some(meta("MHH", 2500, 10))
    );
    assert_eq!(
        store.load_cache("MHH").unwrap(),
        Some((meta("MHH", 2500, 10), big.clone()))
    );
    store.save_cache(&meta("MHH", 3, 20), &big[5..8]).unwrap();
    assert_eq!(
        store.load_cache("MHH").unwrap(),
        Some((meta("MHH", 3, 20), big[5..8].to_vec()))
    );
    store.save_cache(&meta("EMPTY", 0, 21), &[]).unwrap();
    assert_eq!(
        store.load_cache("EMPTY").unwrap(),
        Some((meta("EMPTY", 0, 21), vec![]))
    );
    store.delete_cache("MHH").unwrap();
    assert_eq!(store.load_cache("MHH").unwrap(), None);
    assert_eq!(store.load_cache_meta("MHH").unwrap(), None);
    assert_eq!(
        store.load_cache("DKFZ").unwrap(),
        Some((meta("DKFZ", 1, 11), big[..1].to_vec()))
    );

    // LIDs by (linkage service, record id), in the order asked.
    store
        .save_lids(
            "https://ls.example/",
            &[
                ("rec1".into(), format!("{LID}-1")),
                ("rec2".into(), "L2".into()),
            ],
        )
        .unwrap();
    store
        .save_lids("https://other.example/", &[("rec1".into(), "other".into())])
        .unwrap();
    let ids = ["rec2".to_string(), "rec9".to_string(), "rec1".to_string()];
    assert_eq!(
        store.load_lids("https://ls.example/", &ids).unwrap(),
        vec![Some("L2".into()), None, Some(format!("{LID}-1"))]
    );
    assert_eq!(
        store.load_lids("https://other.example/", &ids).unwrap(),
        vec![None, None, Some("other".into())]
    );
}

#[test]
fn memory_store_keeps_everything() {
    exercise(&MemoryStore::new());
}

#[test]
fn redb_store_keeps_everything() {
    let dir = scratch("redb");
    let store = RedbStore::open(&dir.join("node.redb"), key(1)).unwrap();
    exercise(&store);
}

#[test]
fn redb_store_survives_a_reopen() {
    let dir = scratch("reopen");
    let path = dir.join("sub").join("node.redb");
    {
        let store = RedbStore::open(&path, key(1)).unwrap();
        store.save_local(&init_local()).unwrap();
        store
            .save_remote("MHH", &init_remote("https://mhh.example"))
            .unwrap();
        store.save_job(&job("j1", 100, JobStatus::Running)).unwrap();
        store.save_job_input("j1", &[record(1)]).unwrap();
        store
            .save_idempotency(&[7u8; 32], "j1", u64::MAX - 1)
            .unwrap();
        store
            .save_cache(&meta("MHH", 2, 5), &[record(1), record(2)])
            .unwrap();
        store
            .save_lids("https://ls.example/", &[("rec1".into(), LID.into())])
            .unwrap();
    }
    let store = RedbStore::open(&path, key(1)).unwrap();
    assert_eq!(store.load_local().unwrap(), Some(init_local()));
    assert_eq!(
        store.load_remotes().unwrap(),
        vec![("MHH".to_string(), init_remote("https://mhh.example"))]
    );
    assert_eq!(
        store.load_jobs().unwrap(),
        vec![job("j1", 100, JobStatus::Running)]
    );
    assert_eq!(store.load_job_input("j1").unwrap(), Some(vec![record(1)]));
    assert_eq!(
        store.lookup_idempotency(&[7u8; 32], 0).unwrap(),
        Some("j1".into())
    );
    assert_eq!(
        store.load_cache("MHH").unwrap(),
        Some((meta("MHH", 2, 5), vec![record(1), record(2)]))
    );
    assert_eq!(
        store
            .load_lids("https://ls.example/", &["rec1".to_string()])
            .unwrap(),
        vec![Some(LID.to_string())]
    );
}

#[test]
fn redb_store_refuses_another_node_key() {
    let dir = scratch("wrong-key");
    let path = dir.join("node.redb");
    {
        let store = RedbStore::open(&path, key(1)).unwrap();
        store.save_local(&init_local()).unwrap();
    }
    match RedbStore::open(&path, key(2)) {
        Err(StoreError::Unseal(msg)) => assert!(msg.contains("node key"), "{msg}"),
        other => panic!("expected Unseal, got {other:?}"),
    }
    // The right key still opens it afterwards.
    let store = RedbStore::open(&path, key(1)).unwrap();
    assert_eq!(store.load_local().unwrap(), Some(init_local()));
}

#[test]
fn redb_file_holds_no_secret_or_value_in_clear() {
    let dir = scratch("no-clear");
    let path = dir.join("node.redb");
    {
        let store = RedbStore::open(&path, key(1)).unwrap();
        store.save_local(&init_local()).unwrap();
        store
            .save_remote("MHH", &init_remote("https://mhh.example"))
            .unwrap();
        store.save_job_input("j1", &[record(1)]).unwrap();
        store.save_cache(&meta("MHH", 1, 5), &[record(2)]).unwrap();
        store
            .save_lids("https://ls.example/", &[("rec77".into(), LID.into())])
            .unwrap();
        // A job record is stored in clear on purpose: it shows the scan works.
        store
            .save_job(&job("visiblejob42", 1, JobStatus::Done))
            .unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        contains("visiblejob42"),
        "the scan must be able to find text"
    );
    for secret in [
        LOCAL_KEY,
        REMOTE_KEY,
        LS_KEY,
        FIELD_VALUE,
        LID,
        "rec77",
        "mhh.example",
    ] {
        assert!(!contains(secret), "{secret} is in the redb file in clear");
    }
}

/// A PostgreSQL store on a fresh database, or `None` (skipped, with a
/// message) when no server can be had outside CI.
fn pg_store(test: &str, key: Arc<NodeKey>) -> Option<(String, PgStore)> {
    let url = testing::fresh_database(test)?;
    let pg = Pg::connect(&url, PgOptions::default()).unwrap();
    Some((url, PgStore::open(pg, key).unwrap()))
}

#[test]
fn postgres_store_keeps_everything() {
    let Some((_, store)) = pg_store("store_all", key(1)) else {
        return;
    };
    exercise(&store);
}

#[test]
fn postgres_store_survives_a_reconnect_and_refuses_another_node_key() {
    let Some((url, store)) = pg_store("store_reopen", key(1)) else {
        return;
    };
    store.save_local(&init_local()).unwrap();
    store.save_job(&job("j1", 100, JobStatus::Done)).unwrap();
    drop(store);
    let again = PgStore::open(Pg::connect(&url, PgOptions::default()).unwrap(), key(1)).unwrap();
    assert_eq!(again.load_local().unwrap(), Some(init_local()));
    assert_eq!(
        again.load_jobs().unwrap(),
        vec![job("j1", 100, JobStatus::Done)]
    );
    match PgStore::open(Pg::connect(&url, PgOptions::default()).unwrap(), key(2)) {
        Err(StoreError::Unseal(msg)) => assert!(msg.contains("node key"), "{msg}"),
        other => panic!("expected Unseal, got {other:?}"),
    }
}

#[test]
fn postgres_database_holds_no_secret_or_value_in_clear() {
    let Some((url, store)) = pg_store("store_clear", key(1)) else {
        return;
    };
    store.save_local(&init_local()).unwrap();
    store
        .save_remote("MHH", &init_remote("https://mhh.example"))
        .unwrap();
    store.save_job_input("j1", &[record(1)]).unwrap();
    store.save_cache(&meta("MHH", 1, 5), &[record(2)]).unwrap();
    store
        .save_lids("https://ls.example/", &[("rec77".into(), LID.into())])
        .unwrap();
    store
        .save_job(&job("visiblejob42", 1, JobStatus::Done))
        .unwrap();
    // Every column of every table, as text, as an operator with read
    // access would dump it.
    let pg = Pg::connect(&url, PgOptions::default()).unwrap();
    let dump: String = pg
        .run(|c| async move {
            let tables = c
                .query(
                    "SELECT table_name::text FROM information_schema.tables
                     WHERE table_schema = 'public'",
                    &[],
                )
                .await?;
            let mut dump = String::new();
            for t in tables {
                let name: String = t.get(0);
                let rows = c
                    .query(&format!("SELECT t::text FROM \"{name}\" t"), &[])
                    .await?;
                for r in rows {
                    dump.push_str(&r.get::<_, String>(0));
                    dump.push('\n');
                }
            }
            Ok(dump)
        })
        .unwrap();
    assert!(dump.contains("visiblejob42"), "the dump must show text");
    for secret in [
        LOCAL_KEY,
        REMOTE_KEY,
        LS_KEY,
        FIELD_VALUE,
        LID,
        "rec77",
        "mhh.example",
    ] {
        assert!(
            !dump.contains(secret),
            "{secret} is in the database in clear"
        );
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(
            !dump.contains(&hex),
            "{secret} is in the database in clear (bytea)"
        );
    }
}

/// The shared store's claims: four processes (stores with their own pools
/// and owner names) claiming at once take each of 200 queued jobs exactly
/// once; a job whose holder stopped renewing is taken over after its lease;
/// the old holder can then no longer write it; a remote's peer lease keeps
/// other processes away from its jobs.
#[test]
fn postgres_claims_are_exclusive_and_leases_expire() {
    use sel_node::store::{QueueBounds, SharedJobs, SubmitOutcome};
    let Some((url, first)) = pg_store("store_claims", key(1)) else {
        return;
    };
    let open = |lease_ms: u64| {
        PgStore::open(Pg::connect(&url, PgOptions::default()).unwrap(), key(1))
            .unwrap()
            .with_lease(std::time::Duration::from_millis(lease_ms))
    };
    let bounds = QueueBounds {
        max_total: 1000,
        max_per_remote: 1000,
    };
    for i in 0..200 {
        let mut j = job(&format!("q{i:03}"), 1000 + i, JobStatus::Queued);
        j.remote_id = format!("R{}", i % 4);
        j.history.truncate(1);
        assert_eq!(
            first
                .submit(&j, &[record(i as usize)], bounds, None)
                .unwrap(),
            SubmitOutcome::Created
        );
    }
    let claimers: Vec<_> = (0..4)
        .map(|_| {
            let store = open(60_000);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                while let Some(j) = store.claim_next().unwrap() {
                    mine.push(j.id);
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<String> = claimers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "a job was claimed twice");
    assert_eq!(all.len(), 200, "every job was claimed");

    // A holder that stops renewing loses its job after the lease.
    let (holder, other) = (open(300), open(300));
    let mut j = job("lease1", 5000, JobStatus::Queued);
    j.remote_id = "S".into();
    j.history.truncate(1);
    holder.submit(&j, &[record(1)], bounds, None).unwrap();
    let mut held = holder.claim_next().unwrap().expect("the job");
    assert_eq!(other.claim_next().unwrap(), None, "held, and S is held");
    assert!(
        other.claim_expired(&[]).unwrap().is_empty(),
        "lease still valid"
    );
    std::thread::sleep(std::time::Duration::from_millis(600));
    let taken = other.claim_expired(&[]).unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, "lease1");
    // The old holder's write is refused; its renewal no longer holds it.
    held.status = JobStatus::Running;
    assert!(matches!(holder.save_job(&held), Err(StoreError::Io(_))));
    assert!(holder.renew(&["lease1".to_string()]).unwrap().is_empty());
    assert_eq!(other.renew(&["lease1".to_string()]).unwrap().len(), 1);
    // A cancel request reaches the holder with its renewal.
    other.request_cancel("lease1").unwrap();
    assert!(other.renew(&["lease1".to_string()]).unwrap()[0].cancel_requested);
}
