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
    /// The score cleared only the tentative threshold; `server_index` is the
    /// best row.
    Tentative { server_index: usize },
    /// Below both thresholds.
    NoMatch,
}

/// Why two posts cannot be combined at all.
///
/// Deliberately without the record position or the index: the error is
/// answered to both nodes, and an out-of-range index would tell the client
/// something about the server's rows (SPEC §10).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CombineError {
    #[error("the server sent {server} share records but the client sent {client}")]
    LengthMismatch { server: usize, client: usize },
    #[error(
        "the combined shares are inconsistent (a best index outside the server's database); \
         nothing was linked"
    )]
    IndexOutOfRange,
}

/// XORs the shares record by record. `server_db_len` is N, the number of
/// LIDs the server sent.
///
/// The 2PC's best index is the arg-max over the server's N rows, so it is
/// below N for every record, whatever the bits say; an index at or beyond N
/// means the shares do not belong together (or were tampered with) and the
/// whole job is refused. The match bit takes precedence over the tentative
/// bit (EpiLink sets the tentative bit for every definite match too).
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
    server
        .iter()
        .zip(client)
        .map(|(s, c)| {
            let is_match = s.match_share ^ c.match_share;
            let tentative = s.tentative_share ^ c.tentative_share;
            let best = s.best_index_share ^ c.best_index_share;
            let server_index = usize::try_from(best)
                .ok()
                .filter(|&i| i < server_db_len)
                .ok_or(CombineError::IndexOutOfRange)?;
            Ok(match (is_match, tentative) {
                (true, _) => RecordDecision::Match { server_index },
                (false, true) => RecordDecision::Tentative { server_index },
                (false, false) => RecordDecision::NoMatch,
            })
        })
        .collect()
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
            (false, false, 3, (false, true, 12)),
            (false, true, 1, (true, true, 5)),
            (true, true, 4, (false, false, 1)),
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
                RecordDecision::Tentative { server_index: 1 },
                RecordDecision::Match { server_index: 4 },
            ]
        );
    }

    #[test]
    fn an_index_beyond_the_database_fails_the_job_without_naming_it() {
        for (m, t) in [(true, true), (false, true), (false, false)] {
            let (s, c) = split(m, t, 5, (true, false, 0x1234));
            let err = combine(&[s], &[c], 5).unwrap_err();
            assert_eq!(err, CombineError::IndexOutOfRange);
            assert!(!err.to_string().contains('5'), "{err}");
        }
        let (s, c) = split(true, true, u64::MAX, (false, false, 7));
        assert_eq!(combine(&[s], &[c], 5), Err(CombineError::IndexOutOfRange));
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
