//! Passwords: Argon2id hashes (OWASP parameters, computed off the async runtime) and the account
//! password policy that every password set must satisfy.

use crate::error::{AwsError, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};

/// Argon2 (19 MiB each) runs on at most one blocking thread per core; a few more callers may wait
/// for a turn (briefly), and beyond them a caller gets a fast 503 with Retry-After instead of queueing
/// memory-hungry work without bound. Unauthenticated console sign-ins are what this bounds.
struct Gate {
    permits: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
}

static GATE: std::sync::LazyLock<Gate> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    Gate { permits: tokio::sync::Semaphore::new(cores), waiting: std::sync::atomic::AtomicUsize::new(0), max_waiting: cores * 4 }
});

/// How long a caller may wait for an Argon2 turn before being told to retry.
const GATE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub fn busy() -> AwsError {
    AwsError::service_unavailable("Too many password checks are running; retry in a second.")
}

async fn turn() -> Result<tokio::sync::SemaphorePermit<'static>> {
    use std::sync::atomic::Ordering;
    if let Ok(p) = GATE.permits.try_acquire() {
        return Ok(p);
    }
    if GATE.waiting.fetch_add(1, Ordering::SeqCst) >= GATE.max_waiting {
        GATE.waiting.fetch_sub(1, Ordering::SeqCst);
        return Err(busy());
    }
    let r = tokio::time::timeout(GATE_WAIT, GATE.permits.acquire()).await;
    GATE.waiting.fetch_sub(1, Ordering::SeqCst);
    match r {
        Ok(Ok(p)) => Ok(p),
        _ => Err(busy()),
    }
}

fn argon2() -> Argon2<'static> {
    // OWASP: Argon2id, m = 19 MiB, t = 2, p = 1.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters"))
}

pub async fn hash(password: String) -> Result<String> {
    let _turn = turn().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(|e| AwsError::from(anyhow::anyhow!("password hashing task: {e}")))?
    .map_err(|e| AwsError::from(anyhow::anyhow!("password hashing: {e}")))
}

/// Verifies in constant time (Argon2's own comparison). A malformed stored hash verifies as false.
pub async fn verify(password: String, stored: String) -> Result<bool> {
    let _turn = turn().await?;
    tokio::task::spawn_blocking(move || match PasswordHash::new(&stored) {
        Ok(h) => argon2().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    })
    .await
    .map_err(|e| AwsError::from(anyhow::anyhow!("password verification task: {e}")))
}

/// The account password policy, stored as JSON on the account row. Field names are AWS's.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PasswordPolicy {
    pub minimum_password_length: i64,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase_characters: bool,
    pub require_lowercase_characters: bool,
    pub allow_users_to_change_password: bool,
    pub max_password_age: Option<i64>,
    pub password_reuse_prevention: Option<i64>,
    pub hard_expiry: Option<bool>,
}

impl Default for PasswordPolicy {
    /// What UpdateAccountPasswordPolicy sets for parameters it is not given.
    fn default() -> Self {
        PasswordPolicy {
            minimum_password_length: 6,
            require_symbols: false,
            require_numbers: false,
            require_uppercase_characters: false,
            require_lowercase_characters: false,
            allow_users_to_change_password: false,
            max_password_age: None,
            password_reuse_prevention: None,
            hard_expiry: None,
        }
    }
}

fn is_symbol(c: char) -> bool {
    // AWS: ! @ # $ % ^ & * ( ) _ + - = [ ] { } | ' — any printable ASCII that is not a letter or digit.
    c.is_ascii_punctuation()
}

/// Checks a new password against the account's policy, or AWS's default policy when the account has
/// none (at least 8 characters, three of the four character classes, not the account's e-mail or id).
pub fn check(policy: Option<&PasswordPolicy>, password: &str, account_names: &[&str]) -> Result<()> {
    let len = password.chars().count() as i64;
    let upper = password.chars().any(|c| c.is_ascii_uppercase());
    let lower = password.chars().any(|c| c.is_ascii_lowercase());
    let digit = password.chars().any(|c| c.is_ascii_digit());
    let symbol = password.chars().any(is_symbol);
    let violation = |m: &str| Err(AwsError::password_policy_violation(m));
    match policy {
        Some(p) => {
            if len < p.minimum_password_length {
                return violation(&format!("Password should have a minimum length of {}", p.minimum_password_length));
            }
            if p.require_lowercase_characters && !lower {
                return violation("Password should have at least one lowercase letter");
            }
            if p.require_uppercase_characters && !upper {
                return violation("Password should have at least one uppercase letter");
            }
            if p.require_numbers && !digit {
                return violation("Password should have at least one number");
            }
            if p.require_symbols && !symbol {
                return violation("Password should have at least one symbol");
            }
        }
        None => {
            if len < 8 {
                return violation("Password should have a minimum length of 8");
            }
            if [upper, lower, digit, symbol].iter().filter(|b| **b).count() < 3 {
                return violation("Password should include at least three of: uppercase letters, lowercase letters, numbers and symbols");
            }
            if account_names.iter().any(|n| n.eq_ignore_ascii_case(password)) {
                return violation("Password should not be the account name or e-mail address");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_needs_eight_chars_and_three_classes() {
        assert!(check(None, "Abcdef1!", &[]).is_ok());
        assert!(check(None, "abcdef12", &[]).is_err());
        assert!(check(None, "Ab1!", &[]).is_err());
        assert!(check(None, "Root@Example.com1", &["root@example.com1"]).is_err());
    }

    #[test]
    fn custom_policy_rules_name_the_first_failure() {
        let p = PasswordPolicy { minimum_password_length: 10, require_symbols: true, require_numbers: true, ..Default::default() };
        assert_eq!(check(Some(&p), "short", &[]).unwrap_err().message, "Password should have a minimum length of 10");
        assert_eq!(check(Some(&p), "longenough1", &[]).unwrap_err().message, "Password should have at least one symbol");
        assert_eq!(check(Some(&p), "longenough!", &[]).unwrap_err().message, "Password should have at least one number");
        assert_eq!(check(Some(&p), "longenough!", &[]).unwrap_err().code, crate::error::ErrorCode::PasswordPolicyViolation);
        assert!(check(Some(&p), "longenough1!", &[]).is_ok());
    }

    #[tokio::test]
    async fn argon2id_hash_verifies_only_the_same_password() {
        let h = hash("Correct-Horse-1".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("Correct-Horse-1"));
        assert!(verify("Correct-Horse-1".into(), h.clone()).await.unwrap());
        assert!(!verify("Correct-Horse-2".into(), h.clone()).await.unwrap());
        assert!(!verify("x".into(), "not a hash".into()).await.unwrap());
    }
}
