//! The HTTP edge: each request's client address and scheme (believing `X-Forwarded-For` and
//! `X-Forwarded-Proto` only from `--trusted-proxies`), then the console under `/console` or the API
//! for everything else, side by side. The front-ends never hand a request to each other.

use crate::app::App;
use axum::body::Body;
use axum::http::{Request, Response};
use std::net::SocketAddr;

/// Whether a path is the console's.
pub fn is_console(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/") || path == "/v1/authorize" || path == "/v1/sessions/confirmation"
}

/// One request from the connection loop (`server.rs`), which passes the connection's peer address.
pub async fn route(app: &App, peer: SocketAddr, req: Request<Body>) -> Response<Body> {
    let client = crate::net::client(peer.ip(), req.headers(), &app.trusted_proxies);
    let secure = app.tls || client.forwarded_https.unwrap_or(false);
    let peer = Some(client.ip.to_string());
    // Each front-end's future is large (every operation's state machine is inside it): boxed, the
    // layers above move a pointer instead of copying it at every await (callgrind: most of the
    // memcpy a GetCallerIdentity cost).
    if req.uri().path() == "/v1/token" {
        Box::pin(crate::api::signin::token(app, req, peer, secure)).await
    } else if is_console(req.uri().path()) {
        Box::pin(crate::console::handle(app, req, peer, secure)).await
    } else {
        Box::pin(crate::api::handle(app, req, peer, secure)).await
    }
}
