//! Pairing the two posts of one linkage job.
//!
//! Both nodes of a job post their shares to `/linkageResult`; whichever comes
//! first waits (long-poll) until its partner arrives, and the second one
//! resolves the job for both.
//!
//! Which posts belong together:
//!
//! * With a **job id** (body `jobId` or header `X-Job-Id`): the posts of the
//!   same unordered site pair carrying the same job id. A second post from the
//!   same site for a pending job id is refused (409).
//! * Without one: the oldest waiting post of the same unordered site pair that
//!   comes from the other site *and has the other role*. Matching on the role
//!   keeps two jobs running in opposite directions at the same time (A queries
//!   B while B queries A) from being crossed. Jobs of the same direction are
//!   paired in arrival order, so nodes that run several jobs of one direction
//!   concurrently must send job ids.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use protocol_spec::messages::linkage::{LinkageResultResponse, Role, ShareRecord};
use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::lid::Lid;

/// What one validated post of a job contributes.
#[derive(Debug)]
pub struct Post {
    /// The authenticated site that sent it (`local_id` of the path).
    pub local: String,
    pub remote: String,
    pub role: Role,
    pub shares: Vec<ShareRecord>,
    /// The server's LIDs, already opened under its key; empty for the client.
    pub server_lids: Vec<Lid>,
    pub job_id: Option<String>,
}

/// What a post is answered with.
pub type Reply = Result<LinkageResultResponse, ApiError>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PairKey {
    /// The two site ids, ordered, so both directions of a pair share a key.
    sites: (String, String),
    job_id: Option<String>,
}

impl PairKey {
    fn of(post: &Post) -> PairKey {
        let (a, b) = (post.local.clone(), post.remote.clone());
        PairKey {
            sites: if a <= b { (a, b) } else { (b, a) },
            job_id: post.job_id.clone(),
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
    by_key: HashMap<PairKey, VecDeque<Waiting>>,
    next_ticket: u64,
    pending: usize,
}

/// The posts waiting for their partner.
pub struct Pairing {
    queues: Mutex<Queues>,
    max_pending: usize,
    retry_after_secs: u64,
}

/// The result of a post's arrival.
pub enum Arrival {
    /// The partner was waiting. The caller resolves the job and answers the
    /// partner through `partner_reply`.
    Paired {
        post: Post,
        partner: Post,
        partner_reply: oneshot::Sender<Reply>,
    },
    /// No partner yet: wait on the ticket.
    Waiting(WaitTicket),
}

impl Pairing {
    pub fn new(max_pending: usize, retry_after_secs: u64) -> Arc<Pairing> {
        Arc::new(Pairing {
            queues: Mutex::new(Queues::default()),
            max_pending,
            retry_after_secs,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queues> {
        // The queues stay consistent even if a holder panicked (every update
        // is a single push or remove), so a poisoned lock is still usable.
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of posts currently waiting.
    pub fn pending(&self) -> usize {
        self.lock().pending
    }

    /// Pairs `post` with a waiting partner, or enqueues it.
    pub fn arrive(self: &Arc<Self>, post: Post) -> Result<Arrival, ApiError> {
        let key = PairKey::of(&post);
        let mut q = self.lock();
        let queue = q.by_key.entry(key.clone()).or_default();
        let partner_at = queue.iter().position(|w| {
            w.post.local != post.local
                && (post.job_id.is_some() || w.post.role == post.role.partner())
        });
        if let Some(at) = partner_at {
            let waiting = queue.remove(at).expect("position is in range");
            if queue.is_empty() {
                q.by_key.remove(&key);
            }
            q.pending -= 1;
            return Ok(Arrival::Paired {
                post,
                partner: waiting.post,
                partner_reply: waiting.reply,
            });
        }
        if let Some(job_id) = &post.job_id
            && queue.iter().any(|w| w.post.local == post.local)
        {
            let err = ApiError::DuplicatePost {
                site: post.local.clone(),
                job_id: job_id.clone(),
            };
            if queue.is_empty() {
                q.by_key.remove(&key);
            }
            return Err(err);
        }
        if q.pending >= self.max_pending {
            if q.by_key.get(&key).is_some_and(VecDeque::is_empty) {
                q.by_key.remove(&key);
            }
            return Err(ApiError::Overloaded {
                retry_after_secs: self.retry_after_secs,
            });
        }
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.pending += 1;
        let (tx, rx) = oneshot::channel();
        q.by_key.entry(key.clone()).or_default().push_back(Waiting {
            ticket,
            post,
            reply: tx,
        });
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
        let Some(queue) = q.by_key.get_mut(key) else {
            return false;
        };
        let Some(at) = queue.iter().position(|w| w.ticket == ticket) else {
            return false;
        };
        queue.remove(at);
        if queue.is_empty() {
            q.by_key.remove(key);
        }
        q.pending -= 1;
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

    fn post(local: &str, remote: &str, role: Role, job: Option<&str>) -> Post {
        Post {
            local: local.into(),
            remote: remote.into(),
            role,
            shares: Vec::new(),
            server_lids: Vec::new(),
            job_id: job.map(str::to_string),
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
            } => (post, partner, partner_reply),
            Arrival::Waiting(_) => panic!("expected a partner"),
        }
    }

    #[tokio::test]
    async fn without_job_id_pairs_other_site_and_other_role() {
        let p = Pairing::new(10, 1);
        // A queries B (A client) while B queries A (B client): not crossed.
        let t1 = waiting(p.arrive(post("A", "B", Role::Client, None)).unwrap());
        let t2 = waiting(p.arrive(post("B", "A", Role::Client, None)).unwrap());
        assert_eq!(p.pending(), 2);
        let (me, partner, tx) = paired(p.arrive(post("B", "A", Role::Server, None)).unwrap());
        assert_eq!((me.local.as_str(), partner.local.as_str()), ("B", "A"));
        assert_eq!(partner.role, Role::Client);
        tx.send(Ok(LinkageResultResponse::default())).unwrap();
        assert!(matches!(
            t1.wait(Duration::from_secs(5)).await,
            WaitOutcome::Answered(Ok(_))
        ));
        assert_eq!(p.pending(), 1);
        drop(t2);
        assert_eq!(p.pending(), 0);
    }

    #[tokio::test]
    async fn job_ids_separate_jobs_and_refuse_duplicates() {
        let p = Pairing::new(10, 1);
        let _t1 = waiting(p.arrive(post("A", "B", Role::Server, Some("j1"))).unwrap());
        let _t2 = waiting(p.arrive(post("A", "B", Role::Server, Some("j2"))).unwrap());
        assert!(matches!(
            p.arrive(post("A", "B", Role::Client, Some("j1"))),
            Err(ApiError::DuplicatePost { .. })
        ));
        let (_, partner, _) = paired(p.arrive(post("B", "A", Role::Client, Some("j2"))).unwrap());
        assert_eq!(partner.job_id.as_deref(), Some("j2"));
        // With a job id even a same-role partner is paired (and then refused
        // by the resolver with a precise error).
        let (_, partner, _) = paired(p.arrive(post("B", "A", Role::Server, Some("j1"))).unwrap());
        assert_eq!(partner.role, Role::Server);
        assert_eq!(p.pending(), 0);
    }

    #[tokio::test]
    async fn a_lonely_post_times_out_and_is_withdrawn() {
        let p = Pairing::new(10, 1);
        let t = waiting(p.arrive(post("A", "B", Role::Client, None)).unwrap());
        assert!(matches!(
            t.wait(Duration::from_millis(10)).await,
            WaitOutcome::TimedOut
        ));
        assert_eq!(p.pending(), 0);
        // A late partner now waits instead of pairing with the dead post.
        let _t = waiting(p.arrive(post("B", "A", Role::Server, None)).unwrap());
    }

    #[tokio::test]
    async fn pending_posts_are_bounded() {
        let p = Pairing::new(1, 7);
        let _t = waiting(p.arrive(post("A", "B", Role::Client, None)).unwrap());
        assert!(matches!(
            p.arrive(post("A", "C", Role::Client, None)),
            Err(ApiError::Overloaded {
                retry_after_secs: 7
            })
        ));
        // A partner is still let in: it frees a slot instead of taking one.
        let _ = paired(p.arrive(post("B", "A", Role::Server, None)).unwrap());
    }
}
