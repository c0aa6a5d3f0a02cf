//! Secrets at rest: the master key, the keys derived from it, and sealing.
//!
//! The master key (32 random bytes) lives in `DATA_DIR/master.key` (mode 0600) or in `IAMD_MASTER_KEY`
//! (64 hex characters), never in the database. Each purpose gets its own key by HKDF-SHA256 so that a
//! blob sealed for one purpose cannot be opened as another. A sealed blob is
//! `version (1 byte) || nonce (24 bytes) || XChaCha20-Poly1305 ciphertext`, with the row's identity as
//! associated data: a ciphertext copied into another row does not open.

use anyhow::{bail, Context};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::Sha256;
use std::path::Path;

const VERSION: u8 = 1;

/// What a derived key is for. Each purpose has its own key.
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    AccessKeySecret,
    SessionToken,
    MfaSeed,
    KeyCheck,
    AuditSigningKey,
    WebauthnCredential,
    WebauthnCeremony,
    KnownBrowser,
    LoginRefreshToken,
    LoginIdTokenKey,
}

impl Purpose {
    fn info(self) -> &'static [u8] {
        match self {
            Purpose::AccessKeySecret => b"iamd/v1/access-key-secret",
            Purpose::SessionToken => b"iamd/v1/session-token",
            Purpose::MfaSeed => b"iamd/v1/mfa-seed",
            Purpose::KeyCheck => b"iamd/v1/key-check",
            Purpose::AuditSigningKey => b"iamd/v1/audit-signing-key",
            Purpose::WebauthnCredential => b"iamd/v1/webauthn-credential",
            Purpose::WebauthnCeremony => b"iamd/v1/webauthn-ceremony",
            Purpose::KnownBrowser => b"iamd/v1/known-browser",
            Purpose::LoginRefreshToken => b"iamd/v1/login-refresh-token",
            Purpose::LoginIdTokenKey => b"iamd/v1/login-id-token-key",
        }
    }
}

#[derive(Clone)]
pub struct Sealer {
    access_key: XChaCha20Poly1305,
    session: XChaCha20Poly1305,
    mfa: XChaCha20Poly1305,
    check: XChaCha20Poly1305,
    audit: XChaCha20Poly1305,
    webauthn: XChaCha20Poly1305,
    ceremony: XChaCha20Poly1305,
    known: XChaCha20Poly1305,
    login_refresh: XChaCha20Poly1305,
    login_id_key: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn new(master: &[u8; 32]) -> Self {
        let derive = |p: Purpose| {
            let hk = hkdf::Hkdf::<Sha256>::new(Some(b"iamd master key"), master);
            let mut okm = [0u8; 32];
            hk.expand(p.info(), &mut okm).expect("32 bytes is a valid HKDF length");
            XChaCha20Poly1305::new(&okm.into())
        };
        Sealer {
            access_key: derive(Purpose::AccessKeySecret),
            session: derive(Purpose::SessionToken),
            mfa: derive(Purpose::MfaSeed),
            check: derive(Purpose::KeyCheck),
            audit: derive(Purpose::AuditSigningKey),
            webauthn: derive(Purpose::WebauthnCredential),
            ceremony: derive(Purpose::WebauthnCeremony),
            known: derive(Purpose::KnownBrowser),
            login_refresh: derive(Purpose::LoginRefreshToken),
            login_id_key: derive(Purpose::LoginIdTokenKey),
        }
    }

    fn cipher(&self, p: Purpose) -> &XChaCha20Poly1305 {
        match p {
            Purpose::AccessKeySecret => &self.access_key,
            Purpose::SessionToken => &self.session,
            Purpose::MfaSeed => &self.mfa,
            Purpose::KeyCheck => &self.check,
            Purpose::AuditSigningKey => &self.audit,
            Purpose::WebauthnCredential => &self.webauthn,
            Purpose::WebauthnCeremony => &self.ceremony,
            Purpose::KnownBrowser => &self.known,
            Purpose::LoginRefreshToken => &self.login_refresh,
            Purpose::LoginIdTokenKey => &self.login_id_key,
        }
    }

    pub fn seal(&self, p: Purpose, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher(p)
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + 24 + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a sealed blob; `None` if it was altered, moved to another row, or sealed under another key.
    pub fn open(&self, p: Purpose, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 1 + 24 + 16 || sealed[0] != VERSION {
            return None;
        }
        self.cipher(p).decrypt(XNonce::from_slice(&sealed[1..25]), Payload { msg: &sealed[25..], aad }).ok()
    }
}

pub const MASTER_KEY_FILE: &str = "master.key";

fn parse_hex_key(s: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(s.trim()).context("the master key must be 64 hexadecimal characters")?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("the master key must be 64 hexadecimal characters (32 bytes)"))
}

/// Loads the master key from `IAMD_MASTER_KEY` (given here as `from_env`) or `DATA_DIR/master.key`.
pub fn load_master_key(data_dir: &Path, from_env: Option<&str>) -> anyhow::Result<[u8; 32]> {
    if let Some(k) = from_env {
        return parse_hex_key(k).context("IAMD_MASTER_KEY");
    }
    let path = data_dir.join(MASTER_KEY_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("cannot read the master key {}: run `iamd init --data-dir {}` first, or set IAMD_MASTER_KEY", path.display(), data_dir.display())
    })?;
    parse_hex_key(&text).with_context(|| format!("{}", path.display()))
}

/// Creates `DATA_DIR/master.key` with mode 0600; fails if it exists.
pub fn create_master_key(data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    use std::io::Write;
    let path = data_dir.join(MASTER_KEY_FILE);
    if path.exists() {
        bail!("{} already exists", path.display());
    }
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(format!("{}\n", hex::encode(key)).as_bytes())?;
    f.sync_all()?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_only_with_same_row_and_purpose() {
        let s = Sealer::new(&[7u8; 32]);
        let blob = s.seal(Purpose::AccessKeySecret, b"AKIA1", b"secret");
        assert_eq!(s.open(Purpose::AccessKeySecret, b"AKIA1", &blob).unwrap(), b"secret");
        assert!(s.open(Purpose::AccessKeySecret, b"AKIA2", &blob).is_none());
        assert!(s.open(Purpose::MfaSeed, b"AKIA1", &blob).is_none());
        assert!(Sealer::new(&[8u8; 32]).open(Purpose::AccessKeySecret, b"AKIA1", &blob).is_none());
        let mut bad = blob.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(s.open(Purpose::AccessKeySecret, b"AKIA1", &bad).is_none());
        assert!(!blob.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn master_key_file_is_private_and_not_overwritten() {
        let d = tempfile::tempdir().unwrap();
        let k = create_master_key(d.path()).unwrap();
        assert_eq!(load_master_key(d.path(), None).unwrap(), k);
        assert!(create_master_key(d.path()).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.path().join(MASTER_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(load_master_key(d.path(), Some("zz")).is_err());
    }
}
