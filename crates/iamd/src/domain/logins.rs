//! `aws login` (the AWS Sign-In service's OAuth flow, as aws-cli v2 and botocore speak it; see
//! `shared/spec/aws-login.md`): the browser signs in to the console with any one device and allows
//! the CLI; the CLI exchanges the single-use code (PKCE, `SHA-256`) for iamd session credentials of
//! the principal, proving a DPoP key (ES256) that every refresh must prove again.
//!
//! Everything that must hold across nodes lives in the database: a grant waits in `login_grants`
//! until the person allows it, its code is used once (one UPDATE), a login's current refresh token is
//! its hash in `cli_logins` (rotated on every refresh, the one replaced still honoured for
//! [`GRACE_MS`] so processes sharing one cache file may race), and DPoP proofs' `jti`s are kept in
//! `dpop_jtis` for their `iat` window.

use super::Iam;
use crate::crypto::Purpose;
use crate::error::{AwsError, Result};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

pub const SAME_DEVICE: &str = "arn:aws:signin:::devtools/same-device";
pub const CROSS_DEVICE: &str = "arn:aws:signin:::devtools/cross-device";
/// How long an authorization request waits for the person to sign in and allow it.
pub const GRANT_TTL_MS: i64 = 10 * 60 * 1000;
/// How long an allowed request's code may wait for the token exchange.
pub const CODE_TTL_MS: i64 = 5 * 60 * 1000;
/// The credentials' lifetime (CreateOAuth2Token's `expiresIn` is at most 900).
pub const ACCESS_TTL_S: i64 = 900;
/// How long a refresh token that was just replaced is still honoured.
pub const GRACE_MS: i64 = 60 * 1000;
/// A DPoP proof's `iat` may be this far from the server's clock.
pub const IAT_WINDOW_S: i64 = 300;
/// The whole login, from the console sign-in, unless `--login-max-hours` says otherwise.
pub const DEFAULT_MAX_LOGIN_MS: i64 = 12 * 3600 * 1000;

const B64U: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A validated `/v1/authorize` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorize {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub challenge: String,
}

/// The only redirect a same-device login may name: the CLI's loopback listener.
fn is_loopback_callback(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://127.0.0.1:") else { return false };
    let Some(port) = rest.strip_suffix("/oauth/callback") else { return false };
    !port.is_empty()
        && port.len() <= 5
        && !port.starts_with('0')
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
}

fn is_verifier_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

/// Checks every parameter of `/v1/authorize` (each exactly once). `confirmation` is this server's own
/// `/v1/sessions/confirmation` URL, the one redirect a cross-device login may name. The error says
/// what is wrong; it is shown on a page, never sent to a redirect.
pub fn validate_authorize(query: &[(String, String)], confirmation: &str) -> std::result::Result<Authorize, String> {
    let one = |name: &str| -> std::result::Result<&str, String> {
        let mut it = query.iter().filter(|(k, _)| k == name);
        match (it.next(), it.next()) {
            (Some((_, v)), None) => Ok(v.as_str()),
            (None, _) => Err(format!("The request has no {name}.")),
            _ => Err(format!("The request names {name} more than once.")),
        }
    };
    if one("response_type")? != "code" {
        return Err("response_type must be code.".into());
    }
    let client_id = one("client_id")?;
    if client_id != SAME_DEVICE && client_id != CROSS_DEVICE {
        return Err("The client_id is not one this server signs in.".into());
    }
    if one("code_challenge_method")? != "SHA-256" {
        return Err("code_challenge_method must be SHA-256.".into());
    }
    if one("scope")? != "openid" {
        return Err("scope must be openid.".into());
    }
    let challenge = one("code_challenge")?;
    if challenge.len() != 43 || !challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err("The code_challenge is not a SHA-256 digest in base64url.".into());
    }
    let state = one("state")?;
    if state.is_empty() || state.len() > 256 || !state.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err("The state must be 1 to 256 printable characters.".into());
    }
    let redirect_uri = one("redirect_uri")?;
    let allowed = if client_id == SAME_DEVICE { is_loopback_callback(redirect_uri) } else { redirect_uri == confirmation };
    if !allowed {
        return Err(if client_id == SAME_DEVICE {
            "The redirect_uri must be http://127.0.0.1:<port>/oauth/callback.".into()
        } else {
            format!("The redirect_uri must be {confirmation}.")
        });
    }
    Ok(Authorize { client_id: client_id.into(), redirect_uri: redirect_uri.into(), state: state.into(), challenge: challenge.into() })
}

/// An authorization request waiting for (or given) the person's consent.
#[derive(Clone, Debug)]
pub struct Grant {
    pub id: String,
    pub request: Authorize,
    pub expires_ms: i64,
}

fn digest_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Stores a validated request; returns its id (the consent page's address).
pub async fn create_grant(iam: &Iam, a: &Authorize) -> Result<String> {
    let id = super::console::random_token();
    let now = iam.clock.now_ms();
    let mut tx = iam.begin().await?;
    sqlx::query("DELETE FROM login_grants WHERE expires_ms < $1").bind(now - GRANT_TTL_MS).execute(&mut *tx).await?;
    sqlx::query("INSERT INTO login_grants (id, client_id, redirect_uri, state, challenge, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&id)
        .bind(&a.client_id)
        .bind(&a.redirect_uri)
        .bind(&a.state)
        .bind(&a.challenge)
        .bind(now)
        .bind(now + GRANT_TTL_MS)
        .execute(&mut *tx)
        .await?;
    // The request is not a call of its own: the sign-in and the token exchange are recorded.
    tx.commit_unrecorded().await?;
    Ok(id)
}

/// A request still waiting for consent.
pub async fn pending_grant(iam: &Iam, id: &str) -> Result<Option<Grant>> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT client_id, redirect_uri, state, challenge, expires_ms FROM login_grants WHERE id = $1 AND code_hash IS NULL AND used = 0 AND expires_ms > $2",
    )
    .bind(id)
    .bind(iam.clock.now_ms())
    .fetch_optional(&iam.store.read)
    .await?;
    Ok(row.map(|r| Grant {
        id: id.to_string(),
        request: Authorize { client_id: r.get(0), redirect_uri: r.get(1), state: r.get(2), challenge: r.get(3) },
        expires_ms: r.get(4),
    }))
}

/// Who allowed a request, and how they signed in.
pub struct Approval<'a> {
    pub account: &'a str,
    /// '' for root, else the user's id.
    pub owner: &'a str,
    /// When and with which device the console sign-in checked MFA.
    pub mfa: Option<(i64, String)>,
    /// When the console sign-in began (the login's age counts from it).
    pub auth_ms: i64,
}

/// The person allowed the request: binds it to them and returns the single-use code (once; a
/// request allowed already, or expired, gives `None`).
pub async fn approve(iam: &Iam, id: &str, who: &Approval<'_>) -> Result<Option<String>> {
    let code = super::console::random_token();
    let now = iam.clock.now_ms();
    let mut tx = iam.begin().await?;
    let n = sqlx::query(
        "UPDATE login_grants SET code_hash = $1, account_id = $2, owner = $3, mfa_serial = $4, mfa_at = $5, auth_ms = $6, expires_ms = $7 \
         WHERE id = $8 AND code_hash IS NULL AND used = 0 AND expires_ms > $9",
    )
    .bind(digest_hex(&code))
    .bind(who.account)
    .bind(who.owner)
    .bind(who.mfa.as_ref().map(|m| m.1.clone()))
    .bind(who.mfa.as_ref().map(|m| m.0))
    .bind(who.auth_ms)
    .bind(now + CODE_TTL_MS)
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // The console records the consent itself.
    tx.commit_unrecorded().await?;
    Ok((n == 1).then_some(code))
}

/// The person refused: the request is gone.
pub async fn deny(iam: &Iam, id: &str) -> Result<()> {
    let mut tx = iam.begin().await?;
    sqlx::query("DELETE FROM login_grants WHERE id = $1 AND code_hash IS NULL").bind(id).execute(&mut *tx).await?;
    tx.commit_unrecorded().await?;
    Ok(())
}

// ---- DPoP (RFC 9449, as botocore and the CLI send it) ----

/// A DPoP proof that verified: the key's RFC 7638 thumbprint, and the proof's id and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
}

/// An EC coordinate from a jwk: base64url, at most 32 bytes, left-padded to 32 (awscrt drops leading
/// zero bytes, so about 0.8% of the CLI's keys have a 31-byte coordinate).
fn coordinate(v: &Value) -> std::result::Result<[u8; 32], &'static str> {
    let s = v.as_str().ok_or("the jwk has no x or y")?;
    let b = B64U.decode(s).map_err(|_| "a jwk coordinate is not base64url")?;
    if b.is_empty() || b.len() > 32 {
        return Err("a jwk coordinate is not a P-256 coordinate");
    }
    let mut out = [0u8; 32];
    out[32 - b.len()..].copy_from_slice(&b);
    Ok(out)
}

/// `scheme://host[:port]/path` in the form two URLs of one endpoint share: scheme and host lower
/// case, no default port, no query or fragment, no trailing slash.
pub fn normalize_url(u: &str) -> Option<String> {
    let (scheme, rest) = u.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let mut authority = authority.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    if let Some(a) = authority.strip_suffix(default) {
        authority = a.to_string();
    }
    Some(format!("{scheme}://{authority}{}", path.trim_end_matches('/')))
}

/// Verifies a DPoP header for a POST to `htu` at `now_s`: a compact JWS with `typ` `dpop+jwt`, `alg`
/// ES256 and a public P-256 jwk (never a private one), signed by that key, naming this method and URL,
/// made within [`IAT_WINDOW_S`], with a `jti`. The error says which check failed.
pub fn verify_dpop(header: &str, htu: &str, now_s: i64) -> std::result::Result<Proof, &'static str> {
    if header.is_empty() || header.len() > 4096 {
        return Err("the DPoP header is missing or too long");
    }
    let mut parts = header.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("the DPoP proof is not a compact JWS");
    };
    let head: Value = B64U.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or("the DPoP header is not base64url JSON")?;
    if head["typ"] != "dpop+jwt" {
        return Err("the DPoP proof's typ is not dpop+jwt");
    }
    if head["alg"] != "ES256" {
        return Err("the DPoP proof's alg is not ES256");
    }
    let jwk = &head["jwk"];
    if !jwk.is_object() || jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return Err("the DPoP jwk is not a P-256 EC key");
    }
    if jwk.get("d").is_some() {
        return Err("the DPoP jwk carries a private key");
    }
    let (x, y) = (coordinate(&jwk["x"])?, coordinate(&jwk["y"])?);
    let mut point = [0u8; 65];
    point[0] = 4;
    point[1..33].copy_from_slice(&x);
    point[33..].copy_from_slice(&y);
    let sig = B64U.decode(s).map_err(|_| "the DPoP signature is not base64url")?;
    if sig.len() != 64 {
        return Err("the DPoP signature is not an ES256 signature");
    }
    let signing_input = &header[..h.len() + 1 + p.len()];
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point)
        .verify(signing_input.as_bytes(), &sig)
        .map_err(|_| "the DPoP signature does not verify")?;
    let claims: Value = B64U.decode(p).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or("the DPoP claims are not base64url JSON")?;
    if claims["htm"] != "POST" {
        return Err("the DPoP proof's htm is not POST");
    }
    let want = normalize_url(htu).ok_or("the token URL cannot be normalised")?;
    if claims["htu"].as_str().and_then(normalize_url).as_deref() != Some(want.as_str()) {
        return Err("the DPoP proof's htu is not this endpoint");
    }
    let iat = claims["iat"].as_i64().ok_or("the DPoP proof has no integer iat")?;
    if (iat - now_s).abs() > IAT_WINDOW_S {
        return Err("the DPoP proof's iat is outside the accepted window");
    }
    let jti = claims["jti"].as_str().filter(|j| !j.is_empty() && j.len() <= 128).ok_or("the DPoP proof has no jti")?;
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, B64U.encode(x), B64U.encode(y));
    Ok(Proof { jkt: B64U.encode(Sha256::digest(canonical.as_bytes())), jti: jti.to_string(), iat })
}

/// Records a proof's jti; false when that key has used it already (a replay), on any node.
pub async fn first_use_of(iam: &Iam, proof: &Proof) -> Result<bool> {
    let now = iam.clock.now_ms();
    let mut tx = iam.begin().await?;
    sqlx::query("DELETE FROM dpop_jtis WHERE expires_ms < $1").bind(now).execute(&mut *tx).await?;
    let n = sqlx::query("INSERT INTO dpop_jtis (jkt, jti, expires_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(&proof.jkt)
        .bind(&proof.jti)
        .bind((proof.iat + IAT_WINDOW_S + 1) * 1000)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    // Replay bookkeeping: the token call that carries the proof is recorded.
    tx.commit_unrecorded().await?;
    Ok(n == 1)
}

/// PKCE with the CLI's `SHA-256`: the challenge is base64url(SHA-256(verifier)), compared in constant
/// time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let ok_shape = (43..=128).contains(&verifier.len()) && verifier.bytes().all(is_verifier_char);
    let want = B64U.encode(Sha256::digest(verifier.as_bytes()));
    ok_shape && want.len() == challenge.len() && bool::from(want.as_bytes().ct_eq(challenge.as_bytes()))
}

// ---- the token endpoint ----

/// A refusal, as CreateOAuth2Token's modeled errors: (exception, OAuth2ErrorCode, message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub exception: &'static str,
    pub error: &'static str,
    pub message: String,
}

impl TokenError {
    pub fn insufficient(message: impl Into<String>) -> TokenError {
        TokenError::denied("INSUFFICIENT_PERMISSIONS", message)
    }
    pub fn invalid(message: impl Into<String>) -> TokenError {
        TokenError { exception: "ValidationException", error: "INVALID_REQUEST", message: message.into() }
    }
    fn denied(error: &'static str, message: impl Into<String>) -> TokenError {
        TokenError { exception: "AccessDeniedException", error, message: message.into() }
    }
    fn bad_grant() -> TokenError {
        TokenError::invalid("The provided authorization grant is invalid, expired, revoked, or malformed.")
    }
    fn expired() -> TokenError {
        TokenError::denied("TOKEN_EXPIRED", "The login has expired or was replaced. Sign in again with aws login.")
    }
    fn changed() -> TokenError {
        TokenError::denied("USER_CREDENTIALS_CHANGED", "The login ended: the principal's credentials changed or it was revoked. Sign in again with aws login.")
    }
}

impl From<AwsError> for TokenError {
    fn from(e: AwsError) -> TokenError {
        tracing::error!(error = %e.message, "the token endpoint failed");
        TokenError { exception: "InternalServerException", error: "server_error", message: "The request could not be completed. Try again.".into() }
    }
}

impl From<sqlx::Error> for TokenError {
    fn from(e: sqlx::Error) -> TokenError {
        AwsError::from(e).into()
    }
}

/// What a successful exchange or refresh hands the client.
pub struct TokenOut {
    pub credentials: super::sessions::Issued,
    pub refresh_token: String,
    pub expires_in: i64,
    /// Only for the code exchange.
    pub id_token: Option<String>,
    /// The login's principal.
    pub arn: String,
}

/// The row of a login that a refresh reads.
struct Login {
    id: String,
    account: String,
    owner: String,
    client_id: String,
    jkt: String,
    mfa: Option<(i64, String)>,
    expires_ms: i64,
    revoked: bool,
}

const LOGIN_COLS: &str = "id, account_id, owner, client_id, jkt, mfa_serial, mfa_at, auth_ms, expires_ms, revoked_ms";

fn login_of(r: &sqlx::any::AnyRow) -> Login {
    let serial: Option<String> = r.get(5);
    let at: Option<i64> = r.get(6);
    Login {
        id: r.get(0),
        account: r.get(1),
        owner: r.get(2),
        client_id: r.get(3),
        jkt: r.get(4),
        mfa: serial.zip(at).map(|(s, t)| (t, s)),
        expires_ms: r.get(8),
        revoked: r.get::<Option<i64>, _>(9).is_some(),
    }
}

/// The principal a login names, if it still exists: its ARN and, for a user, the user.
async fn principal(iam: &Iam, account: &str, owner: &str) -> Result<Option<(String, Option<super::UserRef>)>> {
    if super::is_root_column(owner) {
        return Ok(Some((format!("arn:aws:iam::{account}:root"), None)));
    }
    Ok(super::keys::lookup_user(iam, account, owner).await?.map(|u| (super::user_arn(account, &u.path, &u.name), Some(u))))
}

/// Whether the login a session was issued for has ended (revoked — by the Security credentials
/// page, or by `console::credentials_changed`: a password change, the device's removal, signing out
/// everywhere — or past its cap): the session's calls are refused at once.
pub async fn session_ended(iam: &Iam, login_id: &str) -> Result<bool> {
    let row = sqlx::query(&format!("SELECT {LOGIN_COLS} FROM cli_logins WHERE id = $1")).bind(login_id).fetch_optional(&iam.store.read).await?;
    let Some(row) = row else { return Ok(true) };
    let l = login_of(&row);
    Ok(l.revoked || l.expires_ms <= iam.clock.now_ms())
}

/// Seconds of credentials a login may still hand out.
fn credential_seconds(iam: &Iam, expires_ms: i64) -> i64 {
    ((expires_ms - iam.clock.now_ms()) / 1000).clamp(1, ACCESS_TTL_S)
}

/// Who a login (or the code that would start one) acts for: the account, the owner ('' root) and the
/// sign-in's MFA. The token endpoint asks the policy engine about this principal first.
pub struct Principal {
    pub account: String,
    pub owner: String,
    pub mfa: Option<(i64, String)>,
}

/// The principal an allowed, unused code names (read only: the exchange spends it).
pub async fn code_principal(iam: &Iam, code: &str) -> Result<Option<Principal>> {
    if code.is_empty() || code.len() > 512 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT account_id, owner, mfa_serial, mfa_at FROM login_grants WHERE code_hash = $1 AND used = 0")
        .bind(digest_hex(code))
        .fetch_optional(&iam.store.read)
        .await?;
    Ok(row.map(|r| Principal { account: r.get(0), owner: r.get(1), mfa: r.get::<Option<String>, _>(2).zip(r.get::<Option<i64>, _>(3)).map(|(s, t)| (t, s)) }))
}

/// The principal of the login a refresh token (current, or just replaced) belongs to.
pub async fn refresh_principal(iam: &Iam, token: &str) -> Result<Option<Principal>> {
    if token.is_empty() || token.len() > 12288 {
        return Ok(None);
    }
    let row = sqlx::query(&format!("SELECT {LOGIN_COLS} FROM cli_logins WHERE refresh_hash = $1 OR prev_refresh_hash = $1"))
        .bind(digest_hex(token))
        .fetch_optional(&iam.store.write)
        .await?;
    Ok(row.map(|r| {
        let l = login_of(&r);
        Principal { account: l.account, owner: l.owner, mfa: l.mfa }
    }))
}

/// The resource the Sign-In actions are authorized on (AWS's managed policy
/// SignInLocalDevelopmentAccess allows them on `arn:aws:signin:*:*:oauth2/public-client/*`).
pub fn client_resource(region: &str, account: &str) -> String {
    format!("arn:aws:signin:{region}:{account}:oauth2/public-client/localhost")
}

/// The authorization_code grant: the code (once), its client, redirect and PKCE verifier, and the
/// DPoP key that the login is then bound to.
#[allow(clippy::too_many_arguments)]
pub async fn exchange_code(
    iam: &Iam,
    client_id: &str,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
    proof: &Proof,
    issuer: &str,
    ip: &str,
) -> std::result::Result<TokenOut, TokenError> {
    if code.is_empty() || code.len() > 512 {
        return Err(TokenError::bad_grant());
    }
    let now = iam.clock.now_ms();
    let mut tx = iam.begin().await?;
    let row = sqlx::query(
        "UPDATE login_grants SET used = 1 WHERE code_hash = $1 AND used = 0 \
         RETURNING client_id, redirect_uri, challenge, expires_ms, account_id, owner, mfa_serial, mfa_at, auth_ms",
    )
    .bind(digest_hex(code))
    .fetch_optional(&mut *tx)
    .await?;
    // Used once, whatever follows: a code that fails a check is spent too.
    tx.commit_unrecorded().await?;
    let Some(row) = row else { return Err(TokenError::bad_grant()) };
    let (g_client, g_redirect, g_challenge, g_expires): (String, String, String, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
    let (account, owner): (String, String) = (row.get(4), row.get(5));
    let serial: Option<String> = row.get(6);
    let mfa_at: Option<i64> = row.get(7);
    let auth_ms: i64 = row.get(8);
    if g_expires <= now {
        return Err(TokenError::denied("AUTHCODE_EXPIRED", "The authorization code has expired. Sign in again with aws login."));
    }
    if g_client != client_id || g_redirect != redirect_uri || !pkce_matches(verifier, &g_challenge) {
        return Err(TokenError::bad_grant());
    }
    let mfa = serial.zip(mfa_at).map(|(s, t)| (t, s));
    let Some((arn, user)) = principal(iam, &account, &owner).await? else { return Err(TokenError::changed()) };
    let id = crate::ids::request_id();
    let refresh = super::console::random_token();
    let expires_ms = auth_ms + iam.login_max_ms;
    if expires_ms <= now {
        return Err(TokenError::expired());
    }
    // (Before the transaction: on SQLite the key's first use writes through the one writer.)
    let id_token = id_token(iam, &arn, client_id, issuer, now / 1000).await?;
    let mut tx = iam.begin().await?;
    sqlx::query(
        "INSERT INTO cli_logins (id, account_id, owner, client_id, jkt, mfa_serial, mfa_at, auth_ms, created_ms, expires_ms, refresh_hash, refresh_sealed, refreshed_ms, source_ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $9, $13)",
    )
    .bind(&id)
    .bind(&account)
    .bind(&owner)
    .bind(client_id)
    .bind(&proof.jkt)
    .bind(mfa.as_ref().map(|m| m.1.clone()))
    .bind(mfa.as_ref().map(|m| m.0))
    .bind(auth_ms)
    .bind(now)
    .bind(expires_ms)
    .bind(digest_hex(&refresh))
    .bind(iam.sealer.seal(Purpose::LoginRefreshToken, id.as_bytes(), refresh.as_bytes()))
    .bind(ip)
    .execute(&mut *tx)
    .await?;
    let seconds = credential_seconds(iam, expires_ms);
    let credentials = super::sessions::issue_for_login(iam, &account, &owner, seconds, mfa.clone(), &id);
    record(&credentials, &id, &arn, user.as_ref());
    tx.commit().await?;
    Ok(TokenOut { credentials, refresh_token: refresh, expires_in: seconds, id_token: Some(id_token), arn })
}

/// The refresh_token grant: the login's current refresh token (or, within [`GRACE_MS`] of its
/// rotation, the one it replaced) with the login's own DPoP key.
pub async fn refresh(iam: &Iam, client_id: &str, token: &str, proof: &Proof) -> std::result::Result<TokenOut, TokenError> {
    if token.is_empty() || token.len() > 12288 {
        return Err(TokenError::bad_grant());
    }
    let now = iam.clock.now_ms();
    let hash = digest_hex(token);
    let current = sqlx::query(&format!("SELECT {LOGIN_COLS} FROM cli_logins WHERE refresh_hash = $1")).bind(&hash).fetch_optional(&iam.store.write).await?;
    let (login, rotated) = match current {
        Some(r) => (login_of(&r), false),
        None => {
            let prev = sqlx::query(&format!("SELECT {LOGIN_COLS}, rotated_ms FROM cli_logins WHERE prev_refresh_hash = $1"))
                .bind(&hash)
                .fetch_optional(&iam.store.write)
                .await?;
            match prev {
                Some(r) if r.get::<Option<i64>, _>(10).is_some_and(|t| now - t <= GRACE_MS) => (login_of(&r), true),
                _ => return Err(TokenError::expired()),
            }
        }
    };
    if login.jkt.as_bytes().ct_eq(proof.jkt.as_bytes()).unwrap_u8() == 0 {
        return Err(TokenError::invalid("The DPoP proof is not signed by the key this login is bound to."));
    }
    if login.client_id != client_id {
        return Err(TokenError::bad_grant());
    }
    if login.revoked {
        return Err(TokenError::changed());
    }
    if login.expires_ms <= now {
        return Err(TokenError::expired());
    }
    let Some((arn, user)) = principal(iam, &login.account, &login.owner).await? else { return Err(TokenError::changed()) };
    let mut tx = iam.begin().await?;
    let refresh_token = if rotated {
        // A racing process with the token just replaced: the current one, unchanged.
        let sealed: Vec<u8> = sqlx::query_scalar("SELECT refresh_sealed FROM cli_logins WHERE id = $1").bind(&login.id).fetch_one(&mut *tx).await?;
        let t = iam.sealer.open(Purpose::LoginRefreshToken, login.id.as_bytes(), &sealed).ok_or_else(|| AwsError::internal("a refresh token does not open"))?;
        String::from_utf8(t).map_err(|_| AwsError::internal("a refresh token is not UTF-8"))?
    } else {
        let next = super::console::random_token();
        let n = sqlx::query(
            "UPDATE cli_logins SET refresh_hash = $1, refresh_sealed = $2, prev_refresh_hash = $3, rotated_ms = $4, refreshed_ms = $4 WHERE id = $5 AND refresh_hash = $3",
        )
        .bind(digest_hex(&next))
        .bind(iam.sealer.seal(Purpose::LoginRefreshToken, login.id.as_bytes(), next.as_bytes()))
        .bind(&hash)
        .bind(now)
        .bind(&login.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            // Another node rotated it between the read and now: the caller retries into the grace path.
            return Err(TokenError::bad_grant());
        }
        next
    };
    let seconds = credential_seconds(iam, login.expires_ms);
    let credentials = super::sessions::issue_for_login(iam, &login.account, &login.owner, seconds, login.mfa.clone(), &login.id);
    record(&credentials, &login.id, &arn, user.as_ref());
    tx.commit().await?;
    Ok(TokenOut { credentials, refresh_token, expires_in: seconds, id_token: None, arn })
}

/// The token call's record: the principal, the device behind the login, the credentials' key id;
/// never a token.
fn record(c: &super::sessions::Issued, login: &str, arn: &str, user: Option<&super::UserRef>) {
    let s = &c.session;
    crate::audit::with(|e| {
        e.account = s.account_id.clone();
        e.identity = crate::audit::Identity {
            kind: if user.is_some() { "IAMUser" } else { "Root" },
            principal_id: user.map(|u| u.user_id.clone()).unwrap_or_else(|| s.account_id.clone()),
            arn: arn.to_string(),
            account_id: s.account_id.clone(),
            access_key_id: s.access_key_id.clone(),
            user_name: user.map(|u| u.name.clone()),
            mfa_authenticated: Some(s.mfa.is_some()),
            session_created_ms: Some(s.issued_ms),
            ..Default::default()
        };
        e.response = Some(json!({
            "credentials": {"accessKeyId": s.access_key_id, "expiration": crate::conventions::iso8601(s.expires_ms)},
            "loginId": login,
        }));
        e.additional = Some(json!({
            "MFAUsed": if s.mfa.is_some() { "Yes" } else { "No" },
            "MFAIdentifier": s.mfa.as_ref().map(|m| m.1.as_str()).unwrap_or(""),
        }));
    });
}

/// Ends a login (the Security credentials page's Revoke): its refresh fails and its credentials stop.
pub async fn revoke(iam: &Iam, account: &str, owner: &str, id: &str) -> Result<bool> {
    let mut tx = iam.begin().await?;
    let n = sqlx::query("UPDATE cli_logins SET revoked_ms = $1 WHERE id = $2 AND account_id = $3 AND owner = $4 AND revoked_ms IS NULL")
        .bind(iam.clock.now_ms())
        .bind(id)
        .bind(account)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n == 1)
}

/// A principal's CLI logins still in force: (id, device used, signed in, last refreshed, source ip).
pub async fn active(iam: &Iam, account: &str, owner: &str) -> Result<Vec<(String, Option<String>, i64, i64, String)>> {
    let rows = sqlx::query(
        "SELECT id, mfa_serial, auth_ms, refreshed_ms, source_ip FROM cli_logins WHERE account_id = $1 AND owner = $2 AND revoked_ms IS NULL AND expires_ms > $3 ORDER BY created_ms DESC LIMIT 100",
    )
    .bind(account)
    .bind(owner)
    .bind(iam.clock.now_ms())
    .fetch_all(&iam.store.read)
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get::<Option<String>, _>(4).unwrap_or_default())).collect())
}

// ---- the id token ----

const ID_KEY_NAME: &str = "login_id_token_key";

/// The key that signs id tokens (ES256), made on first use and kept sealed in `meta`.
async fn id_key(iam: &Iam) -> Result<ring::signature::EcdsaKeyPair> {
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let rng = ring::rand::SystemRandom::new();
    let load = |v: Vec<u8>| -> Result<ring::signature::EcdsaKeyPair> {
        let der = iam
            .sealer
            .open(Purpose::LoginIdTokenKey, ID_KEY_NAME.as_bytes(), &v)
            .ok_or_else(|| AwsError::internal("the id token key does not open under this master key"))?;
        ring::signature::EcdsaKeyPair::from_pkcs8(alg, &der, &rng).map_err(|_| AwsError::internal("the id token key does not decode"))
    };
    let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM meta WHERE name = $1").bind(ID_KEY_NAME).fetch_optional(&iam.store.write).await?;
    if let Some(v) = stored {
        return load(v);
    }
    let der = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|_| AwsError::internal("making the id token key"))?;
    let sealed = iam.sealer.seal(Purpose::LoginIdTokenKey, ID_KEY_NAME.as_bytes(), der.as_ref());
    // Two nodes making the key at once: the first one stored is the key.
    sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING").bind(ID_KEY_NAME).bind(sealed).execute(&iam.store.write).await?;
    let v: Vec<u8> = sqlx::query_scalar("SELECT value FROM meta WHERE name = $1").bind(ID_KEY_NAME).fetch_one(&iam.store.write).await?;
    load(v)
}

/// The OpenID id token the CLI reads `sub` from (the principal's ARN, which becomes the profile's
/// `login_session`), signed ES256.
async fn id_token(iam: &Iam, sub: &str, client_id: &str, issuer: &str, now_s: i64) -> Result<String> {
    use ring::signature::KeyPair;
    let key = id_key(iam).await?;
    let kid = hex::encode(&Sha256::digest(key.public_key().as_ref())[..8]);
    let head = B64U.encode(json!({"kid": kid, "typ": "JWT", "alg": "ES256"}).to_string());
    let claims = B64U.encode(json!({"sub": sub, "aud": client_id, "iss": issuer, "iat": now_s, "exp": now_s + ACCESS_TTL_S}).to_string());
    let input = format!("{head}.{claims}");
    let sig = key.sign(&ring::rand::SystemRandom::new(), input.as_bytes()).map_err(|_| AwsError::internal("signing an id token"))?;
    Ok(format!("{input}.{}", B64U.encode(sig.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const CHALLENGE: &str = "xTGLN6eTkZBAzpGKFNkaGNUIKMzSrK92bvOkgKDmeeY";

    fn authorize(client: &str, redirect: &str) -> Vec<(String, String)> {
        pairs(&[
            ("response_type", "code"),
            ("client_id", client),
            ("state", "e4093615-e6ac-416e-ad1b-10b1b5d852e6"),
            ("code_challenge_method", "SHA-256"),
            ("scope", "openid"),
            ("redirect_uri", redirect),
            ("code_challenge", CHALLENGE),
        ])
    }

    #[test]
    fn authorize_takes_only_the_cli_s_clients_and_redirects() {
        let conf = "https://iamd.example.com/v1/sessions/confirmation";
        let ok = validate_authorize(&authorize(SAME_DEVICE, "http://127.0.0.1:37699/oauth/callback"), conf).unwrap();
        assert_eq!(ok.redirect_uri, "http://127.0.0.1:37699/oauth/callback");
        assert!(validate_authorize(&authorize(CROSS_DEVICE, conf), conf).is_ok());
        for bad in [
            "http://localhost:37699/oauth/callback",
            "http://127.0.0.1/oauth/callback",
            "http://127.0.0.1:0/oauth/callback",
            "http://127.0.0.1:65536/oauth/callback",
            "http://127.0.0.1:8080/oauth/callback?x=1",
            "http://127.0.0.1:8080/elsewhere",
            "https://evil.example/oauth/callback",
            "http://127.0.0.1:8080@evil.example/oauth/callback",
            conf,
        ] {
            assert!(validate_authorize(&authorize(SAME_DEVICE, bad), conf).is_err(), "{bad}");
        }
        assert!(validate_authorize(&authorize(CROSS_DEVICE, "http://127.0.0.1:37699/oauth/callback"), conf).is_err());
        assert!(validate_authorize(&authorize("arn:aws:signin:::devtools/other", conf), conf).is_err());
        let mut q = authorize(SAME_DEVICE, "http://127.0.0.1:37699/oauth/callback");
        q.push(("state".into(), "second".into()));
        assert!(validate_authorize(&q, conf).is_err(), "a parameter twice");
        let mut q = authorize(SAME_DEVICE, "http://127.0.0.1:37699/oauth/callback");
        q.retain(|(k, _)| k != "state");
        assert!(validate_authorize(&q, conf).is_err(), "no state");
        let q: Vec<_> = authorize(SAME_DEVICE, "http://127.0.0.1:37699/oauth/callback")
            .into_iter()
            .map(|(k, v)| if k == "code_challenge_method" { (k, "S256".to_string()) } else { (k, v) })
            .collect();
        assert!(validate_authorize(&q, conf).is_err(), "S256 is not what the CLI sends");
    }

    #[test]
    fn pkce_is_sha256_of_the_verifier() {
        let v = "a".repeat(64);
        let c = B64U.encode(Sha256::digest(v.as_bytes()));
        assert!(pkce_matches(&v, &c));
        assert!(!pkce_matches(&"b".repeat(64), &c));
        assert!(!pkce_matches("short", &B64U.encode(Sha256::digest(b"short"))));
        assert!(!pkce_matches(&format!("{}!", "a".repeat(63)), &c));
    }

    /// A DPoP proof as botocore builds it, from a ring key; `edit` changes the header and claims first.
    fn proof(key: &ring::signature::EcdsaKeyPair, htu: &str, iat: i64, edit: impl Fn(&mut Value, &mut Value), trim: bool) -> String {
        let pk = key.public_key().as_ref();
        let (mut x, mut y) = (pk[1..33].to_vec(), pk[33..].to_vec());
        if trim {
            // awscrt drops leading zero bytes
            while x.first() == Some(&0) {
                x.remove(0);
            }
            while y.first() == Some(&0) {
                y.remove(0);
            }
        }
        let mut h = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {"kty": "EC", "x": B64U.encode(&x), "y": B64U.encode(&y), "crv": "P-256"}});
        let mut c = json!({"htm": "POST", "htu": htu, "iat": iat, "jti": uuid::Uuid::new_v4().to_string()});
        edit(&mut h, &mut c);
        let input = format!("{}.{}", B64U.encode(h.to_string()), B64U.encode(c.to_string()));
        let sig = key.sign(&ring::rand::SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", B64U.encode(sig.as_ref()))
    }

    fn key() -> ring::signature::EcdsaKeyPair {
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let der = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        ring::signature::EcdsaKeyPair::from_pkcs8(alg, der.as_ref(), &rng).unwrap()
    }

    #[test]
    fn dpop_proofs_verify_only_as_the_cli_makes_them() {
        let k = key();
        let htu = "http://127.0.0.1:18555/v1/token";
        let now = 1_700_000_000;
        let p = verify_dpop(&proof(&k, htu, now, |_, _| {}, false), htu, now).unwrap();
        // The thumbprint is RFC 7638's over the padded coordinates: the same key trimmed gives it too.
        let q = verify_dpop(&proof(&k, htu, now, |_, _| {}, true), htu, now).unwrap();
        assert_eq!(p.jkt, q.jkt);
        assert_ne!(p.jti, q.jti);
        assert_ne!(verify_dpop(&proof(&key(), htu, now, |_, _| {}, false), htu, now).unwrap().jkt, p.jkt);
        // The same URL written differently is the same endpoint.
        assert!(verify_dpop(&proof(&k, "HTTP://127.0.0.1:18555/v1/token/", now, |_, _| {}, false), htu, now).is_ok());
        assert!(verify_dpop(&proof(&k, "https://iamd.example.com:443/v1/token", now, |_, _| {}, false), "https://IAMD.example.com/v1/token", now).is_ok());
        let refused: Vec<(&str, String)> = vec![
            ("wrong htu", proof(&k, "http://127.0.0.1:18556/v1/token", now, |_, _| {}, false)),
            ("wrong path", proof(&k, "http://127.0.0.1:18555/v1/other", now, |_, _| {}, false)),
            ("old iat", proof(&k, htu, now - IAT_WINDOW_S - 1, |_, _| {}, false)),
            ("future iat", proof(&k, htu, now + IAT_WINDOW_S + 1, |_, _| {}, false)),
            ("GET", proof(&k, htu, now, |_, c| c["htm"] = json!("GET"), false)),
            ("no jti", proof(&k, htu, now, |_, c| c["jti"] = Value::Null, false)),
            ("typ", proof(&k, htu, now, |h, _| h["typ"] = json!("JWT"), false)),
            ("alg none", proof(&k, htu, now, |h, _| h["alg"] = json!("none"), false)),
            ("HS256", proof(&k, htu, now, |h, _| h["alg"] = json!("HS256"), false)),
            ("private jwk", proof(&k, htu, now, |h, _| h["jwk"]["d"] = json!("AAAA"), false)),
            ("another curve", proof(&k, htu, now, |h, _| h["jwk"]["crv"] = json!("P-384"), false)),
            ("another key's jwk", {
                let other = key();
                let pk = other.public_key().as_ref().to_vec();
                proof(&k, htu, now, move |h, _| h["jwk"]["x"] = json!(B64U.encode(&pk[1..33])), false)
            }),
        ];
        for (what, p) in refused {
            assert!(verify_dpop(&p, htu, now).is_err(), "{what}");
        }
        let good = proof(&k, htu, now, |_, _| {}, false);
        let (head, rest) = good.split_once('.').unwrap();
        let (claims, _) = rest.split_once('.').unwrap();
        assert!(verify_dpop(&format!("{head}.{claims}."), htu, now).is_err(), "no signature");
        assert!(verify_dpop(&format!("{head}.{claims}.{}", B64U.encode([0u8; 64])), htu, now).is_err(), "a zero signature");
        assert!(verify_dpop("", htu, now).is_err());
        assert!(verify_dpop(&"a.".repeat(3000), htu, now).is_err());
    }

    #[test]
    fn a_coordinate_is_left_padded_to_32_bytes() {
        let short = B64U.encode([7u8; 31]);
        let c = coordinate(&json!(short)).unwrap();
        assert_eq!(c[0], 0);
        assert_eq!(&c[1..], &[7u8; 31]);
        assert!(coordinate(&json!(B64U.encode([7u8; 33]))).is_err());
        assert!(coordinate(&json!("")).is_err());
    }
}
