//! Whether a caller's account may still act, remembered for a moment.
//!
//! Every authenticated request must be refused once its user has deleted
//! their data, whatever token they still hold. Asking the database on every
//! request made that check one of the few round trips of a send, so the
//! answer "active" is kept for [`ACTIVE_FOR`]. A deletion closes the account
//! in this cache at once, on this instance through [`ActiveAccounts::close`]
//! and on every other through [`Event::AccountClosed`]; the time limit bounds
//! how long an instance that missed that event (a broker outage) can go on
//! answering a deleted user.
//!
//! A closed account never becomes active again, so "closed" wins: an
//! "active" read that raced with the deletion cannot overwrite it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::Error;
use crate::events::{Event, EventBus, Heard};

/// How long "this account is active" is believed without asking again.
pub(crate) const ACTIVE_FOR: Duration = Duration::from_secs(1);

/// How many accounts are remembered before stale entries are dropped.
const LIMIT: usize = 100_000;

enum Known {
    Active { checked: Instant },
    Closed,
}

/// The cache. Cheap to share (`Arc`).
#[derive(Default)]
pub(crate) struct ActiveAccounts {
    known: Mutex<HashMap<Uuid, Known>>,
}

impl ActiveAccounts {
    /// Whether `user_id` exists and has not deleted their data.
    ///
    /// # Errors
    /// `INTERNAL` on database failures.
    pub async fn is_active(&self, db: &impl ConnectionTrait, user_id: Uuid) -> Result<bool, Error> {
        if let Some(known) = self.remembered(user_id) {
            return Ok(known);
        }
        let active = crate::services::privacy::is_active(db, user_id).await?;
        Ok(self.remember(user_id, active))
    }

    /// Stores what the database said; returns the answer to give, which is
    /// "no" if the account was closed while the database was being read.
    fn remember(&self, user_id: Uuid, active: bool) -> bool {
        let Ok(mut known) = self.known.lock() else {
            return active;
        };
        if known.len() >= LIMIT {
            known.retain(|_, entry| !is_stale(entry));
            if known.len() >= LIMIT {
                known.clear();
            }
        }
        let checked = Instant::now();
        let entry = known.entry(user_id).or_insert(Known::Active { checked });
        match entry {
            // Closed meanwhile: the read came before the deletion.
            Known::Closed => false,
            Known::Active { .. } if active => {
                *entry = Known::Active { checked };
                true
            }
            Known::Active { .. } => {
                *entry = Known::Closed;
                false
            }
        }
    }

    /// Records that `user_id` deleted their data: refused from now on.
    pub fn close(&self, user_id: Uuid) {
        if let Ok(mut known) = self.known.lock() {
            known.insert(user_id, Known::Closed);
        }
    }

    /// Forgets every "active" answer (events may have been lost).
    pub fn forget_active(&self) {
        if let Ok(mut known) = self.known.lock() {
            known.retain(|_, entry| matches!(entry, Known::Closed));
        }
    }

    fn remembered(&self, user_id: Uuid) -> Option<bool> {
        let known = self.known.lock().ok()?;
        match known.get(&user_id)? {
            Known::Closed => Some(false),
            Known::Active { checked } if checked.elapsed() < ACTIVE_FOR => Some(true),
            Known::Active { .. } => None,
        }
    }

    /// Keeps the cache in step with deletions made on any instance.
    pub fn follow(self: &Arc<Self>, events: &dyn EventBus) {
        crate::events::follow(events, self, |accounts, heard| match heard {
            Heard::Event(Event::AccountClosed { user_id }) => accounts.close(user_id),
            Heard::Event(_) => {}
            Heard::Lost => accounts.forget_active(),
        });
    }
}

fn is_stale(entry: &Known) -> bool {
    matches!(entry, Known::Active { checked } if checked.elapsed() >= ACTIVE_FOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_active_answer_is_believed_for_a_moment() {
        let accounts = ActiveAccounts::default();
        let user = Uuid::new_v4();
        assert_eq!(accounts.remembered(user), None, "nothing known yet");
        assert!(accounts.remember(user, true));
        assert_eq!(accounts.remembered(user), Some(true));
    }

    #[test]
    fn a_closed_account_stays_closed_even_if_a_read_from_before_says_active() {
        let accounts = ActiveAccounts::default();
        let user = Uuid::new_v4();
        accounts.remember(user, true);
        accounts.close(user);
        assert_eq!(accounts.remembered(user), Some(false));
        // A request that read the account before the deletion committed.
        assert!(!accounts.remember(user, true));
        assert_eq!(accounts.remembered(user), Some(false));
    }

    #[test]
    fn an_inactive_answer_closes_the_account() {
        let accounts = ActiveAccounts::default();
        let user = Uuid::new_v4();
        assert!(!accounts.remember(user, false));
        assert_eq!(accounts.remembered(user), Some(false));
    }

    #[test]
    fn after_lost_events_active_answers_are_asked_again_and_closures_kept() {
        let accounts = ActiveAccounts::default();
        let (active, closed) = (Uuid::new_v4(), Uuid::new_v4());
        accounts.remember(active, true);
        accounts.close(closed);
        accounts.forget_active();
        assert_eq!(accounts.remembered(active), None);
        assert_eq!(accounts.remembered(closed), Some(false));
    }
}
