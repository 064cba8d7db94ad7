//! Pairing the two posts of one linkage job.
//!
//! Both nodes of a job post their shares to `/linkageResult`; whichever comes
//! first waits (long-poll) until its partner arrives, and the second one
//! resolves the job for both.
//!
//! Which posts belong together: the two posts of the same unordered site pair
//! carrying the same **job tag** — 32 bytes both nodes derive inside the 2PC
//! from its handshake transcript, so two different jobs never share one, and
//! nobody outside the two nodes can predict it. There is no other way to pair:
//! pairing by arrival order crossed concurrent jobs of equal size and handed
//! the client LIDs of unrelated rows (issue 9, item 7). A second post from the
//! same site for a pending tag is refused (409).
//!
//! Waiting posts are bounded in all and per posting site, so one site cannot
//! lock the others out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use protocol_spec::messages::linkage::{JOB_TAG_LEN, LinkageResultResponse, Role, ShareRecord};
use tokio::sync::oneshot;
use zeroize::Zeroize;

use crate::error::ApiError;
use crate::lid::Lid;

/// What one validated post of a job contributes. `Debug` prints no share,
/// tag or LID; shares and tag are wiped on drop (LIDs wipe themselves).
pub struct Post {
    /// The authenticated site that sent it (`local_id` of the path).
    pub local: String,
    pub remote: String,
    pub role: Role,
    /// The job tag both nodes derived in the 2PC.
    pub tag: [u8; JOB_TAG_LEN],
    /// M, the job's number of query records.
    pub query_records: u64,
    /// N, the job's number of database records.
    pub database_records: u64,
    pub shares: Vec<ShareRecord>,
    /// The server's LIDs, already opened under its key; empty for the client.
    pub server_lids: Vec<Lid>,
}

impl std::fmt::Debug for Post {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Post")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("role", &self.role)
            .field("query_records", &self.query_records)
            .field("database_records", &self.database_records)
            .field("shares", &self.shares.len())
            .field("server_lids", &self.server_lids.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Post {
    fn drop(&mut self) {
        self.tag.zeroize();
        for share in &mut self.shares {
            share.match_share.zeroize();
            share.tentative_share.zeroize();
            share.best_index_share.zeroize();
        }
    }
}

/// What a post is answered with.
pub type Reply = Result<LinkageResultResponse, ApiError>;

#[derive(Clone, PartialEq, Eq, Hash)]
struct PairKey {
    /// The two site ids, ordered, so both directions of a pair share a key.
    sites: (String, String),
    tag: [u8; JOB_TAG_LEN],
}

impl PairKey {
    fn of(post: &Post) -> PairKey {
        let (a, b) = (post.local.clone(), post.remote.clone());
        PairKey {
            sites: if a <= b { (a, b) } else { (b, a) },
            tag: post.tag,
        }
    }
}

struct Waiting {
    ticket: u64,
    post: Post,
    reply: oneshot::Sender<Reply>,
}

#[derive(Default)]
struct Queues {
    by_key: HashMap<PairKey, Waiting>,
    /// Waiting posts per posting site.
    per_site: HashMap<String, usize>,
    next_ticket: u64,
    pending: usize,
}

impl Queues {
    fn forget(&mut self, waiting: &Waiting) {
        self.pending -= 1;
        if let Some(n) = self.per_site.get_mut(&waiting.post.local) {
            *n -= 1;
            if *n == 0 {
                self.per_site.remove(&waiting.post.local);
            }
        }
    }
}

/// The posts waiting for their partner.
pub struct Pairing {
    queues: Mutex<Queues>,
    max_pending: usize,
    max_pending_per_site: usize,
    retry_after_secs: u64,
}

/// The result of a post's arrival.
pub enum Arrival {
    /// The partner was waiting. The caller resolves the job and answers the
    /// partner through `partner_reply`.
    Paired {
        post: Box<Post>,
        partner: Box<Post>,
        partner_reply: oneshot::Sender<Reply>,
    },
    /// No partner yet: wait on the ticket.
    Waiting(WaitTicket),
}

impl Pairing {
    pub fn new(
        max_pending: usize,
        max_pending_per_site: usize,
        retry_after_secs: u64,
    ) -> Arc<Pairing> {
        Arc::new(Pairing {
            queues: Mutex::new(Queues::default()),
            max_pending,
            max_pending_per_site,
            retry_after_secs,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queues> {
        // The queues stay consistent even if a holder panicked (every update
        // is a single insert or remove), so a poisoned lock is still usable.
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of posts currently waiting.
    pub fn pending(&self) -> usize {
        self.lock().pending
    }

    /// Pairs `post` with its waiting partner, or enqueues it.
    pub fn arrive(self: &Arc<Self>, post: Post) -> Result<Arrival, ApiError> {
        let key = PairKey::of(&post);
        let mut q = self.lock();
        if let Some(waiting) = q.by_key.get(&key) {
            if waiting.post.local == post.local {
                return Err(ApiError::DuplicatePost {
                    site: post.local.clone(),
                });
            }
            let waiting = q.by_key.remove(&key).expect("present: just looked it up");
            q.forget(&waiting);
            let Waiting {
                post: partner,
                reply,
                ..
            } = waiting;
            return Ok(Arrival::Paired {
                post: Box::new(post),
                partner: Box::new(partner),
                partner_reply: reply,
            });
        }
        let site_pending = q.per_site.get(&post.local).copied().unwrap_or(0);
        if q.pending >= self.max_pending || site_pending >= self.max_pending_per_site {
            return Err(ApiError::Overloaded {
                retry_after_secs: self.retry_after_secs,
            });
        }
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.pending += 1;
        *q.per_site.entry(post.local.clone()).or_default() += 1;
        let (tx, rx) = oneshot::channel();
        q.by_key.insert(
            key.clone(),
            Waiting {
                ticket,
                post,
                reply: tx,
            },
        );
        Ok(Arrival::Waiting(WaitTicket {
            pairing: Arc::clone(self),
            key,
            ticket,
            rx,
        }))
    }

    /// Removes a waiting post; false if a partner has already taken it.
    fn withdraw(&self, key: &PairKey, ticket: u64) -> bool {
        let mut q = self.lock();
        if q.by_key.get(key).is_none_or(|w| w.ticket != ticket) {
            return false;
        }
        let waiting = q.by_key.remove(key).expect("present: just checked");
        q.forget(&waiting);
        true
    }
}

/// How a wait ended.
#[derive(Debug)]
pub enum WaitOutcome {
    /// The partner arrived and the job was resolved (or failed).
    Answered(Reply),
    /// No partner within the timeout; the post has been withdrawn.
    TimedOut,
}

/// A waiting post. Dropping it (the client hung up) withdraws the post, so a
/// later partner is not paired with a post nobody listens to.
pub struct WaitTicket {
    pairing: Arc<Pairing>,
    key: PairKey,
    ticket: u64,
    rx: oneshot::Receiver<Reply>,
}

impl WaitTicket {
    pub async fn wait(mut self, timeout: Duration) -> WaitOutcome {
        match tokio::time::timeout(timeout, &mut self.rx).await {
            Ok(reply) => WaitOutcome::Answered(reply.unwrap_or(Err(ApiError::Internal))),
            Err(_) if self.pairing.withdraw(&self.key, self.ticket) => WaitOutcome::TimedOut,
            // The partner took this post just as the timeout fired: its answer
            // is on the way.
            Err(_) => {
                WaitOutcome::Answered((&mut self.rx).await.unwrap_or(Err(ApiError::Internal)))
            }
        }
    }
}

impl Drop for WaitTicket {
    fn drop(&mut self) {
        self.pairing.withdraw(&self.key, self.ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(local: &str, remote: &str, role: Role, tag: u8) -> Post {
        Post {
            local: local.into(),
            remote: remote.into(),
            role,
            tag: [tag; JOB_TAG_LEN],
            query_records: 1,
            database_records: 1,
            shares: Vec::new(),
            server_lids: Vec::new(),
        }
    }

    fn waiting(a: Arrival) -> WaitTicket {
        match a {
            Arrival::Waiting(t) => t,
            Arrival::Paired { .. } => panic!("expected to wait"),
        }
    }

    fn paired(a: Arrival) -> (Post, Post, oneshot::Sender<Reply>) {
        match a {
            Arrival::Paired {
                post,
                partner,
                partner_reply,
            } => (*post, *partner, partner_reply),
            Arrival::Waiting(_) => panic!("expected a partner"),
        }
    }

    #[tokio::test]
    async fn crossed_jobs_of_one_site_pair_pair_only_by_tag() {
        let p = Pairing::new(10, 10, 1);
        // Two jobs B→A in flight; the client of job 2 arrives first.
        let _s1 = waiting(p.arrive(post("B", "A", Role::Server, 1)).unwrap());
        let _s2 = waiting(p.arrive(post("B", "A", Role::Server, 2)).unwrap());
        let (_, partner, _) = paired(p.arrive(post("A", "B", Role::Client, 2)).unwrap());
        assert_eq!(partner.tag, [2; JOB_TAG_LEN]);
        // A post of another site pair never pairs, even with the same tag.
        let _c = waiting(p.arrive(post("C", "B", Role::Client, 1)).unwrap());
        let (_, partner, _) = paired(p.arrive(post("A", "B", Role::Client, 1)).unwrap());
        assert_eq!(
            (partner.local.as_str(), partner.tag),
            ("B", [1; JOB_TAG_LEN])
        );
        assert_eq!(p.pending(), 1);
    }

    #[tokio::test]
    async fn a_second_post_of_one_site_for_a_tag_is_refused() {
        let p = Pairing::new(10, 10, 1);
        let t = waiting(p.arrive(post("A", "B", Role::Server, 7)).unwrap());
        assert!(matches!(
            p.arrive(post("A", "B", Role::Client, 7)),
            Err(ApiError::DuplicatePost { .. })
        ));
        // Same-role partner: paired (the resolver refuses it precisely).
        let (_, partner, tx) = paired(p.arrive(post("B", "A", Role::Server, 7)).unwrap());
        assert_eq!(partner.role, Role::Server);
        tx.send(Ok(LinkageResultResponse::default())).unwrap();
        assert!(matches!(
            t.wait(Duration::from_secs(5)).await,
            WaitOutcome::Answered(Ok(_))
        ));
        assert_eq!(p.pending(), 0);
    }

    #[tokio::test]
    async fn a_lonely_post_times_out_and_is_withdrawn() {
        let p = Pairing::new(10, 10, 1);
        let t = waiting(p.arrive(post("A", "B", Role::Client, 1)).unwrap());
        assert!(matches!(
            t.wait(Duration::from_millis(10)).await,
            WaitOutcome::TimedOut
        ));
        assert_eq!(p.pending(), 0);
        // A late partner now waits instead of pairing with the dead post.
        let _t = waiting(p.arrive(post("B", "A", Role::Server, 1)).unwrap());
    }

    #[tokio::test]
    async fn pending_posts_are_bounded_in_all_and_per_site() {
        let p = Pairing::new(3, 2, 7);
        let _a1 = waiting(p.arrive(post("A", "B", Role::Client, 1)).unwrap());
        let a2 = waiting(p.arrive(post("A", "C", Role::Client, 2)).unwrap());
        // A has used its share; B still gets in.
        assert!(matches!(
            p.arrive(post("A", "B", Role::Client, 3)),
            Err(ApiError::Overloaded {
                retry_after_secs: 7
            })
        ));
        let _b = waiting(p.arrive(post("B", "C", Role::Client, 4)).unwrap());
        // Now the global bound holds for everyone...
        assert!(matches!(
            p.arrive(post("C", "A", Role::Client, 5)),
            Err(ApiError::Overloaded { .. })
        ));
        // ...but a partner is still let in: it frees a slot.
        let _ = paired(p.arrive(post("B", "A", Role::Server, 1)).unwrap());
        // A withdrawn post frees its site's share.
        drop(a2);
        let _a3 = waiting(p.arrive(post("A", "B", Role::Client, 6)).unwrap());
    }

    #[test]
    fn debug_of_a_post_shows_no_share_or_tag() {
        let mut p = post("A", "B", Role::Client, 0xab);
        p.shares.push(ShareRecord {
            match_share: true,
            tentative_share: true,
            best_index_share: 0x5eed_5eed,
        });
        let text = format!("{p:?}");
        assert!(!text.contains(&0x5eed_5eedu64.to_string()), "{text}");
        assert!(!text.contains("171") && !text.contains("tag"), "{text}");
        assert!(text.contains("shares: 1"), "{text}");
    }
}
