//! What every front-end serves with: the domain (`Iam`) and the server's settings. Built once by
//! `cli::serve`, shared by the HTTP edge, the API and the console.

use crate::domain::Iam;
use std::sync::Arc;
use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

/// How long a request body may take to arrive (the API's and the console's alike).
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Clone)]
pub struct App {
    pub iam: Iam,
    /// Regions a credential scope may name; empty = any (botocore signs with the client's region).
    pub regions: Arc<Vec<String>>,
    pub console: Arc<ConsoleConfig>,
    /// Served over TLS (`aws:SecureTransport`).
    pub tls: bool,
    /// Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (`--trusted-proxies`).
    pub trusted_proxies: Arc<Vec<crate::net::Cidr>>,
}

/// The console's settings.
pub struct ConsoleConfig {
    pub webauthn: Webauthn,
    pub session_ttl_ms: i64,
    /// Served over TLS: cookies are Secure.
    pub secure: bool,
    /// The host names the console answers to (a page on another name, a rebound DNS name included,
    /// gets no console).
    pub hosts: Hosts,
}

/// Which `Host` headers the console accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hosts {
    /// The local default: localhost, 127.0.0.1 and [::1], any port.
    Loopback,
    /// This host name, any port (`--webauthn-rp-id` without an origin).
    Name(String),
    /// Exactly this host and port (`--webauthn-origin`).
    HostPort(String),
}

impl Hosts {
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().map(|h| format!("[{h}]")).unwrap_or_default(),
            None => host.rsplit_once(':').map_or(host.clone(), |(n, p)| if p.bytes().all(|b| b.is_ascii_digit()) { n.to_string() } else { host.clone() }),
        };
        match self {
            Hosts::Loopback => matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]"),
            Hosts::Name(n) => name == *n,
            Hosts::HostPort(hp) => host == *hp,
        }
    }
}

impl ConsoleConfig {
    /// `rp_id` is the WebAuthn relying-party id; `origin` the console's origin. With the local
    /// default (`localhost`) any port of http://localhost (and https://localhost) is accepted, because
    /// browsers refuse WebAuthn on an IP-literal origin such as http://127.0.0.1.
    pub fn new(rp_id: &str, origin: Option<&str>, session_ttl_ms: i64, secure: bool) -> anyhow::Result<ConsoleConfig> {
        let given_origin = origin;
        let default_origin = if rp_id == "localhost" { "http://localhost".to_string() } else { format!("https://{rp_id}") };
        let origin = Url::parse(origin.unwrap_or(&default_origin)).map_err(|e| anyhow::anyhow!("--webauthn-origin: {e}"))?;
        let mut b = WebauthnBuilder::new(rp_id, &origin)
            .map_err(|e| anyhow::anyhow!("WebAuthn relying party {rp_id} / {origin}: {e:?}"))?
            .rp_name("iamd")
            // A security key here is the second factor after the password: user presence (a touch) is
            // what is asked, as AWS asks it; no PIN or biometric is required (and credProtect's
            // "user verification required" would make browsers refuse keys that have no PIN).
            .danger_set_user_presence_only_security_keys(true);
        if rp_id == "localhost" {
            b = b.allow_any_port(true);
            if let Ok(u) = Url::parse("https://localhost") {
                b = b.append_allowed_origin(&u);
            }
        }
        let webauthn = b.build().map_err(|e| anyhow::anyhow!("WebAuthn relying party {rp_id} / {origin}: {e:?}"))?;
        let hosts = match (given_origin, rp_id) {
            (Some(_), _) => {
                let h = origin.host_str().unwrap_or("").to_ascii_lowercase();
                Hosts::HostPort(match origin.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h,
                })
            }
            (None, "localhost") => Hosts::Loopback,
            (None, other) => Hosts::Name(other.to_ascii_lowercase()),
        };
        Ok(ConsoleConfig { webauthn, session_ttl_ms, secure, hosts })
    }
}

static BACKGROUND: std::sync::OnceLock<tokio::runtime::Handle> = std::sync::OnceLock::new();

/// Names the runtime that background work runs on (the server's main runtime; the first call wins).
pub fn set_background(h: tokio::runtime::Handle) {
    let _ = BACKGROUND.set(h);
}

/// Spawns work that outlives the request that started it (a credential report, a last-used stamp)
/// on the main runtime, never on a connection thread, where it would hold up that thread's other
/// connections. Outside a server (tests, the command line) it runs on the current runtime.
pub fn spawn_background<F: std::future::Future<Output = ()> + Send + 'static>(f: F) {
    match BACKGROUND.get() {
        Some(h) => drop(h.spawn(f)),
        None => drop(tokio::spawn(f)),
    }
}

#[cfg(test)]
mod tests {
    use super::Hosts;

    #[test]
    fn the_console_answers_only_to_its_own_names() {
        for ok in ["localhost:8080", "127.0.0.1:1234", "[::1]:9", "LOCALHOST", "localhost"] {
            assert!(Hosts::Loopback.allows(ok), "{ok}");
        }
        for bad in ["evil.example:8080", "localhost.evil.example", "127.0.0.2:80", "", "[::2]:80"] {
            assert!(!Hosts::Loopback.allows(bad), "{bad}");
        }
        assert!(Hosts::Name("iam.example.com".into()).allows("iam.example.com:8443"));
        assert!(!Hosts::Name("iam.example.com".into()).allows("iam.example.com.evil:8443"));
        assert!(Hosts::HostPort("iam.example.com".into()).allows("iam.example.com"));
        assert!(!Hosts::HostPort("iam.example.com".into()).allows("iam.example.com:8443"));
    }
}
