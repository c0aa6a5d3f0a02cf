//! Authentication and authorization, between the front-ends and the domain: SigV4 turns a request
//! into a `Caller` (`authenticate`), `action` is the action table, `target` resolves what an action
//! acts on to its canonical ARN and `authz` decides. The API and the console both call these; they
//! import nothing from either front-end.

pub mod action;
pub mod authz;
pub mod target;

use crate::app::App;
use crate::audit;
use crate::domain::sessions::{self, Session};
use crate::domain::{keys, Principal};
use crate::error::AwsError;

/// Which Query service a request is for, from its credential scope.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Service {
    Iam,
    Sts,
    CloudTrail,
}

impl Service {
    pub fn version(self) -> &'static str {
        match self {
            Service::Iam => "2010-05-08",
            Service::Sts => "2011-06-15",
            Service::CloudTrail => "2013-11-01",
        }
    }
}

/// What the authentication step established.
pub struct Caller {
    pub principal: Principal,
    pub service: Service,
    pub region: String,
    /// Set when the request was signed with STS session credentials.
    pub session: Option<Session>,
    pub source_ip: Option<String>,
    /// The client used HTTPS (to iamd, or to a trusted proxy in front of it): `aws:SecureTransport`.
    pub secure: bool,
}

impl Caller {
    /// A principal acting through a sign-in rather than a signed request (a console session, or an
    /// `aws login` being exchanged): no access key; its session carries the sign-in's times and MFA
    /// (`owner`: '' for root, else the user's id), so policies see `aws:MultiFactorAuth*`.
    pub fn signed_in(principal: Principal, owner: &str, times_ms: (i64, i64), mfa: Option<(i64, String)>, source_ip: &str, secure: bool) -> Caller {
        Caller {
            session: Some(Session {
                account_id: principal.account_id.clone(),
                owner: owner.to_string(),
                access_key_id: String::new(),
                secret: String::new(),
                issued_ms: times_ms.0,
                expires_ms: times_ms.1,
                mfa,
                role: None,
                login: None,
            }),
            principal,
            service: Service::Iam,
            region: "us-east-1".into(),
            source_ip: Some(source_ip.to_string()),
            secure,
        }
    }
}

/// The caller as CloudTrail's userIdentity.
pub fn identity_of(c: &Caller) -> audit::Identity {
    let p = &c.principal;
    let mut id = audit::Identity {
        principal_id: p.user_id(),
        arn: p.arn(),
        account_id: p.account_id.clone(),
        access_key_id: p.access_key_id.clone(),
        mfa_authenticated: Some(c.session.as_ref().is_some_and(|s| s.mfa.is_some())),
        session_created_ms: c.session.as_ref().map(|s| s.issued_ms),
        ..Default::default()
    };
    match (&p.user, &p.role) {
        (_, Some(r)) => {
            id.kind = "AssumedRole";
            id.issuer = Some((r.role_id.clone(), format!("arn:aws:iam::{}:role/{}", p.account_id, r.name), r.name.clone()));
        }
        (Some(u), None) => {
            id.kind = "IAMUser";
            id.user_name = Some(u.name.clone());
        }
        (None, None) => id.kind = "Root",
    }
    id
}

/// SigV4 first: parse, check scope and time, find the key, verify the signature.
pub async fn authenticate(app: &App, parts: &axum::http::request::Parts, body: &[u8]) -> Result<Caller, AwsError> {
    // A header value that is not UTF-8 canonicalises as empty: its signature cannot match.
    let header_refs: Vec<(&str, &str)> = parts.headers.iter().map(|(n, v)| (n.as_str(), std::str::from_utf8(v.as_bytes()).unwrap_or(""))).collect();
    let req = sigv4::Request { method: parts.method.as_str(), path: parts.uri.path(), query: parts.uri.query().unwrap_or(""), headers: &header_refs, body };
    let auth = sigv4::parse(&req).map_err(|e| AwsError::from_sigv4(&e))?;
    // From here on the attempt names an access key: it is recorded, refused or not.
    audit::with(|e| {
        e.identity.kind = "Unknown";
        e.identity.access_key_id = auth.access_key_id.clone();
        e.region = auth.region.clone();
        e.source = match auth.service.as_str() {
            "sts" => "sts.amazonaws.com",
            "cloudtrail" => "cloudtrail.amazonaws.com",
            _ => "iam.amazonaws.com",
        };
    });
    let service = match auth.service.as_str() {
        "iam" => Service::Iam,
        "sts" => Service::Sts,
        "cloudtrail" => Service::CloudTrail,
        _ => return Err(AwsError::signature_does_not_match("Credential should be scoped to correct service: 'iam'.")),
    };
    if !app.regions.is_empty() && !app.regions.contains(&auth.region) {
        return Err(AwsError::signature_does_not_match("Credential should be scoped to a valid region."));
    }
    sigv4::check_time(&auth, app.iam.clock.now_secs()).map_err(|e| AwsError::from_sigv4(&e))?;
    if auth.access_key_id.starts_with("ASIA") {
        let token = auth.security_token.as_deref().ok_or_else(AwsError::invalid_token)?;
        let session = sessions::open(&app.iam, &auth.access_key_id, token)?;
        // An `aws login`'s credentials stop as soon as the login ends.
        if let Some(login) = &session.login {
            if crate::domain::logins::session_ended(&app.iam, login).await? {
                return Err(AwsError::invalid_token());
            }
        }
        let (user, role) = match &session.role {
            Some((role_id, session_name)) => {
                let r = crate::domain::roles::lookup(&app.iam, &session.account_id, role_id).await?.ok_or_else(AwsError::invalid_token)?;
                (None, Some(crate::domain::RoleRef { role_id: role_id.clone(), name: r.name, session_name: session_name.clone() }))
            }
            None if crate::domain::is_root_column(&session.owner) => (None, None),
            None => (Some(keys::lookup_user(&app.iam, &session.account_id, &session.owner).await?.ok_or_else(AwsError::invalid_token)?), None),
        };
        let key = sigv4::signing_key(&session.secret, &auth.scope_date, &auth.region, &auth.service);
        sigv4::verify(&req, &auth, &key, true).map_err(|e| AwsError::from_sigv4(&e))?;
        return Ok(Caller {
            principal: Principal { account_id: session.account_id.clone(), user, role, access_key_id: auth.access_key_id.clone() },
            service,
            region: auth.region,
            session: Some(session),
            source_ip: None,
            secure: false,
        });
    }
    if !auth.access_key_id.starts_with("AKIA") {
        return Err(AwsError::invalid_token());
    }
    // A long-term key never comes with a session token: AWS answers such a request as it answers an
    // invalid token ("The security token included in the request is invalid.").
    if auth.security_token.is_some() {
        return Err(AwsError::invalid_token());
    }
    let entry = keys::lookup(&app.iam, &auth.access_key_id).await?.ok_or_else(AwsError::invalid_token)?;
    if !entry.active {
        return Err(AwsError::invalid_token());
    }
    let key = entry.signing_key(&auth.scope_date, &auth.region, &auth.service);
    sigv4::verify(&req, &auth, &key, true).map_err(|e| AwsError::from_sigv4(&e))?;
    keys::record_use(&app.iam, &entry, &auth.region, &auth.service);
    Ok(Caller {
        principal: Principal { account_id: entry.account_id.clone(), user: entry.user.clone(), role: None, access_key_id: entry.access_key_id.clone() },
        service,
        region: auth.region,
        session: None,
        source_ip: None,
        secure: false,
    })
}
