//! Integration tests of the domain layer for what only the end-to-end suite reached before: the same
//! suite on SQLite and on PostgreSQL (`for_each_backend`). PostgreSQL comes from `IAMD_TEST_PG_URL`
//! (scripts/test.sh starts a throwaway cluster and sets it); without it the run fails rather than
//! silently testing one backend.

use hmac::{Hmac, Mac};
use iamd::audit::{self, Event};
use iamd::crypto::Sealer;
use iamd::domain::{accounts, mfa, users, Iam, Owner, UserRef};
use iamd::error::ErrorCode;
use iamd::store::Store;
use sqlx::Row;
use std::future::Future;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, migrated store on the backend: a temporary directory for SQLite, a new database on the
/// server `IAMD_TEST_PG_URL` names for PostgreSQL.
async fn fresh(backend: Backend, dir: &std::path::Path) -> Iam {
    let url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let admin = std::env::var("IAMD_TEST_PG_URL").expect("IAMD_TEST_PG_URL is not set: run scripts/test.sh, which starts PostgreSQL and sets it");
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&admin).await.expect("connecting to IAMD_TEST_PG_URL");
            let name = format!("iamd_it_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.expect("creating a test database");
            pool.close().await;
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_string();
            Some(format!("{base}/{name}"))
        }
    };
    let store = Store::open(dir, url.as_deref()).await.expect("opening the store");
    Iam::new(store, Sealer::new(&[7u8; 32]))
}

/// Runs `suite` on SQLite and on PostgreSQL and returns what each produced.
async fn for_each_backend<T, F, Fut>(suite: F) -> Vec<(Backend, T)>
where
    F: Fn(Iam) -> Fut,
    Fut: Future<Output = T>,
{
    let mut out = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let iam = fresh(backend, dir.path()).await;
        out.push((backend, suite(iam).await));
    }
    out
}

/// RFC 6238 with SHA-1 and six digits: the test's own, independent of iamd's otp crate.
fn totp(seed: &[u8], step: i64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(seed).expect("any key length");
    mac.update(&(step as u64).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 15) as usize;
    let n = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]) % 1_000_000;
    format!("{n:06}")
}

fn base32(text: &str) -> Vec<u8> {
    let mut bits = 0u64;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        bits = (bits << 5) | v as u64;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

/// An account with one user; the clock placed one second into a 30-second step, so a test of a few
/// seconds sees one current step.
async fn account_with_user(iam: &Iam, name: &str) -> (String, Owner, i64) {
    let acct = accounts::create_account(iam, &format!("{name}@example.com")).await.expect("an account").account_id;
    let u = users::create(iam, &acct, name, "/", &[]).await.expect("a user");
    let now = iam.clock.now_ms();
    let start = (now.div_euclid(30_000) + 1) * 30_000 + 1_000;
    iam.clock.set_offset_ms(start - now);
    (acct, Owner::User(UserRef { user_id: u.user_id, name: u.name, path: u.path }), start.div_euclid(30_000))
}

async fn device(iam: &Iam, acct: &str, owner: &Owner, name: &str, step: i64) -> (String, Vec<u8>) {
    let d = mfa::create_virtual(iam, acct, name, "/", &[]).await.expect("a device");
    let seed = base32(&d.seed_base32);
    mfa::enable(iam, acct, owner, owner.column(), &d.serial, None, &totp(&seed, step - 1), &totp(&seed, step)).await.expect("enabling the device");
    (d.serial, seed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_code_check_paths_give_identical_outcomes_for_one_code_sequence() {
    // SQLite checks codes on its single writer connection (rusqlite, one IMMEDIATE transaction);
    // PostgreSQL in an sqlx transaction that locks the principal's throttle row. One sequence of
    // attempts must get the same answers from both.
    let outcomes = for_each_backend(|iam| async move {
        let (acct, owner, n) = account_with_user(&iam, "alice").await;
        let (serial, seed) = device(&iam, &acct, &owner, "alice-phone", n).await;
        let (other_serial, _) = device(&iam, &acct, &Owner::Root, "root-phone", n).await;
        // Five failures lock the principal for a second: the sixth attempt is refused unchecked.
        let attempts: Vec<(&str, String)> = vec![
            ("the next step", totp(&seed, n + 1)),
            ("another principal's device", totp(&seed, n + 1)),
            ("the same code again (a replay)", totp(&seed, n + 1)),
            ("an enabling step (already used)", totp(&seed, n)),
            ("two steps ahead (outside the window)", totp(&seed, n + 2)),
            ("an old step: the fifth failure", totp(&seed, n - 5)),
            ("while locked", totp(&seed, n + 1)),
        ];
        let mut got = Vec::new();
        for (what, code) in attempts {
            let target = if what == "another principal's device" { &other_serial } else { &serial };
            let r = mfa::check_code(&iam, &acct, &owner, target, &code).await.expect("a check that answers");
            got.push(format!(
                "{what}: {}",
                match r {
                    Ok(d) => format!("accepted by {}", d.serial.rsplit('/').next().unwrap_or("")),
                    Err(e) => format!("{e:?}"),
                }
            ));
        }
        got
    })
    .await;
    let (sqlite, pg) = (&outcomes[0].1, &outcomes[1].1);
    assert_eq!(sqlite, pg, "the backends disagree");
    let verdicts: Vec<&str> = sqlite.iter().map(|l| l.rsplit(": ").next().unwrap_or("")).collect();
    assert_eq!(verdicts, ["accepted by alice-phone", "NotYourDevice", "BadCode", "BadCode", "BadCode", "BadCode", "BadCode"], "{sqlite:?}");
}

async fn audit_rows(iam: &Iam) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM audit_log").fetch_one(&iam.store.read).await.expect("counting records").get(0)
}

async fn user_exists(iam: &Iam, acct: &str, name: &str) -> bool {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM users WHERE account_id = $1 AND name = $2")
        .bind(acct)
        .bind(name)
        .fetch_one(&iam.store.read)
        .await
        .expect("counting users")
        .get(0);
    n == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_and_its_audit_record_commit_or_roll_back_together() {
    for_each_backend(|iam| async move {
        let acct = accounts::create_account(&iam, "carol@example.com").await.expect("an account").account_id;
        let event = |name: &str| {
            let mut e = Event::new(iam.clock.now_ms(), "iam.amazonaws.com", name);
            e.account = acct.clone();
            e.identity.kind = "Root";
            e
        };
        // A change that fails after its first write (the 51st tag): neither the user nor a record.
        let before = audit_rows(&iam).await;
        let tags: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        let (r, cur) = audit::scope(event("CreateUser"), users::create(&iam, &acct, "half", "/", &tags)).await;
        assert_eq!(r.expect_err("51 tags are refused").code, ErrorCode::LimitExceeded);
        assert!(!cur.written, "a rolled-back change wrote its record");
        assert!(!user_exists(&iam, &acct, "half").await, "the user of a rolled-back change exists");
        assert_eq!(audit_rows(&iam).await, before);
        // A change that commits: the user and exactly one record, in the same transaction.
        let (r, cur) = audit::scope(event("CreateUser"), users::create(&iam, &acct, "whole", "/", &[])).await;
        r.expect("the user is created");
        assert!(cur.written, "the committed change did not write its record");
        assert!(user_exists(&iam, &acct, "whole").await);
        assert_eq!(audit_rows(&iam).await, before + 1);
        let body: String = sqlx::query("SELECT body FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_one(&iam.store.read).await.expect("the record").get(0);
        assert!(body.contains("\"eventName\":\"CreateUser\""), "{body}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_enables_never_give_one_principal_more_than_eight_devices() {
    for_each_backend(|iam| async move {
        let (acct, owner, n) = account_with_user(&iam, "dave").await;
        let mut devices: Vec<(String, Vec<u8>)> = Vec::new();
        for i in 0..12 {
            let d = mfa::create_virtual(&iam, &acct, &format!("dave-{i}"), "/", &[]).await.expect("a device");
            devices.push((d.serial, base32(&d.seed_base32)));
        }
        let tasks: Vec<_> = devices
            .clone()
            .into_iter()
            .map(|(serial, seed)| {
                let (iam, acct, owner) = (iam.clone(), acct.clone(), owner.clone());
                tokio::spawn(async move { mfa::enable(&iam, &acct, &owner, owner.column(), &serial, None, &totp(&seed, n - 1), &totp(&seed, n)).await })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.expect("the task ran") {
                Ok(()) => ok += 1,
                Err(e) => assert!(matches!(e.code, ErrorCode::LimitExceeded | ErrorCode::ConcurrentModification), "{e}"),
            }
        }
        let assigned = mfa::list_for_owner(&iam, &acct, &owner).await.expect("listing");
        assert_eq!(assigned.len(), ok, "every accepted enable holds a slot, and only those");
        assert!(ok <= 8, "{ok} devices for one principal");
        // Whatever lost the race for a reason other than the limit gets its slot now, up to eight.
        for (serial, seed) in &devices {
            if assigned.iter().any(|d| &d.serial == serial) {
                continue;
            }
            if let Err(e) = mfa::enable(&iam, &acct, &owner, owner.column(), serial, None, &totp(seed, n - 1), &totp(seed, n)).await {
                assert_eq!(e.code, ErrorCode::LimitExceeded, "{e}");
            }
        }
        assert_eq!(mfa::list_for_owner(&iam, &acct, &owner).await.expect("listing").len(), 8, "exactly eight devices in the end");
        // The user's device count (kept by triggers for the console's filters) says the same.
        let count: i64 = sqlx::query_scalar("SELECT mfa_count FROM users WHERE name = 'dave'").fetch_one(&iam.store.read).await.expect("the count");
        assert_eq!(count, 8);
        let gone = mfa::list_for_owner(&iam, &acct, &owner).await.expect("listing")[0].serial.clone();
        mfa::deactivate(&iam, &acct, &owner, &gone).await.expect("deactivated");
        mfa::delete_virtual(&iam, &acct, &gone).await.expect("deleted");
        let count: i64 = sqlx::query_scalar("SELECT mfa_count FROM users WHERE name = 'dave'").fetch_one(&iam.store.read).await.expect("the count");
        assert_eq!(count, 7, "a deactivated device no longer counts");
    })
    .await;
}

/// The SQLite WAL stays bounded: a reader holding an old snapshot lets the WAL grow past 64 MiB of
/// writes (no checkpoint may pass it), and once it lets go the checkpoint thread empties the file
/// instead of leaving it at its largest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_wal_is_truncated_once_readers_let_go() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let iam = fresh(Backend::Sqlite, dir.path()).await;
    let acct = accounts::create_account(&iam, "wal@example.com").await.expect("an account").account_id;
    let wal = dir.path().join(format!("{}-wal", iamd::store::SQLITE_FILE));
    let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let mut reader = iam.store.read.begin().await.expect("a reader");
    let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(&mut *reader).await.expect("the reader's snapshot");
    let chunk: Vec<u8> = (0..256 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for part in 0..400i64 {
        sqlx::query("INSERT INTO credential_report_parts (account_id, generation, part, content) VALUES ($1, 'wal', $2, $3)")
            .bind(&acct)
            .bind(part)
            .bind(&chunk)
            .execute(&iam.store.write)
            .await
            .expect("a write");
    }
    let grown = size();
    assert!(grown > iamd::store::WAL_LIMIT_BYTES, "the old snapshot kept the WAL from being checkpointed: {grown} bytes");
    reader.rollback().await.expect("the reader ends");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() > iamd::store::WAL_LIMIT_BYTES && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let after = size();
    assert!(after <= iamd::store::WAL_LIMIT_BYTES, "the WAL stayed at {after} bytes after growing to {grown}");
    println!("WAL: grew to {grown} bytes behind an old reader, {after} bytes after it let go");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_users_by_path_prefix_is_exactly_the_paths_that_start_with_it_in_path_order_page_by_page() {
    for_each_backend(|iam| async move {
        let acct = accounts::create_account(&iam, "paths@example.com").await.expect("an account").account_id;
        // Paths that sort around each other bytewise: '~' (0x7E) after letters, '%' and '_' that a
        // LIKE would treat as wildcards, upper case before lower case.
        let paths = ["/", "/a/", "/a/b/", "/ab/", "/a~/", "/A/", "/a%/", "/a_/", "/b/", "/aa/x/"];
        let mut all = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            for j in 0..3 {
                let name = format!("u{j}-{i}");
                users::create(&iam, &acct, &name, path, &[]).await.expect("a user");
                all.push((name.to_lowercase(), path.to_string()));
            }
        }
        all.sort();
        for prefix in ["/", "/a", "/a/", "/a%", "/a_", "/A", "/a~", "/b/", "/c", "/a/b/", "/aa/x/y"] {
            // By name; under a prefix, by path (bytewise) and then name.
            let mut want: Vec<&(String, String)> = all.iter().filter(|(_, p)| p.starts_with(prefix)).collect();
            if prefix != "/" {
                want.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
            }
            let mut got = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let (page, next) = users::list(&iam, &acct, prefix, marker.as_deref(), 2).await.expect("a page");
                assert!(page.len() <= 2);
                got.extend(page.into_iter().map(|u| (u.name.to_lowercase(), u.path)));
                match next {
                    Some(m) => marker = Some(m),
                    None => break,
                }
            }
            let want: Vec<(String, String)> = want.into_iter().cloned().collect();
            assert_eq!(got, want, "PathPrefix {prefix}");
        }
    })
    .await;
}

/// A backlog bigger than one digest's share (a bulk load, a schedule that was off) becomes several
/// digests in a row, each of at most MAX_DIGEST_ROWS rows, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_becomes_a_chain_of_bounded_digests_that_verifies() {
    use iamd::domain::trail::digest;
    for_each_backend(|iam| async move {
        let acct = accounts::create_account(&iam, "backlog@example.com").await.expect("an account").account_id;
        let rows = 2 * digest::MAX_DIGEST_ROWS + 5_000;
        let t0 = iam.clock.now_ms() - rows * 1_100;
        for i in 0..rows {
            // 1.1 s apart: every record a row of its own.
            let mut e = Event::new(t0 + i * 1_100, "sts.amazonaws.com", "GetCallerIdentity");
            e.account = acct.clone();
            e.read_only = true;
            iam.audit.push(e, false);
            if i % 20_000 == 19_999 {
                iam.audit.flush().await;
            }
        }
        iam.audit.flush().await;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log").fetch_one(&iam.store.read).await.expect("a count");
        assert!(total >= rows);
        let last = digest::make(&iam, 0).await.expect("digests").expect("a digest");
        let all = digest::all(&iam).await.expect("the chain");
        let ranges: Vec<(i64, i64)> = all.iter().map(|d| (d.start_cursor, d.end_cursor)).collect();
        assert_eq!(all.len(), 3, "{total} rows in digests of at most {} ({:?}: {ranges:?})", digest::MAX_DIGEST_ROWS, iam.store.backend);
        assert_eq!(last.digest_no, 3);
        for d in &all {
            let body: serde_json::Value = serde_json::from_str(&d.body).expect("JSON");
            let covered: i64 = body["logFiles"]
                .as_array()
                .expect("log files")
                .iter()
                .map(|f| f["iamdLastSeq"].as_i64().unwrap() - f["iamdFirstSeq"].as_i64().unwrap() + 1)
                .sum();
            assert!(covered <= digest::MAX_DIGEST_ROWS, "digest {} covers {covered} rows", d.digest_no);
        }
        let report = digest::verify(&iam).await.expect("a verification");
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.digests, 3);
        // Nothing new: no new digest.
        let again = digest::make(&iam, 0).await.expect("digests").expect("the last digest");
        assert!(again.digest_no >= 3);
    })
    .await;
}

/// LookupEvents by EventId finds a record by the time its id carries, through the rows' time index:
/// `audit_event_ids` holds only the ids that cannot be found so (not v7, or a time outside the
/// record's row), and entries from before that rule (one per record) change no answer.
#[tokio::test]
async fn an_event_id_is_found_by_its_time_and_only_the_others_have_entries() {
    use iamd::domain::trail::{self, Attribute, LookupQuery};
    for_each_backend(|iam| async move {
        let acct = accounts::create_account(&iam, "ids@example.com").await.expect("an account").account_id;
        let other = accounts::create_account(&iam, "other-ids@example.com").await.expect("an account").account_id;
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_event_ids").fetch_one(&iam.store.read).await.expect("a count");
        let t0 = iam.clock.now_ms() - 60_000;
        let mut ids = Vec::new();
        for i in 0..300i64 {
            // A few milliseconds apart: rows of many records.
            let mut e = Event::new(t0 + i * 3, "sts.amazonaws.com", "GetCallerIdentity");
            e.account = acct.clone();
            e.read_only = true;
            match i {
                // An id from an hour before its record, and one that carries no time.
                100 => e.event_id = iamd::ids::event_id(t0 - 3_600_000),
                200 => e.event_id = uuid::Uuid::new_v4().to_string(),
                _ => {}
            }
            ids.push(e.event_id.clone());
            iam.audit.push(e, false);
        }
        iam.audit.flush().await;
        let entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_event_ids").fetch_one(&iam.store.read).await.expect("a count");
        assert_eq!(entries - before, 2, "only the two ids a lookup cannot place by time have entries");
        let find = |account: String, id: String| {
            let iam = &iam;
            async move {
                let q = LookupQuery { account, attribute: Some((Attribute::EventId, id)), start_ms: None, end_ms: None, max: 50, after: None };
                let page = trail::lookup(iam, &q).await.expect("a lookup");
                assert!(page.next.is_none());
                page.events.into_iter().map(|f| f.summary.event_id).collect::<Vec<_>>()
            }
        };
        for i in [0usize, 1, 63, 64, 100, 150, 200, 299] {
            assert_eq!(find(acct.clone(), ids[i].clone()).await, vec![ids[i].clone()], "record {i}");
            assert!(find(other.clone(), ids[i].clone()).await.is_empty(), "another account's record {i}");
        }
        // Ids that match nothing: one with the time of a record (its row is read, nothing in it
        // matches), one with no time, one that is not a UUID.
        let same_ms = iamd::ids::event_id(t0 + 150 * 3);
        assert_ne!(same_ms, ids[150]);
        assert!(find(acct.clone(), same_ms).await.is_empty());
        assert!(find(acct.clone(), uuid::Uuid::new_v4().to_string()).await.is_empty());
        assert!(find(acct.clone(), "not-an-event-id".into()).await.is_empty());
        // Rows written before the rule have an entry for every record: still one answer each.
        let key = iamd::audit::index::event_key(&ids[150]);
        sqlx::query("INSERT INTO audit_event_ids (k, seq) SELECT $1, seq FROM audit_log WHERE account_id = $2")
            .bind(key)
            .bind(&acct)
            .execute(&iam.store.write)
            .await
            .expect("old-style entries");
        assert_eq!(find(acct.clone(), ids[150].clone()).await, vec![ids[150].clone()]);
        // In a time range: found inside it, not outside.
        let q = |start_ms, end_ms| LookupQuery {
            account: acct.clone(),
            attribute: Some((Attribute::EventId, ids[150].clone())),
            start_ms,
            end_ms,
            max: 50,
            after: None,
        };
        assert_eq!(trail::lookup(&iam, &q(Some(t0), None)).await.expect("a lookup").events.len(), 1);
        assert_eq!(trail::lookup(&iam, &q(None, Some(t0 - 10_000))).await.expect("a lookup").events.len(), 0);
    })
    .await;
}

/// `aws login`'s limits in time, with the clock moved: a code past its 5 minutes, a refresh token
/// replaced more than the grace window ago, a login past its cap; and a code presented by another
/// client or for another redirect than it was given for.
#[tokio::test]
async fn aws_login_codes_refresh_tokens_and_logins_expire_and_bind() {
    use iamd::domain::logins::{self, Approval, Authorize, Proof};
    for_each_backend(|mut iam| async move {
        let (acct, owner, _) = account_with_user(&iam, "lou").await;
        let Owner::User(u) = &owner else { unreachable!() };
        iam.login_max_ms = 2 * 3_600_000;
        let verifier = "v".repeat(64);
        let challenge = {
            use base64::Engine;
            use sha2::Digest;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
        };
        let redirect = "http://127.0.0.1:4242/oauth/callback";
        let request = Authorize { client_id: logins::SAME_DEVICE.into(), redirect_uri: redirect.into(), state: "s".into(), challenge };
        let proof = Proof { jkt: "key-1".into(), jti: "j".into(), iat: 0 };
        async fn code_for(iam: &Iam, request: &Authorize, acct: &str, user_id: &str) -> String {
            let id = logins::create_grant(iam, request).await.expect("a grant");
            let who = Approval { account: acct, owner: user_id, mfa: None, auth_ms: iam.clock.now_ms() };
            let code = logins::approve(iam, &id, &who).await.expect("approval").expect("a code");
            assert!(logins::approve(iam, &id, &who).await.expect("approval").is_none(), "a grant is approved once");
            code
        }
        async fn exchange_with(
            iam: &Iam,
            code: String,
            client: &str,
            verifier: &str,
            redirect: &str,
            proof: &Proof,
        ) -> Result<logins::TokenOut, logins::TokenError> {
            logins::exchange_code(iam, client, &code, verifier, redirect, proof, "http://localhost", "127.0.0.1").await
        }
        let user_id = u.user_id.clone();
        let code_for = |iam| code_for(iam, &request, &acct, &user_id);
        let exchange = |iam, code, client, redirect| exchange_with(iam, code, client, &verifier, redirect, &proof);
        // Another client or redirect than the code was given for: refused, and the code is spent.
        let code = code_for(&iam).await;
        let e = exchange(&iam, code.clone(), logins::CROSS_DEVICE, redirect).await.err().expect("refused");
        assert_eq!(e.error, "INVALID_REQUEST");
        assert_eq!(exchange(&iam, code, logins::SAME_DEVICE, redirect).await.err().expect("spent").error, "INVALID_REQUEST");
        let code = code_for(&iam).await;
        let e = exchange(&iam, code, logins::SAME_DEVICE, "http://127.0.0.1:4243/oauth/callback").await.err().expect("refused");
        assert_eq!(e.error, "INVALID_REQUEST");
        // Past 5 minutes: AUTHCODE_EXPIRED.
        let code = code_for(&iam).await;
        iam.clock.set_offset_ms(iam.clock.now_ms() - chrono::Utc::now().timestamp_millis() + logins::CODE_TTL_MS + 1_000);
        let e = exchange(&iam, code, logins::SAME_DEVICE, redirect).await.err().expect("expired");
        assert_eq!((e.exception, e.error), ("AccessDeniedException", "AUTHCODE_EXPIRED"));

        // A login: refresh rotates; the token replaced is honoured for the grace window only.
        let code = code_for(&iam).await;
        let first = exchange(&iam, code, logins::SAME_DEVICE, redirect).await.expect("a login");
        assert!(first.id_token.is_some() && first.expires_in == 900);
        let login = first.credentials.session.login.clone().expect("the login's id in the session");
        let second = logins::refresh(&iam, logins::SAME_DEVICE, &first.refresh_token, &proof).await.expect("a refresh");
        assert_ne!(second.refresh_token, first.refresh_token);
        assert!(second.id_token.is_none());
        let other_key = Proof { jkt: "key-2".into(), ..proof.clone() };
        assert_eq!(logins::refresh(&iam, logins::SAME_DEVICE, &second.refresh_token, &other_key).await.err().expect("another key").error, "INVALID_REQUEST");
        let raced = logins::refresh(&iam, logins::SAME_DEVICE, &first.refresh_token, &proof).await.expect("within the grace window");
        assert_eq!(raced.refresh_token, second.refresh_token);
        let skip = |iam: &Iam, ms: i64| iam.clock.set_offset_ms(iam.clock.now_ms() - chrono::Utc::now().timestamp_millis() + ms);
        skip(&iam, logins::GRACE_MS + 1_000);
        let e = logins::refresh(&iam, logins::SAME_DEVICE, &first.refresh_token, &proof).await.err().expect("past the grace window");
        assert_eq!((e.exception, e.error), ("AccessDeniedException", "TOKEN_EXPIRED"));
        let third = logins::refresh(&iam, logins::SAME_DEVICE, &second.refresh_token, &proof).await.expect("the current token still works");
        // The credentials never outlive the login: near its cap they are shorter, past it refused.
        assert!(!logins::session_ended(&iam, &login).await.expect("a check"));
        skip(&iam, iam.login_max_ms - 10 * 60_000);
        let late = logins::refresh(&iam, logins::SAME_DEVICE, &third.refresh_token, &proof).await.expect("before the cap");
        assert!(late.expires_in <= 600 && late.expires_in > 0, "{}", late.expires_in);
        skip(&iam, 11 * 60_000);
        let e = logins::refresh(&iam, logins::SAME_DEVICE, &late.refresh_token, &proof).await.err().expect("past the cap");
        assert_eq!(e.error, "TOKEN_EXPIRED");
        assert!(logins::session_ended(&iam, &login).await.expect("a check"));
        // DeleteUser ends a login too: the next refresh asks for a new one.
        let code = code_for(&iam).await;
        let last = exchange(&iam, code, logins::SAME_DEVICE, redirect).await.expect("a login");
        users::delete(&iam, &acct, "lou").await.expect("DeleteUser");
        let e = logins::refresh(&iam, logins::SAME_DEVICE, &last.refresh_token, &proof).await.err().expect("the user is gone");
        assert_eq!((e.exception, e.error), ("AccessDeniedException", "USER_CREDENTIALS_CHANGED"));
    })
    .await;
}
