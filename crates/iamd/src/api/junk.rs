//! Records of requests whose signature never verified. Anybody can send those, naming anybody's
//! access key id, so their records are bounded:
//!
//! - the shape: no request parameters, an event name from the action table or `Unknown`, the key id
//!   and error message cut short, no account (`SignatureVerified: false` in additionalEventData) —
//!   an attacker cannot file a payload under a victim's account;
//! - the number: per source (an IPv4 address, or an IPv6 /64) and minute, the first
//!   [`PER_MINUTE`] are recorded; after them, only a summary record at 2×, 4×, 8×, … that many,
//!   carrying how many were left out. A flood grows the trail by a logarithm of its size.
//!
//! Every junk request still gets its normal answer; only its record is bounded. Per node, in memory:
//! each node bounds what it writes.

use crate::audit::Event;
use std::collections::HashMap;
use std::sync::Mutex;

/// Unverified records kept in full per source and minute.
pub const PER_MINUTE: u64 = 10;
/// Sources remembered at once; beyond it, the oldest windows are forgotten.
const MAX_SOURCES: usize = 10_000;

struct Window {
    minute: i64,
    seen: u64,
}

static WINDOWS: std::sync::LazyLock<Mutex<HashMap<String, Window>>> = std::sync::LazyLock::new(|| Mutex::new(HashMap::new()));

/// Bounds an unverified record's shape and says whether to write it at all.
pub fn admit(ev: &mut Event, now_ms: i64) -> bool {
    let minute = now_ms.div_euclid(60_000);
    let seen = {
        let mut map = WINDOWS.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_SOURCES {
            map.retain(|_, w| w.minute == minute);
            if map.len() >= MAX_SOURCES {
                map.clear();
            }
        }
        let w = map.entry(crate::net::source_group(&ev.source_ip)).or_insert(Window { minute, seen: 0 });
        if w.minute != minute {
            *w = Window { minute, seen: 0 };
        }
        w.seen += 1;
        w.seen
    };
    let summary = seen > PER_MINUTE;
    if summary && !(seen % PER_MINUTE == 0 && (seen / PER_MINUTE).is_power_of_two()) {
        return false;
    }
    bound(ev);
    let mut extra = serde_json::json!({"SignatureVerified": false});
    if summary {
        extra["UnverifiedRequestsFromSourceThisMinute"] = serde_json::json!(seen);
        extra["NotRecordedIndividually"] = serde_json::json!(seen - PER_MINUTE);
    }
    ev.additional = Some(extra);
    true
}

fn bound(ev: &mut Event) {
    ev.params.clear();
    ev.params_json = None;
    ev.response = None;
    ev.account = String::new();
    if super::action::Action::by_name(&ev.name).is_none() {
        ev.name = "Unknown".into();
    }
    ev.identity.access_key_id = ev.identity.access_key_id.chars().take(128).collect();
    ev.user_agent = ev.user_agent.chars().take(256).collect();
    if let Some((_, m)) = ev.error.as_mut() {
        *m = m.chars().take(256).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_recorded_logarithmically() {
        let mut kept = 0;
        for _ in 0..10_000 {
            let mut ev = Event::new(120_000, "iam.amazonaws.com", "x".repeat(5000));
            ev.source_ip = "192.0.2.77".into();
            ev.params = vec![("Payload".into(), "y".repeat(65536))];
            if admit(&mut ev, 120_000) {
                kept += 1;
                assert!(ev.params.is_empty() && ev.name == "Unknown" && ev.account.is_empty());
            }
        }
        // 10 in full, then summaries at 20, 40, 80, …, 5120: 10 + 9.
        assert_eq!(kept, 19);
    }
}
