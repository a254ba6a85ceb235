//! Coalescing: identical questions in flight share one upstream query. The
//! first asker leads; the others wait for the leader's outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::cache::{Entry, Key};

/// What the leader got: an entry to render, or why there is none.
pub type Outcome = Result<Arc<Entry>, Failed>;

/// Why a resolution produced no answer: an RFC 8914 Extended DNS Error
/// for the SERVFAIL that clients get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The EDE INFO-CODE.
    pub ede: u16,
    /// The EXTRA-TEXT: what happened, in words.
    pub text: Arc<str>,
}

/// Questions in flight and who waits on them.
#[derive(Default)]
pub struct Inflight {
    waiting: Mutex<HashMap<Key, Vec<oneshot::Sender<Outcome>>>>,
}

/// The caller's role for one question.
pub enum Role {
    /// Ask upstream, then call [`Inflight::complete`].
    Leader(oneshot::Receiver<Outcome>),
    /// Someone else is asking; wait.
    Follower(oneshot::Receiver<Outcome>),
}

impl Inflight {
    /// Joins the question `key`.
    pub fn join(&self, key: &Key) -> Role {
        let (tx, rx) = oneshot::channel();
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        match waiting.get_mut(key) {
            Some(list) => {
                list.push(tx);
                Role::Follower(rx)
            }
            None => {
                waiting.insert(key.clone(), vec![tx]);
                Role::Leader(rx)
            }
        }
    }

    /// The leader's outcome, to everyone waiting on `key`.
    pub fn complete(&self, key: &Key, outcome: &Outcome) {
        let list = self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        for tx in list.into_iter().flatten() {
            let _ = tx.send(outcome.clone());
        }
    }

    /// Questions in flight.
    pub fn len(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_leader_many_followers() {
        let inflight = Inflight::default();
        let key = Key {
            qname: b"\x00".to_vec().into(),
            qtype: 1,
            qclass: 1,
            dnssec_ok: false,
            cd: false,
        };
        let Role::Leader(lead) = inflight.join(&key) else {
            panic!("first is the leader")
        };
        let followers: Vec<_> = (0..10)
            .map(|_| match inflight.join(&key) {
                Role::Follower(rx) => rx,
                Role::Leader(_) => panic!("only one leader"),
            })
            .collect();
        let failed = Err(Failed {
            ede: 22,
            text: "every upstream refused".into(),
        });
        inflight.complete(&key, &failed);
        assert_eq!(lead.await.expect("sent"), failed);
        for f in followers {
            assert_eq!(f.await.expect("sent"), failed);
        }
        assert!(inflight.is_empty());
        assert!(
            matches!(inflight.join(&key), Role::Leader(_)),
            "a new round after completion"
        );
    }
}
