//! The simple seed-file format: one token per line, `serial,seed[,digits[,period[,algorithm]]]`.
//! The seed is base32, or hex when prefixed `hex:` (or when a header names the column `seed_hex`).
//! Blank lines and lines starting with `#` are skipped; an optional first line starting with
//! `serial` is a header. Every error names its line.

use crate::pskc::Token;
use crate::{Algorithm, Params};

pub fn parse(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut hex_column = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(|c| c.trim()).collect();
        if tokens.is_empty() && cols[0].eq_ignore_ascii_case("serial") {
            hex_column = cols.get(1).is_some_and(|c| c.eq_ignore_ascii_case("seed_hex") || c.eq_ignore_ascii_case("secret_hex"));
            continue;
        }
        if cols.len() < 2 || cols.len() > 5 {
            return Err(format!("line {n}: expected serial,seed[,digits[,period[,algorithm]]], found {} fields", cols.len()));
        }
        let serial = cols[0];
        if serial.len() < 9 || serial.len() > 256 || !serial.chars().all(|c| c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c)) {
            return Err(format!("line {n}: serial '{serial}' must be 9 to 256 characters of [A-Za-z0-9_+=/:,.@-]"));
        }
        let seed = cols[1];
        let secret = if let Some(h) = seed.strip_prefix("hex:") {
            hex::decode(h).map_err(|_| format!("line {n}: the seed is not valid hex"))?
        } else if hex_column {
            hex::decode(seed).map_err(|_| format!("line {n}: the seed is not valid hex"))?
        } else {
            crate::base32::decode(seed).ok_or_else(|| format!("line {n}: the seed is not valid base32 (A-Z, 2-7); prefix hex seeds with hex:"))?
        };
        if secret.len() < 10 {
            return Err(format!("line {n}: the seed is {} bytes; a TOTP secret needs at least 10 (80 bits)", secret.len()));
        }
        let mut params = Params::default();
        if let Some(d) = cols.get(2).filter(|s| !s.is_empty()) {
            params.digits = d.parse().ok().filter(|d| *d == 6 || *d == 8).ok_or_else(|| format!("line {n}: digits must be 6 or 8, not '{d}'"))?;
        }
        if let Some(p) = cols.get(3).filter(|s| !s.is_empty()) {
            params.period = p.parse().ok().filter(|p| (10..=300).contains(p)).ok_or_else(|| format!("line {n}: period must be 10..300 seconds, not '{p}'"))?;
        }
        if let Some(a) = cols.get(4).filter(|s| !s.is_empty()) {
            params.algorithm = Algorithm::parse(a).ok_or_else(|| format!("line {n}: algorithm must be SHA1, SHA256 or SHA512, not '{a}'"))?;
        }
        tokens.push(Token { serial: serial.to_string(), secret, params, counter_based: false });
    }
    if tokens.is_empty() {
        return Err("the file holds no token lines".into());
    }
    Ok(tokens)
}
