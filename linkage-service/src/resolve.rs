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
//! * **Match with an out-of-range index**: no LID (the 2PC output is
//!   inconsistent); the client's reply says why in `warning`.

use protocol_spec::messages::linkage::{LinkageIdResult, LinkageResultResponse};
use rand::CryptoRng;

use crate::combine::RecordDecision;
use crate::keys::SiteKey;
use crate::lid::{Lid, seal_lid};
use crate::store::LidOrigin;

/// How many per-record problems a warning lists before summarising.
const MAX_LISTED_PROBLEMS: usize = 20;

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
    pub reviews: Vec<ReviewDraft>,
}

/// Resolves every record of a job for `client_site`.
pub fn resolve(
    decisions: &[RecordDecision],
    server_lids: &[Lid],
    client_site: &str,
    client_key: &SiteKey,
    rng: &mut impl CryptoRng,
) -> ResolvedJob {
    let mut result = Vec::with_capacity(decisions.len());
    let mut fresh = Vec::new();
    let mut reviews = Vec::new();
    let mut problems = Vec::new();
    for (record, decision) in decisions.iter().enumerate() {
        let item = match *decision {
            RecordDecision::Match { server_index } => match server_lids.get(server_index) {
                Some(lid) => LinkageIdResult {
                    linkage_id: Some(seal_lid(client_key, client_site, lid, rng)),
                    tentative: false,
                },
                None => {
                    problems.push(out_of_range(record, server_index as u64, server_lids.len()));
                    LinkageIdResult::default()
                }
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
                match server_index.and_then(|i| server_lids.get(i).map(|l| (i, l))) {
                    Some((server_index, server_lid)) => reviews.push(ReviewDraft {
                        record_index: record,
                        server_index,
                        fresh_lid: lid.clone(),
                        server_lid: server_lid.clone(),
                    }),
                    None => problems.push(format!(
                        "record {record}: tentative match whose best index lies outside the \
                         server's {} linkage IDs; a fresh linkage ID was issued but no review \
                         pair could be kept",
                        server_lids.len()
                    )),
                }
                fresh.push((lid, LidOrigin::Tentative));
                LinkageIdResult {
                    linkage_id: Some(sealed),
                    tentative: true,
                }
            }
            RecordDecision::MatchOutOfRange { best_index } => {
                problems.push(out_of_range(record, best_index, server_lids.len()));
                LinkageIdResult::default()
            }
        };
        result.push(item);
    }
    ResolvedJob {
        client_reply: LinkageResultResponse {
            result,
            warning: summarise(&problems),
            error: None,
        },
        server_reply: LinkageResultResponse::default(),
        fresh,
        reviews,
    }
}

fn out_of_range(record: usize, best_index: u64, db_len: usize) -> String {
    format!(
        "record {record}: match reported at best index {best_index}, but the server sent only \
         {db_len} linkage IDs; no linkage ID was issued for it"
    )
}

fn summarise(problems: &[String]) -> Option<String> {
    if problems.is_empty() {
        return None;
    }
    let mut text = String::from("The following problem occurred during computation: ");
    text.push_str(
        &problems
            .iter()
            .take(MAX_LISTED_PROBLEMS)
            .cloned()
            .collect::<Vec<_>>()
            .join("; "),
    );
    if problems.len() > MAX_LISTED_PROBLEMS {
        text.push_str(&format!(
            "; and {} more records with the same kind of problem",
            problems.len() - MAX_LISTED_PROBLEMS
        ));
    }
    Some(text)
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
            RecordDecision::Tentative {
                server_index: Some(0),
            },
            RecordDecision::MatchOutOfRange { best_index: 3 },
        ];
        let job = resolve(&decisions, &server_lids, "C", &client_key, &mut rng);
        let r = &job.client_reply.result;
        assert_eq!(r.len(), 4);
        let open =
            |i: usize| open_lid(&client_key, "C", r[i].linkage_id.as_ref().unwrap()).unwrap();
        assert_eq!(open(0), server_lids[2]);
        assert!(!r[0].tentative);
        let fresh = open(1);
        assert!(server_lids.iter().all(|l| *l != fresh));
        assert!(r[2].tentative);
        assert_eq!(open(2), job.reviews[0].fresh_lid);
        assert_eq!(job.reviews[0].server_lid, server_lids[0]);
        assert_eq!(job.reviews[0].record_index, 2);
        assert_eq!(r[3], LinkageIdResult::default());
        assert!(job.client_reply.warning.unwrap().contains("record 3"));
        assert_eq!(job.fresh.len(), 2);
        assert_eq!(job.fresh[0].1, LidOrigin::NoMatch);
        assert_eq!(job.fresh[1].1, LidOrigin::Tentative);
        assert!(job.server_reply.result.is_empty());
        assert!(job.server_reply.warning.is_none());
    }

    #[test]
    fn long_problem_lists_are_summarised() {
        let mut rng = rand::rng();
        let decisions = vec![RecordDecision::MatchOutOfRange { best_index: 1 }; 25];
        let job = resolve(&decisions, &[], "C", &SiteKey::generate(), &mut rng);
        let w = job.client_reply.warning.unwrap();
        assert!(w.contains("record 19:") && !w.contains("record 20:"), "{w}");
        assert!(w.contains("5 more records"), "{w}");
    }
}
