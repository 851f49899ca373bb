//! Responses to queries, served again for a moment.
//!
//! A storefront's catalog is read by many visitors with the same few
//! documents and variables, and resolving a page of products costs many times
//! a trivial request. A response to a query that had no errors is kept, by
//! document, variables and operation name, for at most `max_age`.
//!
//! Who may be served a kept response depends on whether its resolvers asked
//! who the caller was (see [`ViewerConsulted`]). If none did, the execution
//! would have been the same for anyone, so the response is *shared*: every
//! caller, signed in or not, may be served it. If one did, the response is
//! kept only when the caller was anonymous, and served only to anonymous
//! callers. Answers that depend on a signed-in caller are never kept.
//!
//! Every kept response is dropped when anything changes that a reader could
//! see: any mutation run through this instance's endpoints, and any event
//! from the bus (orders placed or paid and stock released by expired
//! reservations, on any instance). A catalog edit made on another instance
//! announces no event and shows within `max_age`. A query that started
//! before a change never stores its answer after it (a generation count).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;

use crate::events::EventBus;

/// At most this many bytes of kept responses; beyond, the cache starts over.
const MAX_BYTES: usize = 16 * 1024 * 1024;
/// Documents and variables longer than this are not kept.
const MAX_KEY_BYTES: usize = 16 * 1024;

/// What a response is kept by.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) struct Key {
    query: String,
    variables: String,
    operation_name: Option<String>,
}

impl Key {
    /// The key of a request, if it is small enough to keep.
    pub fn new(
        query: &str,
        variables: &async_graphql::Variables,
        operation_name: Option<&str>,
    ) -> Option<Self> {
        let variables = serde_json::to_string(variables).ok()?;
        (query.len() + variables.len() <= MAX_KEY_BYTES).then(|| Self {
            query: query.to_owned(),
            variables,
            operation_name: operation_name.map(str::to_owned),
        })
    }
}

/// A kept response body and its operation's metrics label.
#[derive(Clone)]
pub(crate) struct Kept {
    pub body: Bytes,
    pub field: Option<String>,
}

struct Entry {
    stored: Instant,
    /// Computed without asking who the caller was: anyone may be served it.
    shared: bool,
    kept: Kept,
}

/// Request data that records whether a resolver asked who the caller is
/// (`ContextExt::actor` sets it).
#[derive(Debug, Default)]
pub(crate) struct ViewerConsulted(AtomicBool);

impl ViewerConsulted {
    pub fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Forgets earlier asks: `get` then tells whether a resolver asked since.
    pub fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Entries {
    /// Counts the changes seen so far.
    generation: u64,
    bytes: usize,
    by_key: HashMap<Key, Entry>,
}

/// The cache. Shared (`Arc`) by the HTTP handlers.
pub(crate) struct ResponseCache {
    max_age: Duration,
    entries: Mutex<Entries>,
}

/// What a lookup found.
pub(crate) enum Lookup {
    Hit(Kept),
    /// Not kept: store the answer with this generation.
    Miss(u64),
}

impl ResponseCache {
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            entries: Mutex::default(),
        }
    }

    /// Whether responses are kept at all.
    pub fn enabled(&self) -> bool {
        !self.max_age.is_zero()
    }

    /// A kept response the caller may be served: any fresh one for an
    /// anonymous caller, a shared one for anyone else.
    pub fn lookup(&self, key: &Key, anonymous: bool) -> Lookup {
        let Ok(entries) = self.entries.lock() else {
            return Lookup::Miss(u64::MAX);
        };
        match entries.by_key.get(key) {
            Some(entry) if (anonymous || entry.shared) && entry.stored.elapsed() < self.max_age => {
                Lookup::Hit(entry.kept.clone())
            }
            _ => Lookup::Miss(entries.generation),
        }
    }

    /// Keeps a response computed since the lookup that returned `generation`,
    /// unless something changed meanwhile. `shared` says that no resolver
    /// asked who the caller was; the caller must have been anonymous
    /// otherwise.
    pub fn store(&self, key: Key, generation: u64, shared: bool, kept: Kept) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.generation != generation {
            return;
        }
        let size = key.query.len() + key.variables.len() + kept.body.len();
        if entries.bytes + size > MAX_BYTES {
            entries.by_key.clear();
            entries.bytes = 0;
        }
        entries.bytes += size;
        let stored = Instant::now();
        let entry = Entry {
            stored,
            shared,
            kept,
        };
        if let Some(replaced) = entries.by_key.insert(key, entry) {
            entries.bytes = entries.bytes.saturating_sub(replaced.kept.body.len());
        }
    }

    /// Something a reader could see changed: nothing kept is served again.
    pub fn invalidate(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.generation = entries.generation.wrapping_add(1);
            if !entries.by_key.is_empty() {
                entries.by_key.clear();
                entries.bytes = 0;
            }
        }
    }

    /// Drops everything kept whenever the bus carries an event (or lost some).
    pub fn follow(self: &Arc<Self>, events: &dyn EventBus) {
        crate::events::follow(events, self, |cache, _| cache.invalidate());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(query: &str) -> Key {
        Key::new(query, &async_graphql::Variables::default(), None).unwrap()
    }

    fn kept(body: &'static str) -> Kept {
        Kept {
            body: Bytes::from_static(body.as_bytes()),
            field: None,
        }
    }

    fn hit(cache: &ResponseCache, key: &Key) -> Option<Bytes> {
        match cache.lookup(key, true) {
            Lookup::Hit(kept) => Some(kept.body),
            Lookup::Miss(_) => None,
        }
    }

    #[test]
    fn a_kept_response_is_served_until_it_is_too_old() {
        let cache = ResponseCache::new(Duration::from_millis(50));
        let Lookup::Miss(generation) = cache.lookup(&key("{ a }"), true) else {
            panic!("nothing is kept yet");
        };
        cache.store(key("{ a }"), generation, true, kept("A"));
        assert_eq!(hit(&cache, &key("{ a }")).as_deref(), Some(&b"A"[..]));
        assert_eq!(hit(&cache, &key("{ b }")), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(hit(&cache, &key("{ a }")), None);
    }

    #[test]
    fn a_change_drops_everything_and_an_answer_from_before_it_is_not_kept() {
        let cache = ResponseCache::new(Duration::from_secs(60));
        let Lookup::Miss(before) = cache.lookup(&key("{ a }"), true) else {
            panic!("nothing is kept yet");
        };
        cache.store(key("{ a }"), before, true, kept("A"));
        // A query starts, then a mutation commits before it answers.
        let Lookup::Miss(started) = cache.lookup(&key("{ b }"), true) else {
            panic!("nothing is kept for b");
        };
        cache.invalidate();
        assert_eq!(hit(&cache, &key("{ a }")), None);
        cache.store(key("{ b }"), started, true, kept("stale B"));
        assert_eq!(hit(&cache, &key("{ b }")), None);
    }

    #[test]
    fn an_answer_that_asked_who_the_caller_was_is_served_only_to_anonymous_callers() {
        let cache = ResponseCache::new(Duration::from_secs(60));
        let Lookup::Miss(generation) = cache.lookup(&key("{ me }"), true) else {
            panic!("nothing is kept yet");
        };
        cache.store(key("{ me }"), generation, false, kept("anonymous"));
        cache.store(key("{ shop }"), generation, true, kept("public"));
        assert!(matches!(cache.lookup(&key("{ me }"), true), Lookup::Hit(_)));
        assert!(matches!(
            cache.lookup(&key("{ me }"), false),
            Lookup::Miss(_)
        ));
        match cache.lookup(&key("{ shop }"), false) {
            Lookup::Hit(kept) => assert_eq!(&kept.body[..], b"public"),
            Lookup::Miss(_) => panic!("a shared answer is served to signed-in callers"),
        }
    }

    #[test]
    fn variables_and_operation_names_are_part_of_the_key() {
        let variables = async_graphql::Variables::from_json(serde_json::json!({ "id": "1" }));
        let with_variables = Key::new("{ a }", &variables, None).unwrap();
        let named = Key::new("{ a }", &async_graphql::Variables::default(), Some("A")).unwrap();
        assert_ne!(with_variables, key("{ a }"));
        assert_ne!(named, key("{ a }"));
    }
}
