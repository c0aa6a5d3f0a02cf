//! Accounts and what belongs to the account as a whole: the root user's credentials, the alias, the
//! password policy and the account summary.

use super::{keys, passwords, Iam};
use crate::error::{is_unique_violation, AwsError, Result};
use crate::ids;
use serde::Serialize;
use sqlx::Row;

/// What `iamd init` and `iamd account create` print, once.
#[derive(Debug, Serialize)]
pub struct NewAccount {
    pub account_id: String,
    pub root_email: String,
    pub root_password: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Creates an account with a root user (generated password) and one root access key.
pub async fn create_account(iam: &Iam, email: &str) -> anyhow::Result<NewAccount> {
    let email = email.trim();
    if email.is_empty() || !email.contains('@') || email.len() > 256 {
        anyhow::bail!("'{email}' is not an e-mail address: give one like admin@example.com");
    }
    let password = ids::password();
    let hash = passwords::hash(password.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = iam.clock.now_ms();
    for _ in 0..5 {
        let account_id = ids::account_id();
        let mut tx = iam.begin().await?;
        let r = sqlx::query(
            "INSERT INTO accounts (account_id, root_email, root_email_lower, root_password_hash, root_password_changed_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&account_id)
        .bind(email)
        .bind(email.to_ascii_lowercase())
        .bind(&hash)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match r {
            Err(e) if is_unique_violation(&e) => {
                // PostgreSQL refuses further statements in a failed transaction: ask outside it.
                drop(tx);
                let taken: Option<String> = sqlx::query_scalar("SELECT account_id FROM accounts WHERE root_email_lower = $1")
                    .bind(email.to_ascii_lowercase())
                    .fetch_optional(&iam.store.write)
                    .await?;
                if let Some(id) = taken {
                    anyhow::bail!("an account with the e-mail {email} already exists ({id}); pick another e-mail");
                }
                continue; // account id collision: draw another
            }
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let (access_key_id, secret) = keys::insert_key(iam, &mut tx, &account_id, &super::Owner::Root).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        crate::audit::with(|e| {
            e.account = account_id.clone();
            e.response = Some(serde_json::json!({"accountId": account_id, "rootAccessKeyId": access_key_id}));
        });
        tx.commit().await?;
        return Ok(NewAccount { account_id, root_email: email.to_string(), root_password: password, access_key_id, secret_access_key: secret });
    }
    anyhow::bail!("could not draw a free account id")
}

#[derive(Debug, Serialize)]
pub struct AccountInfo {
    pub account_id: String,
    pub root_email: String,
    pub alias: Option<String>,
    pub users: i64,
    pub created: String,
}

pub async fn list_accounts(iam: &Iam) -> anyhow::Result<Vec<AccountInfo>> {
    let rows = sqlx::query(
        "SELECT a.account_id, a.root_email, a.alias, a.created_at, (SELECT COUNT(*) FROM users u WHERE u.account_id = a.account_id) AS users FROM accounts a ORDER BY a.created_at, a.account_id",
    )
    .fetch_all(&iam.store.read)
    .await?;
    Ok(rows
        .iter()
        .map(|r| AccountInfo { account_id: r.get(0), root_email: r.get(1), alias: r.get(2), created: super::iso8601(r.get(3)), users: r.get(4) })
        .collect())
}

pub async fn account_count(iam: &Iam) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(&iam.store.read).await?)
}

// ---- alias ----

pub async fn create_alias(iam: &Iam, account: &str, alias: &str) -> Result<()> {
    // "If you create a new alias for your AWS account, the new alias overwrites the previous alias."
    let r = crate::audit::execute_one(&iam.store, sqlx::query("UPDATE accounts SET alias = $1 WHERE account_id = $2").bind(alias).bind(account)).await;
    match r {
        Err(e) if is_unique_violation(&e) => Err(AwsError::entity_already_exists(format!("The account alias {alias} already exists."))),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

pub async fn delete_alias(iam: &Iam, account: &str, alias: &str) -> Result<()> {
    let n =
        crate::audit::execute_one(&iam.store, sqlx::query("UPDATE accounts SET alias = NULL WHERE account_id = $1 AND alias = $2").bind(account).bind(alias))
            .await?
            .rows_affected();
    if n == 0 {
        return Err(AwsError::no_such_entity(format!("The account alias {alias} cannot be found.")));
    }
    Ok(())
}

pub async fn get_alias(iam: &Iam, account: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT alias FROM accounts WHERE account_id = $1").bind(account).fetch_one(&iam.store.read).await?)
}

// ---- password policy ----

pub async fn get_password_policy(iam: &Iam, account: &str) -> Result<Option<passwords::PasswordPolicy>> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT password_policy FROM accounts WHERE account_id = $1").bind(account).fetch_one(&iam.store.read).await?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

pub async fn put_password_policy(iam: &Iam, account: &str, policy: Option<&passwords::PasswordPolicy>) -> Result<bool> {
    let text = policy.map(|p| serde_json::to_string(p).expect("policy serializes"));
    let q = if text.is_some() {
        "UPDATE accounts SET password_policy = $1 WHERE account_id = $2"
    } else {
        "UPDATE accounts SET password_policy = $1 WHERE account_id = $2 AND password_policy IS NOT NULL"
    };
    let n = crate::audit::execute_one(&iam.store, sqlx::query(q).bind(text).bind(account)).await?.rows_affected();
    Ok(n > 0)
}

/// GetAccountPasswordPolicy's answer when there is none.
pub fn no_password_policy(account: &str) -> AwsError {
    AwsError::no_such_entity(format!("The Password Policy with domain name {account} cannot be found."))
}

/// DeleteAccountPasswordPolicy's answer when there is none (IAM words it differently from Get).
pub fn no_password_policy_to_delete() -> AwsError {
    AwsError::no_such_entity("The account policy with name PasswordPolicy cannot be found.")
}

// ---- summary ----

/// GetAccountSummary: true counts for what exists, AWS's default quotas for the rest. The counts are
/// one row kept by triggers in the transactions that change them (migration 0010), so the call costs
/// the same at a million users and the counts are the database's, whichever node wrote. What iamd
/// has no resource for (instance profiles, identity providers, certificates) is truly none.
pub async fn summary(iam: &Iam, account: &str) -> Result<Vec<(&'static str, i64)>> {
    let row = sqlx::query(
        "SELECT c.users, c.groups, c.roles, c.policies, c.attachments, c.mfa_devices, c.mfa_in_use, c.mfa_root, c.root_keys, \
         CASE WHEN a.root_password_hash <> '' THEN 1 ELSE 0 END \
         FROM account_counts c JOIN accounts a ON a.account_id = c.account_id WHERE c.account_id = $1",
    )
    .bind(account)
    .fetch_one(&iam.store.read)
    .await?;
    let n = |i: usize| -> i64 { row.get(i) };
    let (users, groups, roles, policies, attachments) = (n(0), n(1), n(2), n(3), n(4));
    let (mfa_all, mfa_in_use, mfa_root, root_keys, password) = (n(5), n(6), n(7), n(8), n(9));
    Ok(vec![
        ("AccessKeysPerUserQuota", 2),
        ("AccountAccessKeysPresent", (root_keys > 0) as i64),
        ("AccountMFAEnabled", (mfa_root > 0) as i64),
        ("AccountPasswordPresent", password),
        ("AccountSigningCertificatesPresent", 0),
        ("AssumeRolePolicySizeQuota", 2048),
        ("AttachedPoliciesPerGroupQuota", 10),
        ("AttachedPoliciesPerRoleQuota", 10),
        ("AttachedPoliciesPerUserQuota", 10),
        ("GlobalEndpointTokenVersion", 1),
        ("GroupPolicySizeQuota", 5120),
        ("Groups", groups),
        ("GroupsPerUserQuota", 10),
        ("GroupsQuota", 300),
        ("InstanceProfiles", 0),
        ("InstanceProfilesQuota", 1000),
        ("MFADevices", mfa_all),
        ("MFADevicesInUse", mfa_in_use),
        ("Policies", policies),
        ("PoliciesQuota", 1500),
        ("PolicySizeQuota", 6144),
        ("PolicyVersionsInUse", attachments),
        ("PolicyVersionsInUseQuota", 10000),
        ("Providers", 0),
        ("RolePolicySizeQuota", 10240),
        ("Roles", roles),
        ("RolesQuota", 1000),
        ("ServerCertificates", 0),
        ("ServerCertificatesQuota", 20),
        ("SigningCertificatesPerUserQuota", 2),
        ("UserPolicySizeQuota", 2048),
        ("Users", users),
        ("UsersQuota", 5000),
        ("VersionsPerPolicyQuota", 5),
    ])
}

/// When the account (and so its root user) was created, in ms.
pub async fn created_at(iam: &Iam, account: &str) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT created_at FROM accounts WHERE account_id = $1").bind(account).fetch_one(&iam.store.read).await?)
}
