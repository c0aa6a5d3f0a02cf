//! iamd: a self-hosted identity service that speaks AWS IAM and STS on the wire.
//!
//! - `http`: the HTTP edge: client address and scheme, then `/console` to the console and the rest
//!   to the API, side by side;
//! - `app`: what every front-end serves with (`App`, `ConsoleConfig`);
//! - `api`: the API front-end (Query protocol, SigV4, XML; CloudTrail's JSON in `api::cloudtrail`);
//! - `console`: the web console under /console (sign-in with MFA, security credentials);
//! - `audit`: the record of each call, committed with its change; `domain::trail` reads and signs it;
//! - `conventions`: AWS's wire conventions every layer writes (a leaf);
//! - `domain`: accounts, users, passwords, access keys — one transaction per call;
//! - `store`: SQLite or PostgreSQL, migrations;
//! - `crypto`: the master key and sealed secrets;
//! - `cli`: the `iamd` command line.

pub mod api;
pub mod app;
pub mod audit;
pub mod cli;
pub mod console;
pub mod conventions;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod http;
pub mod ids;
pub mod net;
pub mod qr;
pub mod server;
pub mod store;
