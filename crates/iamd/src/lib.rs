//! iamd: a self-hosted identity service that speaks AWS IAM and STS on the wire.
//!
//! Imports point one way: `cli`/`server` → `http` → {`api`, `console`} → `auth` → `domain` → `audit`
//! → leaves (`conventions`, `error`, `crypto`, `store`); `app` holds what the layers above the domain
//! share, and the console uses `api::params` for AWS's parameter rules.
//!
//! - `http`: the HTTP edge: client address and scheme, then `/console` to the console and the rest
//!   to the API, side by side;
//! - `app`: what every front-end serves with (`App`, `ConsoleConfig`);
//! - `auth`: SigV4 authentication into a `Caller`, the action table, target resolution, authorization;
//! - `api`: the API front-end (the envelope; the IAM and STS operations in `api::query`, one module
//!   per area; CloudTrail's JSON in `api::cloudtrail`);
//! - `console`: the web console under /console, one module per flow, pages as askama views;
//! - `audit`: the record of each call, committed with its change through `audit::Tx`, or written by
//!   `audit::settle` when no transaction carried it; `domain::trail` reads and signs it;
//! - `conventions`: AWS's wire conventions every layer writes (a leaf);
//! - `domain`: accounts, users, passwords, access keys — one transaction per call;
//! - `store`: SQLite or PostgreSQL, migrations;
//! - `crypto`: the master key and sealed secrets;
//! - `cli`: the `iamd` command line.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
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
