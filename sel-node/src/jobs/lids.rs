//! The server's LIDs: every database record needs a LID, sealed for this
//! site, from the linkage service of the asking remote, before a linkage job
//! can run (the reference's InitIDs). They are kept in the store per
//! (linkage service, record id), so a record keeps its LID across jobs and
//! restarts; only records without one get fresh LIDs.

use protocol_spec::messages::mainsel::Connection;

use crate::clients::linkage::{LinkageClient, LsError};
use crate::store::NodeStore;

/// Why the LIDs could not be provided.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LidError {
    /// A database record has no id: linkage needs one per record.
    #[error("data service record {index} has no id (linkage mode needs record ids)")]
    MissingId { index: usize },
    #[error("store: {0}")]
    Store(String),
    #[error(transparent)]
    LinkageService(#[from] LsError),
    #[error("the linkage service returned {got} LIDs for {asked} records")]
    Count { got: usize, asked: usize },
}

/// The LIDs of `ids`, in the same order, obtaining fresh ones for records
/// that have none yet.
pub(crate) async fn ensure_lids(
    store: &dyn NodeStore,
    linkage: &LinkageClient,
    ls: &Connection,
    local_id: &str,
    ids: &[Option<String>],
) -> Result<Vec<String>, LidError> {
    let ids: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| id.clone().ok_or(LidError::MissingId { index }))
        .collect::<Result<_, _>>()?;
    let mut lids = store
        .load_lids(&ls.url, &ids)
        .map_err(|e| LidError::Store(e.to_string()))?;
    let missing: Vec<usize> = lids
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.is_none().then_some(i))
        .collect();
    if !missing.is_empty() {
        let fresh = linkage
            .fresh_ids(ls, local_id, missing.len() as u64)
            .await?;
        if fresh.len() != missing.len() {
            return Err(LidError::Count {
                got: fresh.len(),
                asked: missing.len(),
            });
        }
        let pairs: Vec<(String, String)> = missing
            .iter()
            .zip(fresh)
            .map(|(&i, lid)| (ids[i].clone(), lid))
            .collect();
        store
            .save_lids(&ls.url, &pairs)
            .map_err(|e| LidError::Store(e.to_string()))?;
        for ((i, _), (_, lid)) in missing.iter().map(|&i| (i, ())).zip(pairs) {
            lids[i] = Some(lid);
        }
        tracing::info!(fresh = missing.len(), "obtained LIDs for new records");
    }
    Ok(lids.into_iter().map(|l| l.unwrap_or_default()).collect())
}
