//! Per-address limits and denial aggregation for anonymous requests, in memory: each replica
//! limits what reaches it (the use cases that consult it are in `anonymous.rs`).

use crate::audit::{Event, Outcome};
use std::collections::HashMap;
use std::sync::Mutex;

/// The fixed window, in seconds.
const WINDOW: i64 = 60;
/// Addresses counted one by one at most per window; beyond, new ones share one count (a
/// flood from very many addresses is limited as a whole).
const MAX_ADDRESSES: usize = 100_000;
/// Denials written at once per window, over every address; beyond, they are aggregated.
const IMMEDIATE_PER_WINDOW: u32 = 100;
/// Distinct (address, reason) aggregates per window; beyond, they share one per reason.
const MAX_AGGREGATES: usize = 1_000;
/// Where addresses past [`MAX_ADDRESSES`] or [`MAX_AGGREGATES`] are counted.
const MANY: &str = "*";

/// What to do with one anonymous denial.
pub enum Denial {
    /// The first of its kind from this address in this window: write it now.
    Write(Box<Event>),
    /// Counted; one event for all of them is written later.
    Counted,
}

/// What an address counts as: an IPv4 address itself, an IPv6 address by its /64 (one
/// network hands out a whole /64 to one host).
pub(crate) fn source(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => ip.to_owned(),
    }
}

#[derive(Default)]
pub(crate) struct Window {
    /// Minute since the Unix epoch.
    pub(crate) start: i64,
    /// Attempts per source address in this window.
    pub(crate) attempts: HashMap<String, u32>,
    /// Denials per (address, reason) after the first, not yet written.
    pub(crate) repeated: HashMap<(String, String), Repeated>,
    /// Denials written at once in this window.
    pub(crate) written: u32,
}

impl Window {
    /// The aggregate key, or the shared one per reason once there are too many.
    pub(crate) fn capped(&self, key: (String, String)) -> (String, String) {
        if self.repeated.len() >= MAX_AGGREGATES && !self.repeated.contains_key(&key) {
            (MANY.to_owned(), key.1)
        } else {
            key
        }
    }
}

pub(crate) struct Repeated {
    pub(crate) count: u64,
    pub(crate) first: chrono::DateTime<chrono::Utc>,
    pub(crate) last: chrono::DateTime<chrono::Utc>,
}

/// Per-address limits and denial aggregation for anonymous requests.
pub struct AnonymousGuard {
    pub(crate) per_minute: u32,
    pub(crate) window: Mutex<Window>,
    /// Aggregates of windows that have ended, waiting to be written.
    pub(crate) ended: Mutex<Vec<Event>>,
}

impl AnonymousGuard {
    /// `per_minute` attempts per address and minute (0 = no limit).
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            window: Mutex::new(Window::default()),
            ended: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn with_window<T>(&self, f: impl FnOnce(&mut Window) -> T) -> T {
        let now = chrono::Utc::now();
        let mut guard = match self.window.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.start != minute(now) {
            let old = std::mem::take(&mut *guard);
            guard.start = minute(now);
            let events: Vec<Event> = old
                .repeated
                .into_iter()
                .map(|((ip, reason), r)| aggregate(&ip, &reason, &r))
                .collect();
            if !events.is_empty() {
                match self.ended.lock() {
                    Ok(mut ended) => ended.extend(events),
                    Err(poisoned) => poisoned.into_inner().extend(events),
                }
            }
        }
        f(&mut guard)
    }

    /// Counts one attempt from `ip`; `Err(seconds)` when the address is over its limit for this
    /// minute (the attempt is refused and not counted again).
    pub fn attempt(&self, ip: &str) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let mut key = source(ip);
        self.with_window(|w| {
            if w.attempts.len() >= MAX_ADDRESSES && !w.attempts.contains_key(&key) {
                key = MANY.to_owned();
            }
            let n = w.attempts.entry(key).or_insert(0);
            if *n >= self.per_minute {
                let left = (w.start + 1) * WINDOW - chrono::Utc::now().timestamp();
                return Err(left.max(1) as u64);
            }
            *n += 1;
            Ok(())
        })
    }

    /// Whether `ip` is already over its limit this minute (without counting).
    pub fn over_limit(&self, ip: &str) -> bool {
        self.per_minute > 0
            && self.with_window(|w| {
                let key = source(ip);
                let n = w.attempts.get(&key).or_else(|| {
                    (w.attempts.len() >= MAX_ADDRESSES)
                        .then(|| w.attempts.get(MANY))
                        .flatten()
                });
                n.is_some_and(|n| *n >= self.per_minute)
            })
    }

    /// Counts a denial into the minute's aggregate, never writing it on its own (for
    /// addresses already refused with 429).
    pub fn count(&self, event: &Event) {
        let key = aggregate_key(event);
        let at = chrono::Utc::now();
        self.with_window(|w| {
            let key = w.capped(key);
            let r = w.repeated.entry(key).or_insert(Repeated {
                count: 0,
                first: at,
                last: at,
            });
            r.count += 1;
            r.last = at;
        });
    }

    /// Decides whether a denial is written now or counted into the minute's aggregate.
    pub fn deny(&self, event: Event) -> Denial {
        let key = aggregate_key(&event);
        let at = chrono::Utc::now();
        self.with_window(|w| {
            let key = w.capped(key);
            match w.repeated.get_mut(&key) {
                Some(r) => {
                    r.count += 1;
                    r.last = at;
                    Denial::Counted
                }
                None if w.written >= IMMEDIATE_PER_WINDOW => {
                    let counted = Repeated {
                        count: 1,
                        first: at,
                        last: at,
                    };
                    w.repeated.insert(key, counted);
                    Denial::Counted
                }
                None => {
                    let first = Repeated {
                        count: 0,
                        first: at,
                        last: at,
                    };
                    w.repeated.insert(key, first);
                    w.written += 1;
                    Denial::Write(Box::new(event))
                }
            }
        })
    }

    /// The aggregates due: those of ended windows, and (with `all`) the current one's too.
    pub fn take_aggregates(&self, all: bool) -> Vec<Event> {
        let mut events = self.with_window(|w| {
            if !all {
                return Vec::new();
            }
            w.repeated
                .iter_mut()
                .filter(|(_, r)| r.count > 0)
                .map(|((ip, reason), r)| {
                    let event = aggregate(ip, reason, r);
                    r.count = 0;
                    event
                })
                .collect::<Vec<_>>()
        });
        let ended = match self.ended.lock() {
            Ok(mut ended) => std::mem::take(&mut *ended),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        events.extend(ended);
        events
    }
}

pub(crate) fn minute(now: chrono::DateTime<chrono::Utc>) -> i64 {
    now.timestamp().div_euclid(WINDOW)
}

/// (source, reason) of a denial.
pub(crate) fn aggregate_key(event: &Event) -> (String, String) {
    (
        source(event.ip.as_deref().unwrap_or_default()),
        event.details["reason"].as_str().unwrap_or("").to_owned(),
    )
}

/// One event standing for `r.count` repeated denials.
pub(crate) fn aggregate(ip: &str, reason: &str, r: &Repeated) -> Event {
    let mut event = Event::new("anonymous", "auth.denied")
        .outcome(Outcome::Denied)
        .details(serde_json::json!({
            "reason": reason,
            "repeated": r.count,
            "first_at": r.first.to_rfc3339(),
            "last_at": r.last.to_rfc3339(),
            "aggregated": true,
        }));
    event.ip = Some(ip.to_owned());
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(ip: &str, reason: &str) -> Event {
        let mut event =
            Event::new("anonymous", "auth.denied").details(serde_json::json!({ "reason": reason }));
        event.ip = Some(ip.to_owned());
        event
    }

    #[test]
    fn an_address_gets_its_attempts_per_minute_and_no_more() {
        let guard = AnonymousGuard::new(3);
        for _ in 0..3 {
            assert!(guard.attempt("10.0.0.1").is_ok());
        }
        assert!(guard.attempt("10.0.0.1").is_err());
        assert!(guard.over_limit("10.0.0.1"));
        assert!(
            guard.attempt("10.0.0.2").is_ok(),
            "another address is not affected"
        );
        assert!(
            AnonymousGuard::new(0).attempt("x").is_ok(),
            "0 means no limit"
        );
    }

    #[test]
    fn repeated_denials_become_one_event_with_their_count() {
        let guard = AnonymousGuard::new(0);
        assert!(matches!(
            guard.deny(denial("10.0.0.1", "unknown_token")),
            Denial::Write(_)
        ));
        for _ in 0..499 {
            assert!(matches!(
                guard.deny(denial("10.0.0.1", "unknown_token")),
                Denial::Counted
            ));
        }
        assert!(matches!(
            guard.deny(denial("10.0.0.1", "state_mismatch")),
            Denial::Write(_)
        ));
        let events = guard.take_aggregates(true);
        let repeated: Vec<u64> = events
            .iter()
            .map(|e| e.details["repeated"].as_u64().unwrap_or(0))
            .filter(|n| *n > 0)
            .collect();
        assert_eq!(repeated, vec![499]);
        assert!(guard.take_aggregates(true).is_empty(), "written once");
    }

    #[test]
    fn many_addresses_still_write_a_bounded_number_of_events() {
        let guard = AnonymousGuard::new(0);
        let mut written = 0;
        for i in 0..5_000u32 {
            // A /64 each: every one of them a different source.
            let ip = format!("2001:db8:{:x}:{:x}::1", i / 65_536, i % 65_536);
            if matches!(guard.deny(denial(&ip, "unknown_token")), Denial::Write(_)) {
                written += 1;
            }
        }
        assert_eq!(written, IMMEDIATE_PER_WINDOW);
        let aggregates = guard.take_aggregates(true);
        assert!(
            aggregates.len() <= MAX_AGGREGATES + 1,
            "{}",
            aggregates.len()
        );
        let total: u64 = aggregates
            .iter()
            .map(|e| e.details["repeated"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(total, 5_000 - u64::from(IMMEDIATE_PER_WINDOW));
    }

    #[test]
    fn an_ipv6_host_counts_as_its_64() {
        let guard = AnonymousGuard::new(2);
        assert!(guard.attempt("2001:db8:0:1::1").is_ok());
        assert!(guard.attempt("2001:db8:0:1::ffff").is_ok());
        assert!(
            guard.attempt("2001:db8:0:1:abcd::9").is_err(),
            "the same /64"
        );
        assert!(guard.attempt("2001:db8:0:2::1").is_ok());
    }
}
