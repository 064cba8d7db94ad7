//! Combining the two nodes' XOR shares into one decision per query record.
//!
//! Pure and I/O-free: this is all the service learns about a job (the match
//! and tentative bits and the best index of each record, and the job's size).

use protocol_spec::messages::linkage::ShareRecord;

/// What the combined shares say about one query record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordDecision {
    /// The score cleared the match threshold; the record is the server's row
    /// `server_index`.
    Match { server_index: usize },
    /// The score cleared only the tentative threshold. `server_index` is the
    /// best row if it lies inside the server's database.
    Tentative { server_index: Option<usize> },
    /// Below both thresholds.
    NoMatch,
    /// The match bit is set but the best index points outside the server's
    /// database: the 2PC output is inconsistent, so no LID can be chosen.
    MatchOutOfRange { best_index: u64 },
}

/// Why two posts cannot be combined at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CombineError {
    #[error("the server sent {server} share records but the client sent {client}")]
    LengthMismatch { server: usize, client: usize },
}

/// XORs the shares record by record. `server_db_len` is the number of LIDs
/// the server sent, i.e. the size of its database.
///
/// The match bit takes precedence over the tentative bit (EpiLink sets the
/// tentative bit for every definite match too).
pub fn combine(
    server: &[ShareRecord],
    client: &[ShareRecord],
    server_db_len: usize,
) -> Result<Vec<RecordDecision>, CombineError> {
    if server.len() != client.len() {
        return Err(CombineError::LengthMismatch {
            server: server.len(),
            client: client.len(),
        });
    }
    Ok(server
        .iter()
        .zip(client)
        .map(|(s, c)| {
            let is_match = s.match_share ^ c.match_share;
            let tentative = s.tentative_share ^ c.tentative_share;
            let best = s.best_index_share ^ c.best_index_share;
            let in_range = usize::try_from(best).ok().filter(|&i| i < server_db_len);
            match (is_match, tentative, in_range) {
                (true, _, Some(server_index)) => RecordDecision::Match { server_index },
                (true, _, None) => RecordDecision::MatchOutOfRange { best_index: best },
                (false, true, server_index) => RecordDecision::Tentative { server_index },
                (false, false, _) => RecordDecision::NoMatch,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a clear (match, tentative, index) triple into two random shares.
    fn split(m: bool, t: bool, idx: u64, mask: (bool, bool, u64)) -> (ShareRecord, ShareRecord) {
        (
            ShareRecord {
                match_share: mask.0,
                tentative_share: mask.1,
                best_index_share: mask.2,
            },
            ShareRecord {
                match_share: m ^ mask.0,
                tentative_share: t ^ mask.1,
                best_index_share: idx ^ mask.2,
            },
        )
    }

    #[test]
    fn xor_of_shares_gives_the_decision() {
        let cases = [
            (true, true, 3, (true, false, 0xdead_beef)),
            (false, false, 7, (false, true, 12)),
            (false, true, 1, (true, true, 5)),
            (true, true, 9, (false, false, 1)),
            (false, true, 42, (true, false, 2)),
        ];
        let (server, client): (Vec<_>, Vec<_>) = cases
            .iter()
            .map(|&(m, t, i, mask)| split(m, t, i, mask))
            .unzip();
        let decisions = combine(&server, &client, 5).unwrap();
        assert_eq!(
            decisions,
            vec![
                RecordDecision::Match { server_index: 3 },
                RecordDecision::NoMatch,
                RecordDecision::Tentative {
                    server_index: Some(1)
                },
                RecordDecision::MatchOutOfRange { best_index: 9 },
                RecordDecision::Tentative { server_index: None },
            ]
        );
    }

    #[test]
    fn lengths_must_agree() {
        let (s, c) = split(true, true, 0, (false, false, 0));
        assert_eq!(
            combine(&[s, s], &[c], 1),
            Err(CombineError::LengthMismatch {
                server: 2,
                client: 1
            })
        );
    }
}
