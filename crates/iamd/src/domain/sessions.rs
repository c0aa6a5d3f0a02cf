//! STS session credentials. The session token is a sealed blob that carries everything a node needs
//! to authenticate the session without a database read: the account, the principal, the temporary
//! access key id and its secret, the expiry, and whether (when, with which device) MFA was used.
//! The access key id is the associated data, so a token cannot be paired with another key id.

use super::Iam;
use crate::crypto::Purpose;
use crate::error::{AwsError, Result};
use crate::ids;
use base64::Engine;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    #[serde(rename = "a")]
    pub account_id: String,
    /// '' for the root user, else the user's id.
    #[serde(rename = "o")]
    pub owner: String,
    #[serde(rename = "k")]
    pub access_key_id: String,
    #[serde(rename = "s")]
    pub secret: String,
    #[serde(rename = "i")]
    pub issued_ms: i64,
    #[serde(rename = "e")]
    pub expires_ms: i64,
    /// When MFA was checked, and with which device; None for a session opened without MFA.
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<(i64, String)>,
    /// A role session: (role id, session name). `owner` is then the user (or '' root) who assumed it.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub role: Option<(String, String)>,
    /// The `aws login` this session was issued for (`domain::logins`): every call checks that it
    /// has not ended.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
}

pub struct Issued {
    pub session: Session,
    pub token: String,
}

pub fn issue(iam: &Iam, account: &str, owner: &str, duration_s: i64, mfa: Option<(i64, String)>, role: Option<(String, String)>) -> Issued {
    issue_with(iam, account, owner, duration_s, mfa, role, None)
}

/// Session credentials for an `aws login` (`login`: its id), which end when the login ends.
pub fn issue_for_login(iam: &Iam, account: &str, owner: &str, duration_s: i64, mfa: Option<(i64, String)>, login: &str) -> Issued {
    issue_with(iam, account, owner, duration_s, mfa, None, Some(login.to_string()))
}

fn issue_with(
    iam: &Iam,
    account: &str,
    owner: &str,
    duration_s: i64,
    mfa: Option<(i64, String)>,
    role: Option<(String, String)>,
    login: Option<String>,
) -> Issued {
    let now = iam.clock.now_ms();
    let session = Session {
        account_id: account.to_string(),
        owner: owner.to_string(),
        access_key_id: ids::session_access_key_id(),
        secret: ids::secret_access_key(),
        issued_ms: now,
        expires_ms: now + duration_s * 1000,
        mfa,
        role,
        login,
    };
    let json = serde_json::to_vec(&session).expect("session serializes");
    let sealed = iam.sealer.seal(Purpose::SessionToken, session.access_key_id.as_bytes(), &json);
    let token = base64::engine::general_purpose::STANDARD.encode(sealed);
    Issued { session, token }
}

/// Opens a session token presented with `access_key_id`. Invalid → InvalidClientTokenId; past its
/// expiry → ExpiredToken.
pub fn open(iam: &Iam, access_key_id: &str, token: &str) -> Result<Session> {
    open_at(&iam.sealer, iam.clock.now_ms(), access_key_id, token)
}

fn open_at(sealer: &crate::crypto::Sealer, now_ms: i64, access_key_id: &str, token: &str) -> Result<Session> {
    let sealed = base64::engine::general_purpose::STANDARD.decode(token.trim()).map_err(|_| AwsError::invalid_token())?;
    let json = sealer.open(Purpose::SessionToken, access_key_id.as_bytes(), &sealed).ok_or_else(AwsError::invalid_token)?;
    let s: Session = serde_json::from_slice(&json).map_err(|_| AwsError::invalid_token())?;
    if s.access_key_id != access_key_id {
        return Err(AwsError::invalid_token());
    }
    if now_ms >= s.expires_ms {
        return Err(AwsError::expired_token("The security token included in the request is expired"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Sealer;

    fn token(sealer: &Sealer, s: &Session) -> String {
        let sealed = sealer.seal(Purpose::SessionToken, s.access_key_id.as_bytes(), &serde_json::to_vec(s).unwrap());
        base64::engine::general_purpose::STANDARD.encode(sealed)
    }

    #[test]
    fn tokens_expire_and_cannot_be_moved_or_forged() {
        let sealer = Sealer::new(&[3u8; 32]);
        let s = Session {
            account_id: "123456789012".into(),
            owner: "AIDAX".into(),
            access_key_id: "ASIAXXXXXXXXXXXXXXXX".into(),
            secret: "s".into(),
            issued_ms: 0,
            expires_ms: 900_000,
            mfa: Some((0, "arn:aws:iam::123456789012:mfa/x".into())),
            role: None,
            login: None,
        };
        let t = token(&sealer, &s);
        assert_eq!(open_at(&sealer, 899_999, &s.access_key_id, &t).unwrap(), s);
        let e = open_at(&sealer, 900_000, &s.access_key_id, &t).unwrap_err();
        assert_eq!(
            (e.code, e.status, e.message.as_str()),
            (crate::error::ErrorCode::ExpiredToken, 403, "The security token included in the request is expired")
        );
        assert_eq!(open_at(&sealer, 0, "ASIAYYYYYYYYYYYYYYYY", &t).unwrap_err().code, crate::error::ErrorCode::InvalidClientTokenId);
        assert_eq!(open_at(&Sealer::new(&[4u8; 32]), 0, &s.access_key_id, &t).unwrap_err().code, crate::error::ErrorCode::InvalidClientTokenId);
        assert_eq!(open_at(&sealer, 0, &s.access_key_id, "bm90IGEgdG9rZW4=").unwrap_err().code, crate::error::ErrorCode::InvalidClientTokenId);
        // the plaintext secret is not visible in the token
        assert!(!t.contains("arn:aws"));
    }
}
