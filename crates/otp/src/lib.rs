//! One-time passwords for iamd's MFA devices, with no I/O:
//! - HOTP (RFC 4226) and TOTP (RFC 6238) with SHA-1/256/512, 6 or 8 digits, any period;
//! - the acceptance rules for enabling, resyncing and signing in (drift, replay, windows);
//! - base32 seeds and `otpauth://` URIs for authenticator apps;
//! - seed files from hardware-token vendors: PSKC (RFC 6030, plaintext or encrypted) and CSV.
//!
//! Codes are compared in constant time. A code is never checked against more steps than the window
//! allows, so a guesser's odds are fixed by the window, not by how many devices exist.

pub mod base32;
pub mod csv;
pub mod pskc;

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.trim().to_ascii_uppercase().replace(['-', '_'], "").as_str() {
            "SHA1" | "HMACSHA1" => Some(Algorithm::Sha1),
            "SHA256" | "HMACSHA256" => Some(Algorithm::Sha256),
            "SHA512" | "HMACSHA512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

/// A TOTP device's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub algorithm: Algorithm,
    pub digits: u32,
    pub period: u64,
}

impl Default for Params {
    /// RFC 6238's defaults, which every authenticator app uses.
    fn default() -> Self {
        Params { algorithm: Algorithm::Sha1, digits: 6, period: 30 }
    }
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// HOTP (RFC 4226): dynamic truncation of HMAC(secret, counter), modulo 10^digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32, algorithm: Algorithm) -> u32 {
    let msg = counter.to_be_bytes();
    let h = match algorithm {
        Algorithm::Sha1 => mac::<Hmac<sha1::Sha1>>(secret, &msg),
        Algorithm::Sha256 => mac::<Hmac<sha2::Sha256>>(secret, &msg),
        Algorithm::Sha512 => mac::<Hmac<sha2::Sha512>>(secret, &msg),
    };
    let offset = (h[h.len() - 1] & 0x0f) as usize;
    let bin = ((h[offset] as u32 & 0x7f) << 24) | ((h[offset + 1] as u32) << 16) | ((h[offset + 2] as u32) << 8) | (h[offset + 3] as u32);
    bin % 10u32.pow(digits)
}

/// The code for a time step, zero-padded to the device's digits.
pub fn code_at(secret: &[u8], step: i64, p: &Params) -> String {
    format!("{:0width$}", hotp(secret, step as u64, p.digits, p.algorithm), width = p.digits as usize)
}

/// The time step that contains `unix_seconds`.
pub fn step_of(unix_seconds: i64, p: &Params) -> i64 {
    unix_seconds.div_euclid(p.period as i64)
}

fn matches(secret: &[u8], step: i64, p: &Params, code: &str) -> bool {
    if step < 0 || code.len() != p.digits as usize {
        return false;
    }
    bool::from(code_at(secret, step, p).as_bytes().ct_eq(code.as_bytes()))
}

/// How far from the current step enable and resync look for the two consecutive codes: ±10 steps
/// (±5 minutes at 30 s). Wider than sign-in's ±1 because AWS documents that codes typed late still
/// associate the device; bounded because two consecutive matches are needed (odds ~21 in 10^12).
pub const ENABLE_WINDOW: i64 = 10;

/// The outcome of enabling or resyncing: the step of the second code becomes the last accepted
/// step, and the drift is remembered for later codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sync {
    pub last_step: i64,
    pub drift: i64,
}

/// Finds two consecutive codes (k, k+1) with k within `ENABLE_WINDOW` of the current step `now`.
/// The drift becomes 0 when k+1 is within ±1 of `now`, else k+1−now. Steps at or before
/// `last_step` are refused so a resync cannot replay codes already used.
pub fn synchronize(secret: &[u8], p: &Params, code1: &str, code2: &str, now: i64, last_step: Option<i64>) -> Option<Sync> {
    let mut found = None;
    for k in (now - ENABLE_WINDOW)..=(now + ENABLE_WINDOW) {
        let ok1 = matches(secret, k, p, code1);
        let ok2 = matches(secret, k + 1, p, code2);
        if ok1 & ok2 && last_step.is_none_or(|l| k > l) && found.is_none() {
            found = Some(k + 1);
        }
    }
    let second = found?;
    let drift = if (second - now).abs() <= 1 { 0 } else { second - now };
    Some(Sync { last_step: second, drift })
}

/// Sign-in: a code is accepted when its step s satisfies |s − (now + drift)| ≤ 1 and s > the last
/// accepted step. Returns that step (the caller stores it with a conditional write).
pub fn verify(secret: &[u8], p: &Params, code: &str, now: i64, drift: i64, last_step: i64) -> Option<i64> {
    let centre = now + drift;
    let mut found = None;
    for s in (centre - 1)..=(centre + 1) {
        if matches(secret, s, p, code) && s > last_step && found.is_none() {
            found = Some(s);
        }
    }
    found
}

/// An `otpauth://totp/` URI that authenticator apps (Google Authenticator, Aegis, 1Password) scan.
pub fn otpauth_uri(issuer: &str, label: &str, secret_base32: &str, p: &Params) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    // RFC 3986's unreserved characters stay as they are (a device named `bob-phone` reads so in
    // every app); everything else is escaped.
    const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    let enc = |s: &str| utf8_percent_encode(s, ESCAPED).to_string();
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
        enc(issuer),
        enc(label),
        secret_base32,
        enc(issuer),
        p.algorithm.name(),
        p.digits,
        p.period
    )
}

#[cfg(test)]
mod tests;
