//! iamd: a self-hosted identity service that speaks AWS IAM and STS on the wire.
//!
//! - `api`: the HTTP edge (Query protocol, SigV4, XML);
//! - `console`: the web console under /console (sign-in with MFA, security credentials);
//! - `domain`: accounts, users, passwords, access keys — one transaction per call;
//! - `store`: SQLite or PostgreSQL, migrations;
//! - `crypto`: the master key and sealed secrets;
//! - `cli`: the `iamd` command line.

pub mod api;
pub mod audit;
pub mod cli;
pub mod console;
pub mod conventions;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod ids;
pub mod net;
pub mod qr;
pub mod server;
pub mod store;
