//! Per-user and per-IP rate limits (token buckets, from `governor`).
//!
//! A signed-in caller is limited by user, whatever address they come from;
//! an anonymous one by IP address. The limit answers `RATE_LIMITED` with the
//! number of seconds to wait, and nothing runs.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;

use crate::auth::Actor;
use crate::config::Limits;

/// Who a request is counted against.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Key {
    User(Uuid),
    Address(IpAddr),
}

/// The limiters of one Chatshop instance (each instance counts on its own).
pub(crate) struct RateLimits {
    per_user: Option<DefaultKeyedRateLimiter<Key>>,
    per_address: Option<DefaultKeyedRateLimiter<Key>>,
    clock: DefaultClock,
}

fn limiter(per_second: u32) -> Option<DefaultKeyedRateLimiter<Key>> {
    let rate = NonZeroU32::new(per_second)?;
    // Bursts of twice the rate: a page load fires a handful at once.
    let burst = NonZeroU32::new(per_second.saturating_mul(2)).unwrap_or(rate);
    Some(DefaultKeyedRateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl RateLimits {
    /// Limiters from the configuration (0 switches one off).
    pub fn new(limits: &Limits) -> Self {
        Self {
            per_user: limiter(limits.rate_limit_user_per_sec),
            per_address: limiter(limits.rate_limit_ip_per_sec),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request; `Err(wait)` when the caller must wait first.
    pub fn check(&self, actor: &Actor, address: Option<IpAddr>) -> Result<(), Duration> {
        let (limiter, key) = match (actor.user_id_opt(), address) {
            (Some(user), _) => (&self.per_user, Key::User(user)),
            (None, Some(address)) => (&self.per_address, Key::Address(address)),
            // Mounted without connection info and anonymous: nothing to count by.
            (None, None) => return Ok(()),
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets callers whose buckets are full again (bounds the memory).
    pub fn forget_idle(&self) {
        for limiter in [&self.per_user, &self.per_address].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// Whole seconds to wait, at least 1 (what `Retry-After` carries).
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_limit_is_told_to_wait() {
        let limits = Limits {
            rate_limit_user_per_sec: 5,
            rate_limit_ip_per_sec: 0,
            ..Limits::default()
        };
        let rate_limits = RateLimits::new(&limits);
        let user = Actor::User { id: Uuid::now_v7() };
        for _ in 0..10 {
            assert!(rate_limits.check(&user, None).is_ok());
        }
        let wait = rate_limits.check(&user, None).unwrap_err();
        assert!(retry_after_secs(wait) >= 1);
        // Another user has a bucket of their own; IP limits are off.
        assert!(
            rate_limits
                .check(&Actor::User { id: Uuid::now_v7() }, None)
                .is_ok()
        );
        assert!(
            rate_limits
                .check(&Actor::Anonymous, Some(IpAddr::from([127, 0, 0, 1])))
                .is_ok()
        );
    }
}
