//! Verified access tokens, remembered: a token's signature check costs far more than the
//! call it guards (most of a GetProducer), and a client sends the same token for as long
//! as it lives. A caller verified once is answered from here until its token's expiry
//! less the leeway — never later than a fresh check would accept it.
//!
//! Keyed by the SHA-256 of the token, so no token outlives the call that carried it.
//! Bounded: two generations of at most half the capacity each; when the newer fills up
//! the older is dropped, so the cache holds at most `capacity` callers however many
//! distinct tokens arrive, and a token in use stays (a hit moves it to the newer one).
//! Replacing the key set clears it ([`TokenCache::clear`]): a key the issuer removed
//! stops working at the next JWKS refresh.

use std::collections::HashMap;
use std::mem;
use std::sync::Mutex;

use ring::digest::{SHA256, digest};

use super::Caller;

/// The key a token is remembered by.
pub type TokenKey = [u8; 32];

/// The cache key of a token: its SHA-256.
pub fn key_of(token: &str) -> TokenKey {
    let mut key = [0; 32];
    key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    key
}

/// Callers by token, each until a moment in Unix seconds.
pub struct TokenCache {
    generations: Mutex<Generations>,
    /// Entries per generation.
    half: usize,
}

#[derive(Default)]
struct Generations {
    newer: HashMap<TokenKey, Entry>,
    older: HashMap<TokenKey, Entry>,
    /// Bumped by every clear: a verification that started before it does not store
    /// its result (it checked against keys that may be gone).
    epoch: u64,
}

#[derive(Clone)]
struct Entry {
    caller: Caller,
    /// Unix seconds; served while `now` is before it.
    until: u64,
}

impl TokenCache {
    /// A cache of at most `capacity` callers (0 remembers nothing).
    pub fn new(capacity: usize) -> Self {
        Self {
            generations: Mutex::default(),
            half: capacity / 2,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.generations.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The caller remembered for `key`, if it is still valid at `now`.
    pub fn get(&self, key: &TokenKey, now: u64) -> Option<Caller> {
        let mut generations = self.lock();
        if let Some(entry) = generations.newer.get(key) {
            return (now < entry.until).then(|| entry.caller.clone());
        }
        let entry = generations.older.remove(key)?;
        if now >= entry.until {
            return None;
        }
        let caller = entry.caller.clone();
        self.put(&mut generations, *key, entry);
        Some(caller)
    }

    /// The current epoch: pass it to [`TokenCache::insert`] for a verification that
    /// starts now.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Remembers `caller` for `key` until `until`, unless the cache was cleared since
    /// `epoch` (the verification used keys that may have been replaced).
    pub fn insert(&self, key: TokenKey, caller: Caller, until: u64, epoch: u64) {
        if self.half == 0 {
            return;
        }
        let mut generations = self.lock();
        if generations.epoch == epoch {
            self.put(&mut generations, key, Entry { caller, until });
        }
    }

    fn put(&self, generations: &mut Generations, key: TokenKey, entry: Entry) {
        if generations.newer.len() >= self.half {
            generations.older = mem::take(&mut generations.newer);
        }
        generations.newer.insert(key, entry);
    }

    /// Forgets every caller.
    pub fn clear(&self) {
        let mut generations = self.lock();
        generations.newer.clear();
        generations.older.clear();
        generations.epoch += 1;
    }

    /// How many callers it holds.
    pub fn len(&self) -> usize {
        let generations = self.lock();
        generations.newer.len() + generations.older.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scopes;
    use crate::domain::AccountId;

    fn caller(account: &str) -> Caller {
        Caller {
            account: AccountId::parse(account).unwrap(),
            scopes: Scopes::parse("producers:read"),
            client_id: None,
        }
    }

    #[test]
    fn a_caller_is_served_until_its_moment_and_not_after() {
        let cache = TokenCache::new(10);
        let key = key_of("token");
        cache.insert(key, caller("ACME"), 100, cache.epoch());
        assert_eq!(cache.get(&key, 99), Some(caller("ACME")));
        assert_eq!(cache.get(&key, 100), None);
        assert_eq!(cache.get(&key_of("another"), 50), None);
    }

    #[test]
    fn it_never_holds_more_than_its_capacity() {
        let cache = TokenCache::new(1_000);
        for n in 0..100_000 {
            cache.insert(
                key_of(&n.to_string()),
                caller("ACME"),
                u64::MAX,
                cache.epoch(),
            );
            assert!(cache.len() <= 1_000, "{} entries after {n}", cache.len());
        }
        // A token in use survives the churn: each hit keeps it in the newer generation.
        let kept = key_of("kept");
        cache.insert(kept, caller("KEPT"), u64::MAX, cache.epoch());
        for n in 0..10_000 {
            cache.insert(
                key_of(&format!("x{n}")),
                caller("ACME"),
                u64::MAX,
                cache.epoch(),
            );
            assert!(cache.get(&kept, 0).is_some(), "lost after {n} inserts");
        }
    }

    #[test]
    fn a_clear_forgets_everything_and_drops_verifications_started_before_it() {
        let cache = TokenCache::new(10);
        let before = cache.epoch();
        cache.insert(key_of("a"), caller("ACME"), u64::MAX, before);
        cache.clear();
        assert!(cache.is_empty());
        cache.insert(key_of("b"), caller("ACME"), u64::MAX, before);
        assert!(
            cache.is_empty(),
            "a result checked against the old keys is not kept"
        );
        cache.insert(key_of("b"), caller("ACME"), u64::MAX, cache.epoch());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_zero_capacity_remembers_nothing() {
        let cache = TokenCache::new(0);
        cache.insert(key_of("a"), caller("ACME"), u64::MAX, cache.epoch());
        assert_eq!(cache.get(&key_of("a"), 0), None);
    }
}
