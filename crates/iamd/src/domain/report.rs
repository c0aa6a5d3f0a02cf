//! The credential report: AWS's 22-column CSV, one row for the root user and one per IAM user.
//! Like AWS, a report younger than four hours is reused rather than regenerated.

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

async fn key_columns(iam: &Iam, account: &str, owner: &str) -> Result<Vec<String>> {
    let rows =
        sqlx::query("SELECT slot, status, created_at, last_used_at, last_used_region, last_used_service FROM access_keys WHERE account_id = $1 AND owner = $2")
            .bind(account)
            .bind(owner)
            .fetch_all(&iam.store.read)
            .await?;
    let mut out = Vec::new();
    for slot in [1i64, 2] {
        match rows.iter().find(|r| r.get::<i64, _>(0) == slot) {
            Some(r) => {
                let used: Option<i64> = r.get(3);
                out.push(tf(r.get::<String, _>(1) == "Active").to_string());
                out.push(iso8601(r.get(2)));
                out.push(used.map(iso8601).unwrap_or_else(|| "N/A".into()));
                out.push(r.get::<Option<String>, _>(4).unwrap_or_else(|| "N/A".into()));
                out.push(r.get::<Option<String>, _>(5).unwrap_or_else(|| "N/A".into()));
            }
            None => out.extend(["FALSE", "N/A", "N/A", "N/A", "N/A"].map(String::from)),
        }
    }
    Ok(out)
}

async fn mfa_active(iam: &Iam, account: &str, owner: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mfa_devices WHERE account_id = $1 AND owner = $2")
        .bind(account)
        .bind(owner)
        .fetch_one(&iam.store.read)
        .await?;
    Ok(n > 0)
}

pub async fn build(iam: &Iam, account: &str) -> Result<String> {
    let acct = sqlx::query("SELECT created_at, root_password_last_used, password_policy FROM accounts WHERE account_id = $1")
        .bind(account)
        .fetch_one(&iam.store.read)
        .await?;
    let policy: Option<super::passwords::PasswordPolicy> = acct.get::<Option<String>, _>(2).and_then(|t| serde_json::from_str(&t).ok());
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
        tf(mfa_active(iam, account, super::Owner::Root.column()).await?).into(),
    ];
    root.extend(key_columns(iam, account, super::Owner::Root.column()).await?);
    root.extend(["FALSE", "N/A", "FALSE", "N/A"].map(String::from));
    push_row(&mut csv, &root);
    let users = sqlx::query(
        "SELECT u.user_id, u.name, u.path, u.created_at, u.password_last_used, l.changed_at FROM users u LEFT JOIN login_profiles l ON l.user_id = u.user_id WHERE u.account_id = $1 ORDER BY u.name_lower",
    )
    .bind(account)
    .fetch_all(&iam.store.read)
    .await?;
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
            match (changed, policy.as_ref().and_then(|p| p.max_password_age)) {
                (Some(c), Some(days)) => iso8601(c + days * 86_400_000),
                _ => "N/A".into(),
            },
            tf(mfa_active(iam, account, &user_id).await?).into(),
        ];
        row.extend(key_columns(iam, account, &user_id).await?);
        row.extend(["FALSE", "N/A", "FALSE", "N/A"].map(String::from));
        push_row(&mut csv, &row);
    }
    Ok(csv)
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

/// GenerateCredentialReport: (State, Description).
pub async fn generate(iam: &Iam, account: &str) -> Result<(&'static str, &'static str)> {
    let now = iam.clock.now_ms();
    let at: Option<i64> =
        sqlx::query_scalar("SELECT generated_at FROM credential_reports WHERE account_id = $1").bind(account).fetch_optional(&iam.store.read).await?;
    if at.is_some_and(|t| now - t < REUSE_MS) {
        return Ok(("COMPLETE", "No report generation necessary: a report younger than four hours exists."));
    }
    let csv = build(iam, account).await?;
    let mut tx = iam.begin().await?;
    sqlx::query("DELETE FROM credential_reports WHERE account_id = $1").bind(account).execute(&mut *tx).await?;
    sqlx::query("INSERT INTO credential_reports (account_id, generated_at, content) VALUES ($1, $2, $3)")
        .bind(account)
        .bind(now)
        .bind(csv.into_bytes())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(("COMPLETE", "Report generated."))
}

pub async fn get(iam: &Iam, account: &str) -> Result<(Vec<u8>, i64)> {
    let row = sqlx::query("SELECT content, generated_at FROM credential_reports WHERE account_id = $1").bind(account).fetch_optional(&iam.store.read).await?;
    let row = row.ok_or_else(|| AwsError::report_not_present("Credential report not present. Call GenerateCredentialReport first."))?;
    Ok((row.get(0), row.get(1)))
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
