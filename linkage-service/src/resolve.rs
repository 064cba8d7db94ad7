//! Turning the per-record decisions of a job into linkage IDs for the client.
//!
//! I/O-free: the caller supplies the server's opened LIDs, the client's key and
//! a CSPRNG, and stores what this returns.
//!
//! * **Match**: the server's LID at the best index, re-sealed for the client,
//!   so both sites now hold the same LID for the same patient.
//! * **No match**: a fresh LID (the patient is new to the server).
//! * **Tentative only**: a fresh LID with `"tentative": true`. Handing out the
//!   server's LID here would merge two patients on an uncertain score, and an
//!   automatic merge cannot be undone by either site; a fresh LID keeps them
//!   apart. The pair (fresh LID, server LID at best index) is kept sealed in
//!   the store so a clerical reviewer can merge them later.
//!
//! Indices are in range here: [`crate::combine::combine`] refuses a job with
//! any index outside the server's database.

use protocol_spec::messages::linkage::{LinkageIdResult, LinkageResultResponse};
use rand::CryptoRng;

use crate::combine::RecordDecision;
use crate::keys::SiteKey;
use crate::lid::{Lid, seal_lid};
use crate::store::LidOrigin;

/// A tentative match to be kept for clerical review.
#[derive(Debug, Clone)]
pub struct ReviewDraft {
    pub record_index: usize,
    pub server_index: usize,
    pub fresh_lid: Lid,
    pub server_lid: Lid,
}

/// Everything a resolved job produces.
#[derive(Debug)]
pub struct ResolvedJob {
    /// One entry per query record, in query order.
    pub client_reply: LinkageResultResponse,
    /// Empty `result`: the server must not learn which of its rows matched.
    pub server_reply: LinkageResultResponse,
    /// Fresh LIDs handed out, to be recorded in the store.
    pub fresh: Vec<(Lid, LidOrigin)>,
    /// Server LIDs handed to the client on a match (the client now holds
    /// them too), to be recorded in the store.
    pub linked: Vec<Lid>,
    pub reviews: Vec<ReviewDraft>,
}

/// Resolves every record of a job for `client_site`. Every index in
/// `decisions` must lie inside `server_lids` (as `combine` guarantees); a
/// record that breaks this gets no LID rather than a panic.
pub fn resolve(
    decisions: &[RecordDecision],
    server_lids: &[Lid],
    client_site: &str,
    client_key: &SiteKey,
    rng: &mut impl CryptoRng,
) -> ResolvedJob {
    let mut result = Vec::with_capacity(decisions.len());
    let mut fresh = Vec::new();
    let mut linked = Vec::new();
    let mut reviews = Vec::new();
    for (record, decision) in decisions.iter().enumerate() {
        let item = match *decision {
            RecordDecision::Match { server_index } => match server_lids.get(server_index) {
                Some(lid) => {
                    linked.push(lid.clone());
                    LinkageIdResult {
                        linkage_id: Some(seal_lid(client_key, client_site, lid, rng)),
                        tentative: false,
                    }
                }
                None => LinkageIdResult::default(),
            },
            RecordDecision::NoMatch => {
                let lid = Lid::random(rng);
                let sealed = seal_lid(client_key, client_site, &lid, rng);
                fresh.push((lid, LidOrigin::NoMatch));
                LinkageIdResult {
                    linkage_id: Some(sealed),
                    tentative: false,
                }
            }
            RecordDecision::Tentative { server_index } => {
                let lid = Lid::random(rng);
                let sealed = seal_lid(client_key, client_site, &lid, rng);
                if let Some(server_lid) = server_lids.get(server_index) {
                    reviews.push(ReviewDraft {
                        record_index: record,
                        server_index,
                        fresh_lid: lid.clone(),
                        server_lid: server_lid.clone(),
                    });
                }
                fresh.push((lid, LidOrigin::Tentative));
                LinkageIdResult {
                    linkage_id: Some(sealed),
                    tentative: true,
                }
            }
        };
        result.push(item);
    }
    ResolvedJob {
        client_reply: LinkageResultResponse {
            result,
            warning: None,
            error: None,
        },
        server_reply: LinkageResultResponse::default(),
        fresh,
        linked,
        reviews,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lid::open_lid;

    #[test]
    fn each_decision_gets_its_lid() {
        let mut rng = rand::rng();
        let client_key = SiteKey::generate();
        let server_lids: Vec<Lid> = (0..3).map(|_| Lid::random(&mut rng)).collect();
        let decisions = [
            RecordDecision::Match { server_index: 2 },
            RecordDecision::NoMatch,
            RecordDecision::Tentative { server_index: 0 },
        ];
        let job = resolve(&decisions, &server_lids, "C", &client_key, &mut rng);
        let r = &job.client_reply.result;
        assert_eq!(r.len(), 3);
        let open =
            |i: usize| open_lid(&client_key, "C", r[i].linkage_id.as_ref().unwrap()).unwrap();
        assert_eq!(open(0), server_lids[2]);
        assert!(!r[0].tentative);
        assert_eq!(job.linked, vec![server_lids[2].clone()]);
        let fresh = open(1);
        assert!(server_lids.iter().all(|l| *l != fresh));
        assert!(r[2].tentative);
        assert_eq!(open(2), job.reviews[0].fresh_lid);
        assert_eq!(job.reviews[0].server_lid, server_lids[0]);
        assert_eq!(job.reviews[0].record_index, 2);
        assert_eq!(job.fresh.len(), 2);
        assert_eq!(job.fresh[0].1, LidOrigin::NoMatch);
        assert_eq!(job.fresh[1].1, LidOrigin::Tentative);
        assert!(job.client_reply.warning.is_none());
        assert!(job.server_reply.result.is_empty());
        assert!(job.server_reply.warning.is_none());
    }
}
