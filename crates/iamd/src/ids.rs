//! Identifiers in AWS's shapes: 12-digit account ids, `AIDA…` user ids, `AKIA…`/`ASIA…` access key ids,
//! 40-character secrets, generated passwords. All come from the OS's CSPRNG.

use rand::Rng;

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// From the thread's CSPRNG (ChaCha12, seeded and periodically reseeded from the OS): one system call
/// per character made session issuance spend a tenth of its time in the kernel.
fn pick(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n).map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char).collect()
}

pub fn account_id() -> String {
    let mut rng = rand::thread_rng();
    // The first digit is never 0 so the id survives tools that parse it as a number.
    let first = rng.gen_range(1..10u8);
    format!("{first}{}", pick(b"0123456789", 11))
}

/// `AIDA` + 17 characters: 21 characters, like `AIDACKCEVSQ6C2EXAMPLE`.
pub fn user_id() -> String {
    format!("AIDA{}", pick(BASE32, 17))
}

/// `AKIA` + 16 characters: 20 characters, like `AKIAIOSFODNN7EXAMPLE`.
pub fn access_key_id() -> String {
    format!("AKIA{}", pick(BASE32, 16))
}

pub fn session_access_key_id() -> String {
    format!("ASIA{}", pick(BASE32, 16))
}

/// 40 characters from the base64 alphabet, like AWS's secrets.
pub fn secret_access_key() -> String {
    pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40)
}

/// A password that meets any password policy iamd accepts: upper, lower, digit and symbol, 24 chars.
pub fn password() -> String {
    loop {
        let p = pick(b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%+-=_", 24);
        let classes = [
            p.chars().any(|c| c.is_ascii_uppercase()),
            p.chars().any(|c| c.is_ascii_lowercase()),
            p.chars().any(|c| c.is_ascii_digit()),
            p.chars().any(|c| !c.is_ascii_alphanumeric()),
        ];
        if classes.iter().all(|c| *c) {
            return p;
        }
    }
}

/// A UUID v4 for naming a request. Request ids are not secrets, so they come from a fast per-thread
/// generator seeded from the OS once, not a system call per request.
pub fn request_id() -> String {
    use rand::{RngCore, SeedableRng};
    thread_local! {
        static RNG: std::cell::RefCell<rand::rngs::SmallRng> = std::cell::RefCell::new(rand::rngs::SmallRng::from_entropy());
    }
    let mut bytes = [0u8; 16];
    RNG.with(|r| r.borrow_mut().fill_bytes(&mut bytes));
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// A record's event id: a UUID (version 7) that starts with the event's time, so the index of
/// event ids grows at its end.
pub fn event_id(time_ms: i64) -> String {
    use rand::{RngCore, SeedableRng};
    thread_local! {
        static RNG: std::cell::RefCell<rand::rngs::SmallRng> = std::cell::RefCell::new(rand::rngs::SmallRng::from_entropy());
    }
    let mut bytes = [0u8; 10];
    RNG.with(|r| r.borrow_mut().fill_bytes(&mut bytes));
    uuid::Builder::from_unix_timestamp_millis(time_ms.max(0) as u64, &bytes).into_uuid().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_have_aws_shapes() {
        let a = account_id();
        assert_eq!(a.len(), 12);
        assert!(a.bytes().all(|b| b.is_ascii_digit()) && !a.starts_with('0'));
        assert!(user_id().starts_with("AIDA") && user_id().len() == 21);
        let k = access_key_id();
        assert!(k.starts_with("AKIA") && k.len() == 20 && k.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(secret_access_key().len(), 40);
        assert_ne!(secret_access_key(), secret_access_key());
        assert_eq!(password().len(), 24);
    }
}
