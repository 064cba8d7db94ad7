//! The shared store: the node's state in PostgreSQL (`store =
//! "postgres://…"`), for several `sel-node serve` processes that act as one
//! node.
//!
//! Sealing is the embedded store's, value for value: the same node key, the
//! same contexts ([`super::redb::context`]), so the database never holds an
//! API key, a field value, a query record, a cached record or a LID in
//! clear; idempotency keys arrive as keyed hashes and LIDs are indexed by a
//! keyed hash of (linkage service, record id). Job records hold no secret
//! and are stored as JSON (`jsonb`) next to the columns the queue needs.
//!
//! Beyond [`NodeStore`], the store implements [`SharedJobs`]: every job row
//! has an `owner` (the process running it, a random name per process start)
//! and a `lease_until` on the database's clock. Queued client jobs are
//! claimed with `FOR UPDATE SKIP LOCKED`, so two processes never take the
//! same one; an owner renews its leases, and a job whose lease ran out is
//! taken over by another process. A write of a job this process does not
//! hold is refused, so a process that lost a job (its lease ran out while
//! it stalled) cannot overwrite what the new holder recorded.
//!
//! Every call is retried while the database is unreachable or restarting
//! (up to [`RETRY_FOR`]); each statement is safe to repeat.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol_spec::messages::mainsel::{InitLocal, InitRemote, WireRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::redb::context;
use super::{CacheMeta, Held, NodeStore, QueueBounds, SharedJobs, StoreError, SubmitOutcome};
use crate::model::{JobRecord, JobSide, Millis};
use crate::pg::{Migration, Pg, PgClient, PgError};
use crate::seal::NodeKey;

/// How long a call keeps retrying while the database is unreachable.
pub const RETRY_FOR: Duration = Duration::from_secs(60);
/// How long a process holds a job without renewing it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// Records per sealed chunk of a cached database (as in the embedded store).
const CACHE_CHUNK: usize = 1024;
/// The advisory lock that serialises submissions over every process, so
/// that the queue bounds and idempotency keys hold across them.
const SUBMIT_LOCK: i64 = 0x5345_4c5f_5355_424d; // "SEL_SUBM"

/// The schema of component "node".
pub static MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "node state",
    sql: "
CREATE TABLE node_meta (name text PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE node_local (name text PRIMARY KEY, sealed bytea NOT NULL);
CREATE TABLE node_remotes (id text PRIMARY KEY, sealed bytea NOT NULL);
CREATE TABLE node_config_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint NOT NULL
);
INSERT INTO node_config_version (one, version) VALUES (true, 0);
CREATE TABLE node_jobs (
    id text PRIMARY KEY,
    side text NOT NULL,
    status text NOT NULL,
    remote_id text NOT NULL,
    created bigint NOT NULL,
    record jsonb NOT NULL,
    owner text,
    lease_until timestamptz,
    cancel_requested boolean NOT NULL DEFAULT false
);
CREATE INDEX node_jobs_by_created ON node_jobs (created, id);
CREATE INDEX node_jobs_queue ON node_jobs (created, id)
    WHERE side = 'client' AND status = 'QUEUED' AND owner IS NULL;
CREATE INDEX node_jobs_leases ON node_jobs (lease_until)
    WHERE owner IS NOT NULL AND status NOT IN ('DONE', 'FAULT');
CREATE TABLE node_job_inputs (job_id text PRIMARY KEY, sealed bytea NOT NULL);
CREATE TABLE node_idempotency (
    key_hash bytea PRIMARY KEY,
    job_id text NOT NULL,
    expires_at bigint NOT NULL
);
CREATE TABLE node_cache_meta (requester text PRIMARY KEY, sealed bytea NOT NULL);
CREATE TABLE node_cache_chunks (
    requester text NOT NULL,
    chunk bigint NOT NULL,
    sealed bytea NOT NULL,
    PRIMARY KEY (requester, chunk)
);
CREATE TABLE node_lids (idx bytea PRIMARY KEY, sealed bytea NOT NULL);
CREATE TABLE node_peer_holders (
    remote_id text PRIMARY KEY,
    owner text NOT NULL,
    lease_until timestamptz NOT NULL
);
",
}];

const FINAL: &str = "('DONE', 'FAULT')";

/// A cached database as read: its sealed meta and its sealed chunks by index.
type SealedCache = (Vec<u8>, Vec<(i64, Vec<u8>)>);

fn side_str(side: JobSide) -> &'static str {
    match side {
        JobSide::Client => "client",
        JobSide::Server => "server",
    }
}

/// Millis as PostgreSQL's `bigint` (times far in the future are clamped).
fn db_millis(m: Millis) -> i64 {
    i64::try_from(m).unwrap_or(i64::MAX)
}

fn row_err(e: tokio_postgres::Error) -> PgError {
    PgError::Row(e.to_string())
}

fn parse_job(text: &str) -> Result<JobRecord, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored job: {e}")))
}

/// The store on PostgreSQL, sealing with the node key.
pub struct PgStore {
    pg: Pg,
    key: Arc<NodeKey>,
    /// This process's name as a job owner.
    owner: String,
    lease: Duration,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.pg.display_url())
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Brings the schema to this binary's version and checks the node key
    /// (a database created under another key fails with
    /// [`StoreError::Unseal`]).
    pub fn open(pg: Pg, key: Arc<NodeKey>) -> Result<PgStore, StoreError> {
        pg.migrate("node", MIGRATIONS)
            .map_err(|e| StoreError::Io(e.to_string()))?;
        let owner = {
            use base64::Engine as _;
            let host = std::env::var("HOSTNAME").unwrap_or_default();
            let tag =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 9]>());
            let host: String = host
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(32)
                .collect();
            format!("{host}/{}/{tag}", std::process::id())
        };
        let store = PgStore {
            pg,
            key,
            owner,
            lease: DEFAULT_LEASE,
        };
        store.check_key()?;
        Ok(store)
    }

    /// The same store with another lease duration (tests shorten it).
    pub fn with_lease(mut self, lease: Duration) -> PgStore {
        self.lease = lease.max(Duration::from_millis(100));
        self
    }

    /// How long a job stays held without a renewal.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// This process's name as a job owner (host, pid and a random tag).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn lease_ms(&self) -> f64 {
        self.lease.as_millis() as f64
    }

    fn check_key(&self) -> Result<(), StoreError> {
        let check_context = context("node-key-check", &[]);
        let fresh = self.key.seal(&check_context, b"sel-node store");
        let stored: Vec<u8> = self.call(move || {
            let fresh = fresh.clone();
            move |c: PgClient| async move {
                c.execute(
                    "INSERT INTO node_meta (name, value) VALUES ('node_key_check', $1)
                     ON CONFLICT (name) DO NOTHING",
                    &[&fresh],
                )
                .await?;
                let row = c
                    .query_one(
                        "SELECT value FROM node_meta WHERE name = 'node_key_check'",
                        &[],
                    )
                    .await?;
                row.try_get(0).map_err(row_err)
            }
        })?;
        self.key.open(&check_context, &stored).map_err(|_| {
            StoreError::Unseal("the node key is not the one this store was created with".into())
        })?;
        Ok(())
    }

    /// Runs one statement (or transaction) made by `make`, again on a fresh
    /// connection while the error is transient, for up to [`RETRY_FOR`].
    fn call<T, F, Fut>(&self, make: impl Fn() -> F) -> Result<T, StoreError>
    where
        F: FnOnce(PgClient) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, PgError>> + Send + 'static,
        T: Send + 'static,
    {
        let deadline = Instant::now() + RETRY_FOR;
        let mut delay = Duration::from_millis(50);
        loop {
            match self.pg.run(make()) {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() && Instant::now() < deadline => {
                    tracing::warn!(error = %e, "database unavailable; retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(StoreError::Io(e.to_string())),
            }
        }
    }

    fn seal_json<T: Serialize + ?Sized>(
        &self,
        ctx: &[u8],
        what: &str,
        value: &T,
    ) -> Result<Vec<u8>, StoreError> {
        super::seal_json(&self.key, ctx, what, value)
    }

    fn open_json<T: DeserializeOwned>(
        &self,
        ctx: &[u8],
        what: &str,
        sealed: &[u8],
    ) -> Result<T, StoreError> {
        super::open_json(&self.key, ctx, what, sealed)
    }

    /// One sealed value by its text key.
    fn get_sealed(&self, sql: &'static str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.call(move || {
            let key = key.clone();
            move |c: PgClient| async move {
                match c.query_opt(sql, &[&key]).await? {
                    Some(row) => row.try_get(0).map(Some).map_err(row_err),
                    None => Ok(None),
                }
            }
        })
    }

    fn execute(
        &self,
        sql: &'static str,
        key: &str,
        value: Option<Vec<u8>>,
    ) -> Result<u64, StoreError> {
        let key = key.to_owned();
        self.call(move || {
            let (key, value) = (key.clone(), value.clone());
            move |c: PgClient| async move {
                Ok(match value {
                    Some(v) => c.execute(sql, &[&key, &v]).await?,
                    None => c.execute(sql, &[&key]).await?,
                })
            }
        })
    }

    /// Saves a sealed configuration value and bumps the version other
    /// processes check, in one transaction.
    fn save_config(&self, sql: &'static str, key: &str, sealed: Vec<u8>) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.call(move || {
            let (key, sealed) = (key.clone(), sealed.clone());
            move |mut c: PgClient| async move {
                let tx = c.transaction().await?;
                tx.execute(sql, &[&key, &sealed]).await?;
                tx.execute("UPDATE node_config_version SET version = version + 1", &[])
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        })
    }

    fn lid_index(&self, ls_url: &str, record_id: &str) -> Vec<u8> {
        self.key
            .mac(
                b"sel-node-store/lid-index",
                &context("lid", &[ls_url, record_id]),
            )
            .to_vec()
    }

    fn cache_chunk_context(meta: &CacheMeta, index: u64) -> Vec<u8> {
        context(
            "cache-chunk",
            &[
                &meta.requester,
                &meta.fetched_at.to_string(),
                &index.to_string(),
            ],
        )
    }

    /// Jobs returned by a claiming statement.
    fn claimed(
        &self,
        sql: &'static str,
        id: Option<String>,
        mine: Vec<String>,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let (owner, lease) = (self.owner.clone(), self.lease_ms());
        let texts: Vec<String> = self.call(move || {
            let (owner, id, mine) = (owner.clone(), id.clone(), mine.clone());
            move |c: PgClient| async move {
                let rows = match id {
                    Some(id) => c.query(sql, &[&owner, &lease, &id]).await?,
                    None if sql.contains("$3") => c.query(sql, &[&owner, &lease, &mine]).await?,
                    None => c.query(sql, &[&owner, &lease]).await?,
                };
                rows.iter()
                    .map(|r| r.try_get::<_, String>(0).map_err(row_err))
                    .collect()
            }
        })?;
        texts.iter().map(|t| parse_job(t)).collect()
    }
}

impl NodeStore for PgStore {
    fn load_local(&self) -> Result<Option<InitLocal>, StoreError> {
        match self.get_sealed("SELECT sealed FROM node_local WHERE name = $1", "local")? {
            Some(sealed) => self
                .open_json(&context("local", &[]), "local configuration", &sealed)
                .map(Some),
            None => Ok(None),
        }
    }

    fn save_local(&self, init: &InitLocal) -> Result<(), StoreError> {
        let sealed = self.seal_json(&context("local", &[]), "local configuration", init)?;
        self.save_config(
            "INSERT INTO node_local (name, sealed) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET sealed = EXCLUDED.sealed",
            "local",
            sealed,
        )
    }

    fn load_remotes(&self) -> Result<Vec<(String, InitRemote)>, StoreError> {
        let rows: Vec<(String, Vec<u8>)> = self.call(|| {
            |c: PgClient| async move {
                let rows = c
                    .query("SELECT id, sealed FROM node_remotes ORDER BY id", &[])
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get(0).map_err(row_err)?,
                            r.try_get(1).map_err(row_err)?,
                        ))
                    })
                    .collect()
            }
        })?;
        rows.into_iter()
            .map(|(id, sealed)| {
                let remote =
                    self.open_json(&context("remote", &[&id]), &format!("remote {id}"), &sealed)?;
                Ok((id, remote))
            })
            .collect()
    }

    fn save_remote(&self, id: &str, remote: &InitRemote) -> Result<(), StoreError> {
        let sealed = self.seal_json(&context("remote", &[id]), &format!("remote {id}"), remote)?;
        self.save_config(
            "INSERT INTO node_remotes (id, sealed) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET sealed = EXCLUDED.sealed",
            id,
            sealed,
        )
    }

    fn save_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        let text = serde_json::to_string(job)
            .map_err(|e| StoreError::Corrupt(format!("job {}: cannot serialise: {e}", job.id)))?;
        let (id, side, status, remote, created) = (
            job.id.clone(),
            side_str(job.side),
            job.status.as_str(),
            job.remote_id.clone(),
            db_millis(job.created),
        );
        let (owner, lease) = (self.owner.clone(), self.lease_ms());
        // A new QUEUED client job waits for any process to claim it; any
        // other new job belongs to this process. An existing row is only
        // written by its holder, except a final server-side job that its
        // remote announces again (a retry after a refusal).
        let written: u64 = self.call(move || {
            let (id, remote, text, owner) = (id.clone(), remote.clone(), text.clone(), owner.clone());
            move |c: PgClient| async move {
                Ok(c.execute(
                    &format!(
                        "INSERT INTO node_jobs
                            (id, side, status, remote_id, created, record, owner, lease_until)
                         VALUES ($1, $2, $3, $4, $5, $6::text::jsonb,
                            CASE WHEN $2 = 'client' AND $3 = 'QUEUED' THEN NULL ELSE $7 END,
                            CASE WHEN $2 = 'client' AND $3 = 'QUEUED' THEN NULL
                                 ELSE clock_timestamp() + $8 * interval '1 millisecond' END)
                         ON CONFLICT (id) DO UPDATE SET
                            side = EXCLUDED.side, status = EXCLUDED.status,
                            remote_id = EXCLUDED.remote_id, created = EXCLUDED.created,
                            record = EXCLUDED.record,
                            owner = CASE WHEN node_jobs.owner IS NULL OR node_jobs.owner = $7
                                         THEN node_jobs.owner ELSE $7 END,
                            lease_until = CASE WHEN node_jobs.owner IS NULL
                                               THEN node_jobs.lease_until
                                               ELSE clock_timestamp() + $8 * interval '1 millisecond' END
                         WHERE node_jobs.owner IS NULL OR node_jobs.owner = $7
                            OR (node_jobs.status IN {FINAL} AND EXCLUDED.side = 'server'
                                AND EXCLUDED.status NOT IN {FINAL})"
                    ),
                    &[&id, &side, &status, &remote, &created, &text, &owner, &lease],
                )
                .await?)
            }
        })?;
        if written == 0 {
            return Err(StoreError::Io(format!(
                "job {} is held by another node process",
                job.id
            )));
        }
        Ok(())
    }

    fn load_job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let id = id.to_owned();
        let text: Option<String> = self.call(move || {
            let id = id.clone();
            move |c: PgClient| async move {
                match c
                    .query_opt("SELECT record::text FROM node_jobs WHERE id = $1", &[&id])
                    .await?
                {
                    Some(row) => row.try_get(0).map(Some).map_err(row_err),
                    None => Ok(None),
                }
            }
        })?;
        text.as_deref().map(parse_job).transpose()
    }

    fn load_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        let texts: Vec<String> = self.call(|| {
            |c: PgClient| async move {
                let rows = c
                    .query(
                        "SELECT record::text FROM node_jobs ORDER BY created, id",
                        &[],
                    )
                    .await?;
                rows.iter().map(|r| r.try_get(0).map_err(row_err)).collect()
            }
        })?;
        texts.iter().map(|t| parse_job(t)).collect()
    }

    fn save_job_input(&self, job_id: &str, records: &[WireRecord]) -> Result<(), StoreError> {
        let sealed = self.seal_json(
            &context("job-input", &[job_id]),
            &format!("input of job {job_id}"),
            records,
        )?;
        self.execute(
            "INSERT INTO node_job_inputs (job_id, sealed) VALUES ($1, $2)
             ON CONFLICT (job_id) DO UPDATE SET sealed = EXCLUDED.sealed",
            job_id,
            Some(sealed),
        )
        .map(drop)
    }

    fn load_job_input(&self, job_id: &str) -> Result<Option<Vec<WireRecord>>, StoreError> {
        match self.get_sealed(
            "SELECT sealed FROM node_job_inputs WHERE job_id = $1",
            job_id,
        )? {
            Some(sealed) => self
                .open_json(
                    &context("job-input", &[job_id]),
                    &format!("input of job {job_id}"),
                    &sealed,
                )
                .map(Some),
            None => Ok(None),
        }
    }

    fn delete_job_input(&self, job_id: &str) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM node_job_inputs WHERE job_id = $1",
            job_id,
            None,
        )
        .map(drop)
    }

    fn save_idempotency(
        &self,
        key_hash: &[u8; 32],
        job_id: &str,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        let now = db_millis(crate::model::now_millis());
        let (hash, job_id, expires_at) =
            (key_hash.to_vec(), job_id.to_owned(), db_millis(expires_at));
        self.call(move || {
            let (hash, job_id) = (hash.clone(), job_id.clone());
            move |c: PgClient| async move {
                // Forget what has expired while we are writing anyway.
                c.execute(
                    "DELETE FROM node_idempotency WHERE expires_at <= $1",
                    &[&now],
                )
                .await?;
                c.execute(
                    "INSERT INTO node_idempotency (key_hash, job_id, expires_at)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (key_hash) DO UPDATE
                        SET job_id = EXCLUDED.job_id, expires_at = EXCLUDED.expires_at",
                    &[&hash, &job_id, &expires_at],
                )
                .await?;
                Ok(())
            }
        })
    }

    fn lookup_idempotency(
        &self,
        key_hash: &[u8; 32],
        now: Millis,
    ) -> Result<Option<String>, StoreError> {
        let (hash, now) = (key_hash.to_vec(), db_millis(now));
        self.call(move || {
            let hash = hash.clone();
            move |c: PgClient| async move {
                let row = c
                    .query_opt(
                        "SELECT job_id, expires_at FROM node_idempotency WHERE key_hash = $1",
                        &[&hash],
                    )
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let at: i64 = row.try_get(1).map_err(row_err)?;
                if at <= now {
                    c.execute("DELETE FROM node_idempotency WHERE key_hash = $1", &[&hash])
                        .await?;
                    return Ok(None);
                }
                row.try_get(0).map(Some).map_err(row_err)
            }
        })
    }

    fn save_cache(&self, meta: &CacheMeta, records: &[WireRecord]) -> Result<(), StoreError> {
        let requester = meta.requester.clone();
        let sealed_meta = self.seal_json(
            &context("cache-meta", &[&requester]),
            &format!("cache meta of {requester}"),
            meta,
        )?;
        let chunks: Vec<(i64, Vec<u8>)> = (0u64..)
            .zip(records.chunks(CACHE_CHUNK))
            .map(|(index, chunk)| {
                let sealed = self.seal_json(
                    &Self::cache_chunk_context(meta, index),
                    &format!("cache of {requester}"),
                    chunk,
                )?;
                Ok((index as i64, sealed))
            })
            .collect::<Result<_, StoreError>>()?;
        let chunks = Arc::new(chunks);
        self.call(move || {
            let (requester, sealed_meta, chunks) =
                (requester.clone(), sealed_meta.clone(), chunks.clone());
            move |mut c: PgClient| async move {
                let tx = c.transaction().await?;
                tx.execute(
                    "DELETE FROM node_cache_chunks WHERE requester = $1",
                    &[&requester],
                )
                .await?;
                let insert = tx
                    .prepare(
                        "INSERT INTO node_cache_chunks (requester, chunk, sealed) VALUES ($1, $2, $3)",
                    )
                    .await?;
                for (index, sealed) in chunks.iter() {
                    tx.execute(&insert, &[&requester, index, sealed]).await?;
                }
                tx.execute(
                    "INSERT INTO node_cache_meta (requester, sealed) VALUES ($1, $2)
                     ON CONFLICT (requester) DO UPDATE SET sealed = EXCLUDED.sealed",
                    &[&requester, &sealed_meta],
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }
        })
    }

    fn load_cache_meta(&self, requester: &str) -> Result<Option<CacheMeta>, StoreError> {
        match self.get_sealed(
            "SELECT sealed FROM node_cache_meta WHERE requester = $1",
            requester,
        )? {
            Some(sealed) => self
                .open_json(
                    &context("cache-meta", &[requester]),
                    &format!("cache meta of {requester}"),
                    &sealed,
                )
                .map(Some),
            None => Ok(None),
        }
    }

    fn load_cache(
        &self,
        requester: &str,
    ) -> Result<Option<(CacheMeta, Vec<WireRecord>)>, StoreError> {
        let key = requester.to_owned();
        // Meta and chunks in one snapshot, so a concurrent save is seen
        // whole or not at all.
        let found: Option<SealedCache> = self.call(move || {
            let key = key.clone();
            move |mut c: PgClient| async move {
                let tx = c
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await?;
                let Some(meta) = tx
                    .query_opt(
                        "SELECT sealed FROM node_cache_meta WHERE requester = $1",
                        &[&key],
                    )
                    .await?
                else {
                    return Ok(None);
                };
                let rows = tx
                    .query(
                        "SELECT chunk, sealed FROM node_cache_chunks WHERE requester = $1
                         ORDER BY chunk",
                        &[&key],
                    )
                    .await?;
                let chunks = rows
                    .iter()
                    .map(|r| {
                        Ok((
                            r.try_get(0).map_err(row_err)?,
                            r.try_get(1).map_err(row_err)?,
                        ))
                    })
                    .collect::<Result<Vec<_>, PgError>>()?;
                tx.commit().await?;
                Ok(Some((meta.try_get(0).map_err(row_err)?, chunks)))
            }
        })?;
        let Some((sealed_meta, chunks)) = found else {
            return Ok(None);
        };
        let meta: CacheMeta = self.open_json(
            &context("cache-meta", &[requester]),
            &format!("cache meta of {requester}"),
            &sealed_meta,
        )?;
        let mut records =
            Vec::with_capacity(usize::try_from(meta.records).unwrap_or(0).min(1 << 20));
        for (expected, (index, sealed)) in (0i64..).zip(&chunks) {
            if *index != expected {
                return Err(StoreError::Corrupt(format!(
                    "cache of {requester}: chunk {expected} is missing"
                )));
            }
            let chunk: Vec<WireRecord> = self.open_json(
                &Self::cache_chunk_context(&meta, expected as u64),
                &format!("cache of {requester}, chunk {index}"),
                sealed,
            )?;
            records.extend(chunk);
        }
        if records.len() as u64 != meta.records {
            return Err(StoreError::Corrupt(format!(
                "cache of {requester}: {} records stored, {} expected",
                records.len(),
                meta.records
            )));
        }
        Ok(Some((meta, records)))
    }

    fn delete_cache(&self, requester: &str) -> Result<(), StoreError> {
        let key = requester.to_owned();
        self.call(move || {
            let key = key.clone();
            move |mut c: PgClient| async move {
                let tx = c.transaction().await?;
                tx.execute(
                    "DELETE FROM node_cache_chunks WHERE requester = $1",
                    &[&key],
                )
                .await?;
                tx.execute("DELETE FROM node_cache_meta WHERE requester = $1", &[&key])
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        })
    }

    fn load_lids(
        &self,
        ls_url: &str,
        record_ids: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let indexes: Vec<Vec<u8>> = record_ids
            .iter()
            .map(|id| self.lid_index(ls_url, id))
            .collect();
        let asked = Arc::new(indexes.clone());
        let found: Vec<(Vec<u8>, Vec<u8>)> = self.call(move || {
            let asked = asked.clone();
            move |c: PgClient| async move {
                let rows = c
                    .query(
                        "SELECT idx, sealed FROM node_lids WHERE idx = ANY($1)",
                        &[&*asked],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get(0).map_err(row_err)?,
                            r.try_get(1).map_err(row_err)?,
                        ))
                    })
                    .collect()
            }
        })?;
        let found: std::collections::HashMap<Vec<u8>, Vec<u8>> = found.into_iter().collect();
        record_ids
            .iter()
            .zip(&indexes)
            .enumerate()
            .map(|(i, (id, index))| match found.get(index) {
                Some(sealed) => {
                    let plain = self
                        .key
                        .open(&context("lid", &[ls_url, id]), sealed)
                        .map_err(|_| StoreError::Unseal(format!("LID of record index {i}")))?;
                    String::from_utf8(plain.to_vec()).map(Some).map_err(|_| {
                        StoreError::Corrupt(format!("LID of record index {i} is not UTF-8"))
                    })
                }
                None => Ok(None),
            })
            .collect()
    }

    fn save_lids(&self, ls_url: &str, pairs: &[(String, String)]) -> Result<(), StoreError> {
        let (indexes, sealed): (Vec<Vec<u8>>, Vec<Vec<u8>>) = pairs
            .iter()
            .map(|(record_id, lid)| {
                (
                    self.lid_index(ls_url, record_id),
                    self.key
                        .seal(&context("lid", &[ls_url, record_id]), lid.as_bytes()),
                )
            })
            .unzip();
        let rows = Arc::new((indexes, sealed));
        self.call(move || {
            let rows = rows.clone();
            move |c: PgClient| async move {
                c.execute(
                    "INSERT INTO node_lids (idx, sealed)
                     SELECT * FROM unnest($1::bytea[], $2::bytea[])
                     ON CONFLICT (idx) DO UPDATE SET sealed = EXCLUDED.sealed",
                    &[&rows.0, &rows.1],
                )
                .await?;
                Ok(())
            }
        })
    }
}

impl SharedJobs for PgStore {
    fn config_version(&self) -> Result<i64, StoreError> {
        self.call(|| {
            |c: PgClient| async move {
                let row = c
                    .query_one("SELECT version FROM node_config_version", &[])
                    .await?;
                row.try_get(0).map_err(row_err)
            }
        })
    }

    fn submit(
        &self,
        job: &JobRecord,
        input: &[WireRecord],
        bounds: QueueBounds,
        idempotency: Option<(&[u8; 32], Millis)>,
    ) -> Result<SubmitOutcome, StoreError> {
        let sealed = self.seal_json(
            &context("job-input", &[&job.id]),
            &format!("input of job {}", job.id),
            input,
        )?;
        let text = serde_json::to_string(job)
            .map_err(|e| StoreError::Corrupt(format!("job {}: cannot serialise: {e}", job.id)))?;
        let id = job.id.clone();
        let remote = job.remote_id.clone();
        let created = db_millis(job.created);
        let now = db_millis(crate::model::now_millis());
        let idempotency = idempotency.map(|(h, at)| (h.to_vec(), db_millis(at)));
        let (max_total, max_remote) = (bounds.max_total as i64, bounds.max_per_remote as i64);
        let shared = Arc::new((sealed, text));
        self.call(move || {
            let (id, remote, idempotency, shared) = (
                id.clone(),
                remote.clone(),
                idempotency.clone(),
                shared.clone(),
            );
            move |mut c: PgClient| async move {
                let tx = c.transaction().await?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SUBMIT_LOCK])
                    .await?;
                // A retry of a submission whose commit went through.
                if tx
                    .query_opt("SELECT 1 FROM node_jobs WHERE id = $1", &[&id])
                    .await?
                    .is_some()
                {
                    return Ok(SubmitOutcome::Created);
                }
                if let Some((hash, _)) = &idempotency
                    && let Some(row) = tx
                        .query_opt(
                            "SELECT i.job_id FROM node_idempotency i
                             JOIN node_jobs j ON j.id = i.job_id
                             WHERE i.key_hash = $1 AND i.expires_at > $2",
                            &[hash, &now],
                        )
                        .await?
                {
                    return Ok(SubmitOutcome::Existing(row.try_get(0).map_err(row_err)?));
                }
                let row = tx
                    .query_one(
                        "SELECT count(*), count(*) FILTER (WHERE remote_id = $1)
                         FROM node_jobs
                         WHERE side = 'client' AND status IN ('QUEUED', 'RUNNING', 'HOLD')",
                        &[&remote],
                    )
                    .await?;
                let total: i64 = row.try_get(0).map_err(row_err)?;
                let of_remote: i64 = row.try_get(1).map_err(row_err)?;
                if total >= max_total || of_remote >= max_remote {
                    return Ok(SubmitOutcome::Full);
                }
                tx.execute(
                    "INSERT INTO node_job_inputs (job_id, sealed) VALUES ($1, $2)",
                    &[&id, &shared.0],
                )
                .await?;
                tx.execute(
                    "INSERT INTO node_jobs (id, side, status, remote_id, created, record)
                     VALUES ($1, 'client', 'QUEUED', $2, $3, $4::text::jsonb)",
                    &[&id, &remote, &created, &shared.1],
                )
                .await?;
                if let Some((hash, expires_at)) = &idempotency {
                    tx.execute(
                        "DELETE FROM node_idempotency WHERE expires_at <= $1",
                        &[&now],
                    )
                    .await?;
                    tx.execute(
                        "INSERT INTO node_idempotency (key_hash, job_id, expires_at)
                         VALUES ($1, $2, $3)
                         ON CONFLICT (key_hash) DO UPDATE
                            SET job_id = EXCLUDED.job_id, expires_at = EXCLUDED.expires_at",
                        &[hash, &id, expires_at],
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(SubmitOutcome::Created)
            }
        })
    }

    fn claim_next(&self) -> Result<Option<JobRecord>, StoreError> {
        let (owner, lease) = (self.owner.clone(), self.lease_ms());
        let text: Option<String> = self.call(move || {
            let owner = owner.clone();
            move |mut c: PgClient| async move {
                let tx = c.transaction().await?;
                // The oldest unheld QUEUED job towards a remote whose peer
                // connection no other live process holds, those towards
                // remotes this process holds first (so that processes
                // spread over the remotes instead of one taking them all).
                let Some(row) = tx
                    .query_opt(
                        "SELECT j.id, j.remote_id FROM node_jobs j
                         LEFT JOIN node_peer_holders h ON h.remote_id = j.remote_id
                         WHERE j.side = 'client' AND j.status = 'QUEUED' AND j.owner IS NULL
                           AND (h.owner IS NULL OR h.owner = $1
                                OR h.lease_until < clock_timestamp())
                         ORDER BY (h.owner IS NOT DISTINCT FROM $1) DESC, j.created, j.id
                         LIMIT 1
                         FOR UPDATE OF j SKIP LOCKED",
                        &[&owner],
                    )
                    .await?
                else {
                    return Ok(None);
                };
                let id: String = row.try_get(0).map_err(row_err)?;
                let remote: String = row.try_get(1).map_err(row_err)?;
                if !hold_peer_in(&tx, &owner, lease, &remote).await? {
                    // Another process took the remote meanwhile.
                    return Ok(None);
                }
                let row = tx
                    .query_one(
                        "UPDATE node_jobs
                         SET owner = $1, lease_until = clock_timestamp() + $2 * interval '1 millisecond'
                         WHERE id = $3
                         RETURNING record::text",
                        &[&owner, &lease, &id],
                    )
                    .await?;
                let text: String = row.try_get(0).map_err(row_err)?;
                tx.commit().await?;
                Ok(Some(text))
            }
        })?;
        text.as_deref().map(parse_job).transpose()
    }

    fn hold_peer(&self, remote_id: &str) -> Result<bool, StoreError> {
        let (owner, lease, remote) = (self.owner.clone(), self.lease_ms(), remote_id.to_owned());
        self.call(move || {
            let (owner, remote) = (owner.clone(), remote.clone());
            move |mut c: PgClient| async move {
                let tx = c.transaction().await?;
                let held = hold_peer_in(&tx, &owner, lease, &remote).await?;
                tx.commit().await?;
                Ok(held)
            }
        })
    }

    fn claim(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        Ok(self
            .claimed(
                "UPDATE node_jobs
                 SET owner = $1, lease_until = clock_timestamp() + $2 * interval '1 millisecond'
                 WHERE id = $3 AND status NOT IN ('DONE', 'FAULT')
                   AND (owner IS NULL OR lease_until < clock_timestamp())
                 RETURNING record::text",
                Some(id.to_owned()),
                Vec::new(),
            )?
            .pop())
    }

    fn claim_expired(&self, mine: &[String]) -> Result<Vec<JobRecord>, StoreError> {
        self.claimed(
            "UPDATE node_jobs
             SET owner = $1, lease_until = clock_timestamp() + $2 * interval '1 millisecond'
             WHERE id IN (
                SELECT id FROM node_jobs
                WHERE owner IS NOT NULL AND status NOT IN ('DONE', 'FAULT')
                  AND lease_until < clock_timestamp() AND NOT (id = ANY($3))
                ORDER BY created, id
                LIMIT 100
                FOR UPDATE SKIP LOCKED)
             RETURNING record::text",
            None,
            mine.to_vec(),
        )
    }

    fn renew(&self, ids: &[String]) -> Result<Vec<Held>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (owner, lease, ids) = (self.owner.clone(), self.lease_ms(), ids.to_vec());
        self.call(move || {
            let (owner, ids) = (owner.clone(), ids.clone());
            move |c: PgClient| async move {
                let rows = c
                    .query(
                        "UPDATE node_jobs
                         SET lease_until = clock_timestamp() + $2 * interval '1 millisecond'
                         WHERE owner = $1 AND id = ANY($3)
                         RETURNING id, cancel_requested",
                        &[&owner, &lease, &ids],
                    )
                    .await?;
                // The peer connections those jobs use stay this process's.
                c.execute(
                    "UPDATE node_peer_holders
                     SET lease_until = clock_timestamp() + $2 * interval '1 millisecond'
                     WHERE owner = $1 AND remote_id IN (
                        SELECT remote_id FROM node_jobs WHERE owner = $1 AND id = ANY($3))",
                    &[&owner, &lease, &ids],
                )
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Held {
                            id: r.try_get(0).map_err(row_err)?,
                            cancel_requested: r.try_get(1).map_err(row_err)?,
                        })
                    })
                    .collect()
            }
        })
    }

    fn release(&self, id: &str) -> Result<(), StoreError> {
        let (owner, id) = (self.owner.clone(), id.to_owned());
        self.call(move || {
            let (owner, id) = (owner.clone(), id.clone());
            move |c: PgClient| async move {
                c.execute(
                    "UPDATE node_jobs SET owner = NULL, lease_until = NULL
                     WHERE id = $2 AND owner = $1 AND status = 'QUEUED'",
                    &[&owner, &id],
                )
                .await?;
                Ok(())
            }
        })
    }

    fn request_cancel(&self, id: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE node_jobs SET cancel_requested = true
             WHERE id = $1 AND status NOT IN ('DONE', 'FAULT')",
            id,
            None,
        )
        .map(drop)
    }
}

/// Takes or renews the peer lease of `remote` for `owner` inside `tx`:
/// false when another process holds it and its lease has not run out.
async fn hold_peer_in(
    tx: &tokio_postgres::Transaction<'_>,
    owner: &str,
    lease: f64,
    remote: &str,
) -> Result<bool, PgError> {
    Ok(tx
        .query_opt(
            "INSERT INTO node_peer_holders (remote_id, owner, lease_until)
             VALUES ($3, $1, clock_timestamp() + $2 * interval '1 millisecond')
             ON CONFLICT (remote_id) DO UPDATE
                SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until
                WHERE node_peer_holders.owner = EXCLUDED.owner
                   OR node_peer_holders.lease_until < clock_timestamp()
             RETURNING 1",
            &[&owner, &lease, &remote],
        )
        .await?
        .is_some())
}
