//! The store in memory: for tests and ephemeral runs. Nothing reaches a disk,
//! so nothing is sealed; everything is gone when the process ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use protocol_spec::messages::mainsel::{InitLocal, InitRemote, WireRecord};

use super::{CacheMeta, NodeStore, StoreError};
use crate::model::{JobRecord, Millis};

#[derive(Default)]
struct State {
    local: Option<InitLocal>,
    remotes: BTreeMap<String, InitRemote>,
    jobs: HashMap<String, JobRecord>,
    job_inputs: HashMap<String, Vec<WireRecord>>,
    idempotency: HashMap<[u8; 32], (String, Millis)>,
    caches: HashMap<String, (CacheMeta, Vec<WireRecord>)>,
    /// (linkage service URL, record id) → LID.
    lids: HashMap<(String, String), String>,
}

/// [`NodeStore`] in memory.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore(..)")
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Io("the memory store's lock is poisoned".into()))
    }
}

impl NodeStore for MemoryStore {
    fn load_local(&self) -> Result<Option<InitLocal>, StoreError> {
        Ok(self.state()?.local.clone())
    }

    fn save_local(&self, init: &InitLocal) -> Result<(), StoreError> {
        self.state()?.local = Some(init.clone());
        Ok(())
    }

    fn load_remotes(&self) -> Result<Vec<(String, InitRemote)>, StoreError> {
        Ok(self
            .state()?
            .remotes
            .iter()
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect())
    }

    fn save_remote(&self, id: &str, remote: &InitRemote) -> Result<(), StoreError> {
        self.state()?.remotes.insert(id.to_string(), remote.clone());
        Ok(())
    }

    fn save_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        self.state()?.jobs.insert(job.id.clone(), job.clone());
        Ok(())
    }

    fn load_job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.state()?.jobs.get(id).cloned())
    }

    fn load_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        let mut jobs: Vec<JobRecord> = self.state()?.jobs.values().cloned().collect();
        jobs.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        Ok(jobs)
    }

    fn save_job_input(&self, job_id: &str, records: &[WireRecord]) -> Result<(), StoreError> {
        self.state()?
            .job_inputs
            .insert(job_id.to_string(), records.to_vec());
        Ok(())
    }

    fn load_job_input(&self, job_id: &str) -> Result<Option<Vec<WireRecord>>, StoreError> {
        Ok(self.state()?.job_inputs.get(job_id).cloned())
    }

    fn delete_job_input(&self, job_id: &str) -> Result<(), StoreError> {
        self.state()?.job_inputs.remove(job_id);
        Ok(())
    }

    fn save_idempotency(
        &self,
        key_hash: &[u8; 32],
        job_id: &str,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        let now = crate::model::now_millis();
        let mut state = self.state()?;
        state.idempotency.retain(|_, (_, at)| *at > now);
        state
            .idempotency
            .insert(*key_hash, (job_id.to_string(), expires_at));
        Ok(())
    }

    fn lookup_idempotency(
        &self,
        key_hash: &[u8; 32],
        now: Millis,
    ) -> Result<Option<String>, StoreError> {
        let mut state = self.state()?;
        match state.idempotency.get(key_hash) {
            Some((job, at)) if *at > now => Ok(Some(job.clone())),
            Some(_) => {
                state.idempotency.remove(key_hash);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    fn save_cache(&self, meta: &CacheMeta, records: &[WireRecord]) -> Result<(), StoreError> {
        self.state()?
            .caches
            .insert(meta.requester.clone(), (meta.clone(), records.to_vec()));
        Ok(())
    }

    fn load_cache_meta(&self, requester: &str) -> Result<Option<CacheMeta>, StoreError> {
        Ok(self.state()?.caches.get(requester).map(|(m, _)| m.clone()))
    }

    fn load_cache(
        &self,
        requester: &str,
    ) -> Result<Option<(CacheMeta, Vec<WireRecord>)>, StoreError> {
        Ok(self.state()?.caches.get(requester).cloned())
    }

    fn delete_cache(&self, requester: &str) -> Result<(), StoreError> {
        self.state()?.caches.remove(requester);
        Ok(())
    }

    fn load_lids(
        &self,
        ls_url: &str,
        record_ids: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let state = self.state()?;
        Ok(record_ids
            .iter()
            .map(|id| state.lids.get(&(ls_url.to_string(), id.clone())).cloned())
            .collect())
    }

    fn save_lids(&self, ls_url: &str, pairs: &[(String, String)]) -> Result<(), StoreError> {
        let mut state = self.state()?;
        for (id, lid) in pairs {
            state
                .lids
                .insert((ls_url.to_string(), id.clone()), lid.clone());
        }
        Ok(())
    }
}
