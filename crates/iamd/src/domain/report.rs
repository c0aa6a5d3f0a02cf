//! The credential report: AWS's 22-column CSV, one row for the root user and one per IAM user.
//! As in AWS, GenerateCredentialReport starts a build in the background (STARTED, then INPROGRESS, then
//! COMPLETE), a report younger than four hours is reused, and an older one has expired.

use super::{iso8601, Iam};
use crate::error::{AwsError, Result};
use sqlx::Row;

pub const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";
const REUSE_MS: i64 = 4 * 3600 * 1000;

fn tf(b: bool) -> &'static str {
    if b {
        "TRUE"
    } else {
        "FALSE"
    }
}

/// Users per part: the builder holds one page of users (and their keys and devices) at a time.
const PAGE: i64 = 1000;
/// How long a builder holds the job without renewing it (it renews after every part); after that
/// any node's GenerateCredentialReport takes the job over.
const LEASE_MS: i64 = 60_000;

/// The key columns (5 per slot, slots 1 and 2) of one principal, from its keys as
/// (slot, status, created, last used, region, service).
type KeyRow = (i64, String, i64, Option<i64>, Option<String>, Option<String>);

fn key_columns(keys: &[KeyRow]) -> Vec<String> {
    let mut out = Vec::new();
    for slot in [1i64, 2] {
        match keys.iter().find(|k| k.0 == slot) {
            Some((_, status, created, used, region, service)) => {
                out.push(tf(status == "Active").to_string());
                out.push(iso8601(*created));
                out.push(used.map(iso8601).unwrap_or_else(|| "N/A".into()));
                out.push(region.clone().unwrap_or_else(|| "N/A".into()));
                out.push(service.clone().unwrap_or_else(|| "N/A".into()));
            }
            None => out.extend(["FALSE", "N/A", "N/A", "N/A", "N/A"].map(String::from)),
        }
    }
    out
}

fn key_row(r: &sqlx::any::AnyRow) -> (String, KeyRow) {
    (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)))
}

/// The header and the root user's row.
async fn root_part(iam: &Iam, account: &str) -> Result<(String, Option<super::passwords::PasswordPolicy>)> {
    let acct = sqlx::query("SELECT created_at, root_password_last_used, password_policy FROM accounts WHERE account_id = $1")
        .bind(account)
        .fetch_one(&iam.store.read)
        .await?;
    let policy: Option<super::passwords::PasswordPolicy> = acct.get::<Option<String>, _>(2).and_then(|t| serde_json::from_str(&t).ok());
    let root_col = super::Owner::Root.column();
    let devices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mfa_devices WHERE account_id = $1 AND owner = $2")
        .bind(account)
        .bind(root_col)
        .fetch_one(&iam.store.read)
        .await?;
    let keys: Vec<KeyRow> = sqlx::query(
        "SELECT owner, slot, status, created_at, last_used_at, last_used_region, last_used_service FROM access_keys WHERE account_id = $1 AND owner = $2",
    )
    .bind(account)
    .bind(root_col)
    .fetch_all(&iam.store.read)
    .await?
    .iter()
    .map(|r| key_row(r).1)
    .collect();
    let mut csv = String::from(HEADER);
    csv.push('\n');
    let mut root = vec![
        "<root_account>".to_string(),
        format!("arn:aws:iam::{account}:root"),
        iso8601(acct.get(0)),
        "not_supported".into(),
        acct.get::<Option<i64>, _>(1).map(iso8601).unwrap_or_else(|| "no_information".into()),
        "not_supported".into(),
        "not_supported".into(),
        tf(devices > 0).into(),
    ];
    root.extend(key_columns(&keys));
    root.extend(["FALSE", "N/A", "FALSE", "N/A"].map(String::from));
    push_row(&mut csv, &root);
    Ok((csv, policy))
}

/// The rows of the users after `after` (by lowercased name), at most PAGE of them, with three
/// queries whatever the page holds: the users, their keys, their device counts. Returns the rows,
/// how many users they are and the last name of the page (None: no user left).
async fn users_part(iam: &Iam, account: &str, after: &str, policy: Option<&super::passwords::PasswordPolicy>) -> Result<Option<(String, u64, String)>> {
    let users = sqlx::query(
        // Whether each user has a device: one probe of the (account, owner) index per user, not a
        // walk of the account's devices per page.
        "SELECT u.user_id, u.name, u.path, u.created_at, u.password_last_used, l.changed_at, u.name_lower, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM mfa_devices d WHERE d.account_id = u.account_id AND d.owner = u.user_id) THEN 1 ELSE 0 END AS BIGINT) \
         FROM users u LEFT JOIN login_profiles l ON l.user_id = u.user_id WHERE u.account_id = $1 AND u.name_lower > $2 ORDER BY u.name_lower LIMIT $3",
    )
    .bind(account)
    .bind(after)
    .bind(PAGE)
    .fetch_all(&iam.store.read)
    .await?;
    let Some(last) = users.last().map(|u| u.get::<String, _>(6)) else { return Ok(None) };
    let mut keys: std::collections::HashMap<String, Vec<KeyRow>> = Default::default();
    for r in sqlx::query(
        "SELECT k.owner, k.slot, k.status, k.created_at, k.last_used_at, k.last_used_region, k.last_used_service FROM access_keys k JOIN users u ON u.user_id = k.owner WHERE u.account_id = $1 AND u.name_lower > $2 AND u.name_lower <= $3 AND k.account_id = $1",
    )
    .bind(account)
    .bind(after)
    .bind(&last)
    .fetch_all(&iam.store.read)
    .await?
    {
        let (owner, k) = key_row(&r);
        keys.entry(owner).or_default().push(k);
    }
    let mut csv = String::new();
    for u in &users {
        let user_id: String = u.get(0);
        let changed: Option<i64> = u.get(5);
        let has_password = changed.is_some();
        let last_used: Option<i64> = u.get(4);
        let mut row = vec![
            u.get::<String, _>(1),
            super::user_arn(account, &u.get::<String, _>(2), &u.get::<String, _>(1)),
            iso8601(u.get(3)),
            tf(has_password).into(),
            match (has_password, last_used) {
                (_, Some(t)) => iso8601(t),
                (true, None) => "no_information".into(),
                (false, None) => "N/A".into(),
            },
            changed.map(iso8601).unwrap_or_else(|| "N/A".into()),
            match (changed, policy.and_then(|p| p.max_password_age)) {
                (Some(c), Some(days)) => iso8601(c + days * 86_400_000),
                _ => "N/A".into(),
            },
            tf(u.get::<i64, _>(7) == 1).into(),
        ];
        row.extend(key_columns(keys.get(&user_id).map_or(&[][..], |v| v.as_slice())));
        row.extend(["FALSE", "N/A", "FALSE", "N/A"].map(String::from));
        push_row(&mut csv, &row);
    }
    Ok(Some((csv, users.len() as u64, last)))
}

/// One CSV record per RFC 4180: a field holding a comma, a quote or a line break is quoted (its
/// quotes doubled), so no name or path can forge a column or a row.
fn push_row(csv: &mut String, fields: &[String]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            csv.push(',');
        }
        if f.contains([',', '"', '\r', '\n']) {
            csv.push('"');
            csv.push_str(&f.replace('"', "\"\""));
            csv.push('"');
        } else {
            csv.push_str(f);
        }
    }
    csv.push('\n');
}

/// GenerateCredentialReport: (State, Description). A report younger than four hours is reused
/// (COMPLETE); a report being built is INPROGRESS; otherwise this call claims the job for its account
/// (one job per account, whichever node asks) and starts building it in the background: STARTED.
pub async fn generate(iam: &Iam, account: &str) -> Result<(&'static str, &'static str)> {
    let now = iam.clock.now_ms();
    let generation = crate::ids::request_id();
    let mut tx = iam.begin().await?;
    // The claim: a new row, or a row whose report is old or whose builder stopped renewing its lease.
    // The condition is judged in the database, so two nodes cannot both win.
    let claimed = sqlx::query(
        "INSERT INTO credential_reports (account_id, generated_at, content, state, generation, lease_until) VALUES ($1, $2, $3, 'INPROGRESS', $4, $5) \
         ON CONFLICT (account_id) DO UPDATE SET state = 'INPROGRESS', generated_at = excluded.generated_at, content = excluded.content, generation = excluded.generation, lease_until = excluded.lease_until \
         WHERE (credential_reports.state = 'INPROGRESS' AND credential_reports.lease_until < $2) OR (credential_reports.state = 'COMPLETE' AND credential_reports.generated_at <= $6)",
    )
    .bind(account)
    .bind(now)
    .bind(Vec::<u8>::new())
    .bind(&generation)
    .bind(now + LEASE_MS)
    .bind(now - REUSE_MS)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if claimed == 0 {
        drop(tx);
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM credential_reports WHERE account_id = $1").bind(account).fetch_optional(&iam.store.read).await?;
        return Ok(match state.as_deref() {
            Some("COMPLETE") => ("COMPLETE", "No report generation necessary: a report younger than four hours exists."),
            _ => ("INPROGRESS", "Report generation in progress."),
        });
    }
    tx.commit().await?;
    let (iam, account) = (iam.clone(), account.to_string());
    crate::app::spawn_background(async move {
        let started = std::time::Instant::now();
        match build_parts(&iam, &account, &generation).await {
            Ok(Some(rows)) => tracing::info!(account, rows, ms = started.elapsed().as_millis() as u64, "credential report complete"),
            Ok(None) => tracing::warn!(account, "credential report job taken over by another builder"),
            Err(e) => {
                tracing::error!(account, error = %e.message, "credential report failed; the next GenerateCredentialReport starts again");
                let _ = sqlx::query("UPDATE credential_reports SET lease_until = 0 WHERE account_id = $1 AND generation = $2")
                    .bind(&account)
                    .bind(&generation)
                    .execute(&iam.store.write)
                    .await;
            }
        }
    });
    Ok(("STARTED", "No report exists. Starting a new report generation task"))
}

/// Writes one part of the report and renews the lease, in one transaction. False: the job is no
/// longer this builder's.
async fn put_part(iam: &Iam, account: &str, generation: &str, part: i64, content: &str) -> Result<bool> {
    let mut tx = iam.begin().await?;
    let held = sqlx::query("UPDATE credential_reports SET lease_until = $1 WHERE account_id = $2 AND generation = $3 AND state = 'INPROGRESS'")
        .bind(iam.clock.now_ms() + LEASE_MS)
        .bind(account)
        .bind(generation)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if held == 0 {
        return Ok(false);
    }
    sqlx::query("INSERT INTO credential_report_parts (account_id, generation, part, content) VALUES ($1, $2, $3, $4)")
        .bind(account)
        .bind(generation)
        .bind(part)
        .bind(content.as_bytes().to_vec())
        .execute(&mut *tx)
        .await?;
    // Building is not a call of its own: the GenerateCredentialReport that started it is recorded.
    tx.commit_unrecorded().await?;
    Ok(true)
}

/// Builds the report part by part; the last step marks it COMPLETE and drops older parts. Returns
/// the number of user rows, or None when another builder took the job over.
async fn build_parts(iam: &Iam, account: &str, generation: &str) -> Result<Option<u64>> {
    let (root, policy) = root_part(iam, account).await?;
    if !put_part(iam, account, generation, 0, &root).await? {
        return Ok(None);
    }
    let (mut after, mut part, mut rows) = (String::new(), 1i64, 0u64);
    while let Some((csv, n, last)) = users_part(iam, account, &after, policy.as_ref()).await? {
        rows += n;
        if !put_part(iam, account, generation, part, &csv).await? {
            return Ok(None);
        }
        after = last;
        part += 1;
    }
    let mut tx = iam.begin().await?;
    let done =
        sqlx::query("UPDATE credential_reports SET state = 'COMPLETE', lease_until = 0 WHERE account_id = $1 AND generation = $2 AND state = 'INPROGRESS'")
            .bind(account)
            .bind(generation)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if done == 0 {
        return Ok(None);
    }
    sqlx::query("DELETE FROM credential_report_parts WHERE account_id = $1 AND generation <> $2").bind(account).bind(generation).execute(&mut *tx).await?;
    tx.commit_unrecorded().await?;
    Ok(Some(rows))
}

/// GetCredentialReport: the report and when it was generated, or AWS's refusals: ReportNotPresent
/// (never generated, or its build stopped), ReportInProgress (being built), ReportExpired (older
/// than four hours: GenerateCredentialReport makes a new one).
pub async fn get(iam: &Iam, account: &str) -> Result<(Vec<u8>, i64)> {
    let row = sqlx::query("SELECT state, generated_at, generation, content, lease_until FROM credential_reports WHERE account_id = $1")
        .bind(account)
        .fetch_optional(&iam.store.read)
        .await?;
    let not_present = || AwsError::report_not_present("Credential report not present. Call GenerateCredentialReport first.");
    let row = row.ok_or_else(not_present)?;
    let (state, at, generation): (String, i64, String) = (row.get(0), row.get(1), row.get(2));
    let now = iam.clock.now_ms();
    if state != "COMPLETE" {
        if row.get::<i64, _>(4) >= now {
            return Err(AwsError::report_in_progress("Credential report is being generated. Retry in a few seconds."));
        }
        return Err(not_present());
    }
    if now - at >= REUSE_MS {
        return Err(AwsError::report_expired(
            "The most recent credential report has expired (it is over four hours old). Call GenerateCredentialReport for a new one.",
        ));
    }
    if generation.is_empty() {
        return Ok((row.get(3), at));
    }
    let mut content = Vec::new();
    for part in sqlx::query_scalar::<_, Vec<u8>>("SELECT content FROM credential_report_parts WHERE account_id = $1 AND generation = $2 ORDER BY part")
        .bind(account)
        .bind(&generation)
        .fetch_all(&iam.store.read)
        .await?
    {
        content.extend_from_slice(&part);
    }
    Ok((content, at))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_that_could_forge_columns_are_quoted() {
        let mut csv = String::new();
        super::push_row(&mut csv, &["alice".into(), "arn:aws:iam::1:user/a,TRUE,\"x\"/alice".into(), "TRUE".into()]);
        assert_eq!(csv, "alice,\"arn:aws:iam::1:user/a,TRUE,\"\"x\"\"/alice\",TRUE\n");
    }
}
