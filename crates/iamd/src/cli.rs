//! The `iamd` command line: `serve`, `init`, and the administrator's `account` commands. Every flag
//! also reads an `IAMD_*` environment variable.

use crate::app::App;
use crate::crypto::{self, Sealer};
use crate::domain::{accounts, Iam, Owner};
use crate::store::{self, Store};
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "iamd",
    version,
    about = "Self-hosted AWS IAM and STS with real multi-factor authentication",
    long_about = "iamd serves the AWS IAM and STS APIs (Query protocol, SigV4) so the AWS CLI, boto3 and the AWS SDKs work \
against it with --endpoint-url. It keeps its state in an embedded SQLite database in the data directory, or in \
PostgreSQL shared by several nodes.",
    after_help = "Examples:\n  iamd serve                                   # first start creates ./iamd-data and prints root credentials\n  iamd init --data-dir /var/lib/iamd --json\n  iamd account create --data-dir /var/lib/iamd --email ops@example.com --json"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr: json (one object per line) or text.
    #[arg(long, global = true, env = "IAMD_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    log_format: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve IAM and STS on one HTTP endpoint. On first start with an empty data directory, creates the
    /// database, the master key and one account, and prints the root credentials once.
    #[command(
        after_help = "Example:\n  iamd serve --data-dir ./iamd-data --listen 127.0.0.1:8080\n  aws --endpoint-url http://127.0.0.1:8080 iam create-user --user-name alice"
    )]
    Serve(ServeArgs),
    /// Initialise a data directory (master key, database, one account) without serving, and print the
    /// account's root credentials.
    #[command(after_help = "Example:\n  iamd init --data-dir ./iamd-data --json")]
    Init(InitArgs),
    /// Administer accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Administer MFA: import hardware tokens, enrol and (break-glass) remove the root user's devices.
    #[command(subcommand)]
    Mfa(MfaCommand),
    /// The audit trail: digests, verification, export, pruning.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print the action table: every IAM, STS and CloudTrail action served, with its service, whether
    /// it is read-only and the kind of target it is authorized on (JSON).
    #[command(after_help = "Example:\n  iamd actions | jq -r '.[] | select(.target == \"user-or-caller\") | .action'")]
    Actions,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Make a digest now, covering every record not yet covered (the server also makes them on a schedule).
    #[command(after_help = "Example:\n  iamd audit digest --data-dir ./iamd-data")]
    Digest {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Walk the digest chain and check every digest and record: prints OK, or exactly which range
    /// was altered, removed, inserted or reordered (exit status 1).
    #[command(after_help = "Example:\n  iamd audit verify --data-dir ./iamd-data")]
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// The latest digest you know of, as `audit digest` printed it (NUMBER:SHA256), kept outside
        /// the database: a chain that lacks it, or holds another digest under its number, was cut or
        /// rewritten — the one tampering the chain itself cannot show.
        #[arg(long, value_name = "NUMBER:SHA256")]
        expect: Option<String>,
        /// Flag a chain whose newest digest ended more than this many seconds ago (the tail may have
        /// been cut, or digests stopped); 0 turns the check off. Default: twice the default interval.
        #[arg(long, default_value_t = 7200)]
        max_age: i64,
    },
    /// Print the public key that signs the digests (PEM), to verify them with standard tools.
    #[command(after_help = "Example:\n  iamd audit public-key --data-dir ./iamd-data > trail.pem")]
    PublicKey {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Export records: CloudTrail's log and digest files (gzip JSON in CloudTrail's folder layout) into
    /// --out, or JSON lines on standard output with --format jsonl.
    #[command(
        after_help = "Examples:\n  iamd audit export --data-dir ./iamd-data --since 2026-11-01 --out ./trail\n  iamd audit export --data-dir ./iamd-data --since 2026-11-01 --format jsonl | my-siem-shipper"
    )]
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// Records (or digests ending) at or after this time: YYYY-MM-DD or RFC 3339.
        #[arg(long)]
        since: String,
        /// Directory for the CloudTrail layout.
        #[arg(long, required_if_eq("format", "cloudtrail"))]
        out: Option<PathBuf>,
        #[arg(long, default_value = "cloudtrail", value_parser = ["cloudtrail", "jsonl"])]
        format: String,
    },
    /// Remove records older than DATE, whole digests at a time; the digests stay, and the prune is
    /// itself recorded. The only way the database lets records go.
    #[command(after_help = "Example:\n  iamd audit prune --data-dir ./iamd-data --before 2026-01-01")]
    Prune {
        #[command(flatten)]
        store: StoreArgs,
        /// YYYY-MM-DD or RFC 3339.
        #[arg(long)]
        before: String,
    },
}

#[derive(Subcommand, Debug)]
enum MfaCommand {
    /// Import hardware TOTP tokens from a vendor's seed file (PSKC, RFC 6030, or CSV) into an
    /// account's inventory. All or nothing: a bad file stores nothing and names the line or element.
    #[command(
        after_help = "Examples:\n  iamd mfa import --data-dir ./iamd-data --account 123456789012 tokens.pskcxml --password-stdin < pw.txt\n  iamd mfa import --data-dir ./iamd-data --account 123456789012 tokens.csv\n\nCSV lines: serial,seed[,digits[,period[,algorithm]]] with a base32 seed, or hex:… for hex."
    )]
    Import {
        #[command(flatten)]
        store: StoreArgs,
        /// The account that receives the tokens.
        #[arg(long)]
        account: String,
        /// The seed file.
        file: PathBuf,
        /// pskc or csv; default: from the file's content.
        #[arg(long, value_parser = ["pskc", "csv"])]
        format: Option<String>,
        /// The pre-shared AES key for an encrypted PSKC file, in hex.
        #[arg(long, env = "IAMD_PSKC_KEY", hide_env_values = true)]
        key_hex: Option<String>,
        /// The password for a PBKDF2-protected PSKC file (prefer --password-stdin).
        #[arg(long, env = "IAMD_PSKC_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List an account's hardware tokens: serial, state and owner.
    #[command(after_help = "Example:\n  iamd mfa list-hardware --data-dir ./iamd-data --account 123456789012")]
    ListHardware {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        account: String,
        #[arg(long)]
        json: bool,
    },
    /// Create a virtual MFA device for the root user to enrol: prints its serial, seed and otpauth URI.
    #[command(after_help = "Example:\n  iamd mfa create-virtual --data-dir ./iamd-data --account 123456789012 --name root-phone --qr-png root-phone.png")]
    CreateVirtual {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        account: String,
        /// The device name (unique in the account).
        #[arg(long)]
        name: String,
        /// Also write the QR code to this PNG file.
        #[arg(long)]
        qr_png: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Enrol a virtual or hardware device for the root user with two consecutive codes.
    #[command(
        after_help = "Example:\n  iamd mfa enable-root --data-dir ./iamd-data --account 123456789012 --serial arn:aws:iam::123456789012:mfa/root-phone --code1 123456 --code2 654321"
    )]
    EnableRoot {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        account: String,
        #[arg(long)]
        serial: String,
        #[arg(long)]
        code1: String,
        #[arg(long)]
        code2: String,
    },
    /// Break glass: remove one of the root user's devices when it is lost. Logged at warn level.
    #[command(
        after_help = "Example:\n  iamd mfa deactivate-root --data-dir ./iamd-data --account 123456789012 --serial arn:aws:iam::123456789012:mfa/root-phone"
    )]
    DeactivateRoot {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        account: String,
        #[arg(long)]
        serial: String,
    },
    /// List the root user's MFA devices.
    #[command(after_help = "Example:\n  iamd mfa list-root --data-dir ./iamd-data --account 123456789012")]
    ListRoot {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        account: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug, Clone)]
struct StoreArgs {
    /// Directory holding the master key and (without --database-url) the SQLite database.
    #[arg(long, env = "IAMD_DATA_DIR", default_value = "./iamd-data")]
    data_dir: PathBuf,
    /// postgres://user:password@host/db to share state between nodes; default: SQLite in the data directory.
    #[arg(long, env = "IAMD_DATABASE_URL")]
    database_url: Option<String>,
    /// The master key as 64 hex characters, instead of DATA_DIR/master.key.
    #[arg(long, env = "IAMD_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "IAMD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// E-mail of the root user of the account created on first start.
    #[arg(long, env = "IAMD_ROOT_EMAIL", default_value = "root@iamd.local")]
    root_email: String,
    /// Accept only these regions in credential scopes (comma-separated); default: any.
    #[arg(long, env = "IAMD_REGIONS", value_delimiter = ',')]
    regions: Vec<String>,
    /// Seconds between audit digests (any node may make one; exactly one does).
    #[arg(long, env = "IAMD_AUDIT_DIGEST_INTERVAL", default_value_t = 3600)]
    audit_digest_interval: u64,
    /// Remove audit records older than this many days (whole digests at a time); default: keep all.
    #[arg(long, env = "IAMD_AUDIT_RETENTION_DAYS")]
    audit_retention_days: Option<u32>,
    /// Make successful reads wait until their audit record is committed (writes and refusals always
    /// do). Without it a read's record follows within one group commit (about 5 ms).
    #[arg(long, env = "IAMD_AUDIT_SYNC_READS")]
    audit_sync_reads: bool,
    /// How long an `aws login` lasts from its console sign-in, in hours (its credentials refresh
    /// every 15 minutes until then; then the CLI asks for a new login).
    #[arg(long, env = "IAMD_LOGIN_MAX_HOURS", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=168))]
    login_max_hours: u32,
    /// How long a console session lasts, in minutes.
    #[arg(long, env = "IAMD_CONSOLE_SESSION_MINUTES", default_value_t = 720)]
    console_session_minutes: u64,
    /// The WebAuthn relying-party id: the console's host name. The default, localhost, accepts
    /// http://localhost on any port (browsers refuse security keys on http://127.0.0.1).
    #[arg(long, env = "IAMD_WEBAUTHN_RP_ID", default_value = "localhost")]
    webauthn_rp_id: String,
    /// The console's origin for WebAuthn, e.g. https://iam.example.com (default: https://RP_ID, or
    /// http://localhost on any port for the local default).
    #[arg(long, env = "IAMD_WEBAUTHN_ORIGIN")]
    webauthn_origin: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "IAMD_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "IAMD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The most connections open at once. Over it, a new connection closes the oldest one that has
    /// no request in flight (idle, or still sending its head). Never more than the process's file
    /// descriptor limit allows (iamd raises its soft limit to the hard one).
    #[arg(long, env = "IAMD_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Seconds a connection may take to send a request head (and, when idle between requests, to
    /// start one); also bounds a TLS handshake.
    #[arg(long, env = "IAMD_HEADER_READ_TIMEOUT", default_value_t = 10)]
    header_read_timeout: u64,
    /// Threads that serve connections, each one connection's whole life (default: one per core, plus
    /// one, so that the connections of a thread the scheduler has put aside are not all that is
    /// left to serve). Background work (the audit writer, reports, digests) runs on other threads.
    #[arg(long, env = "IAMD_IO_THREADS")]
    io_threads: Option<usize>,
    /// On the first start, write the new root credentials (JSON, mode 0600) to this file instead of
    /// printing them on standard output (which a service manager may keep in its logs).
    #[arg(long, env = "IAMD_CREDENTIALS_FILE")]
    credentials_file: Option<PathBuf>,
    /// Reverse proxies (comma-separated address blocks, e.g. 10.0.0.0/8,fd00::/8) whose
    /// X-Forwarded-For and X-Forwarded-Proto name the client's address and scheme. From any other
    /// peer those headers are ignored. Default: none.
    #[arg(long, env = "IAMD_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<crate::net::Cidr>,
}

#[derive(Args, Debug)]
struct InitArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// E-mail of the account's root user.
    #[arg(long, env = "IAMD_ROOT_EMAIL", default_value = "root@iamd.local")]
    email: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum AccountCommand {
    /// Create another account with its own root user and root access key.
    #[command(after_help = "Example:\n  iamd account create --data-dir ./iamd-data --email team-b@example.com --json")]
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// E-mail of the new account's root user (unique).
        #[arg(long)]
        email: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the accounts.
    #[command(after_help = "Example:\n  iamd account list --data-dir ./iamd-data")]
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("iamd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iamd: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IAMD_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "text" {
        b.init();
    } else {
        b.json().flatten_event(true).with_current_span(false).init();
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(a) => serve(a).await,
        Command::Init(a) => init(a).await,
        Command::Account(AccountCommand::Create { store, email, json }) => {
            let iam = open(&store).await?;
            let acct = audited(&iam, "CreateAccount", "", serde_json::json!({"rootEmail": email}), accounts::create_account(&iam, &email)).await?;
            print_account(&acct, json, None);
            Ok(())
        }
        Command::Mfa(cmd) => mfa_command(cmd).await,
        Command::Audit(cmd) => audit_command(cmd).await,
        Command::Actions => {
            println!("{}", crate::api::action::table_json());
            Ok(())
        }
        Command::Account(AccountCommand::List { store, json }) => {
            let iam = open(&store).await?;
            let list = accounts::list_accounts(&iam).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<14} {:<32} {:<24} {:>6}  CREATED", "ACCOUNT", "ROOT E-MAIL", "ALIAS", "USERS");
                for a in list {
                    println!("{:<14} {:<32} {:<24} {:>6}  {}", a.account_id, a.root_email, a.alias.unwrap_or_else(|| "-".into()), a.users, a.created);
                }
            }
            Ok(())
        }
    }
}

async fn mfa_command(cmd: MfaCommand) -> anyhow::Result<()> {
    use crate::domain::mfa;
    match cmd {
        MfaCommand::Import { store, account, file, format, key_hex, password, password_stdin } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let is_pskc = match format.as_deref() {
                Some("pskc") => true,
                Some(_) => false,
                None => text.trim_start().starts_with('<'),
            };
            let tokens = if is_pskc {
                let password = if password_stdin {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    Some(line.trim_end_matches(['\r', '\n']).to_string())
                } else {
                    password
                };
                // An encrypted file and nothing given: ask, when someone is at a terminal.
                let password = match password {
                    None if key_hex.is_none() && text.contains("DerivedKey") && std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
                        eprint!("Password for {}: ", file.display());
                        let mut line = String::new();
                        std::io::stdin().read_line(&mut line)?;
                        Some(line.trim_end_matches(['\r', '\n']).to_string())
                    }
                    p => p,
                };
                let key = match (key_hex, password) {
                    (Some(k), _) => otp::pskc::Key::PreShared(hex::decode(k.trim()).context("--key-hex must be hexadecimal")?),
                    (None, Some(p)) => otp::pskc::Key::Password(p),
                    (None, None) => otp::pskc::Key::None,
                };
                otp::pskc::parse(&text, &key).map_err(|e| anyhow::anyhow!("{}: {e}; nothing was imported", file.display()))?
            } else {
                otp::csv::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}; nothing was imported", file.display()))?
            };
            let iam = open(&store).await?;
            let serials: Vec<&str> = tokens.iter().map(|t| t.serial.as_str()).collect();
            let n = audited(
                &iam,
                "ImportHardwareMFADevices",
                &account,
                serde_json::json!({"file": file.display().to_string(), "serialNumbers": serials}),
                mfa::import_hardware(&iam, &account, &tokens),
            )
            .await?;
            tracing::info!(account, tokens = n, file = %file.display(), "hardware MFA tokens imported");
            println!("imported {n} hardware token(s) into account {account}");
            for t in &tokens {
                println!("  {}  {} digits, {} s, {}", t.serial, t.params.digits, t.params.period, t.params.algorithm.name());
            }
            Ok(())
        }
        MfaCommand::ListHardware { store, account, json } => {
            let iam = open(&store).await?;
            let rows = mfa::list_hardware(&iam, &account).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("{:<32} {:<11} {:<24} DIGITS PERIOD ALGORITHM", "SERIAL", "STATE", "OWNER");
                for r in rows {
                    println!("{:<32} {:<11} {:<24} {:>6} {:>6} {}", r.serial, r.state, r.owner.unwrap_or_else(|| "-".into()), r.digits, r.period, r.algorithm);
                }
            }
            Ok(())
        }
        MfaCommand::CreateVirtual { store, account, name, qr_png, json } => {
            let iam = open(&store).await?;
            let mut p =
                crate::api::params::Params::parse(format!("n={}", percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)).as_bytes());
            p.req("n", &crate::api::params::MFA_NAME);
            p.finish().map_err(|e| anyhow::anyhow!("{}", e.message.replace("'n'", "'name'")))?;
            let d = audited(
                &iam,
                "CreateVirtualMFADevice",
                &account,
                serde_json::json!({"virtualMFADeviceName": name, "userName": "AWS ROOT USER"}),
                mfa::create_virtual(&iam, &account, &name, "/", &[]),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            if let Some(path) = qr_png {
                std::fs::write(&path, &d.qr_png).with_context(|| format!("writing {}", path.display()))?;
            }
            if json {
                println!("{}", serde_json::json!({"serial": d.serial, "seed_base32": d.seed_base32, "otpauth_uri": d.uri}));
            } else {
                println!("serial:       {}\nsecret key:   {}\notpauth URI:  {}\n\nAdd it to an authenticator app, then: iamd mfa enable-root --account {account} --serial {} --code1 … --code2 …", d.serial, d.seed_base32, d.uri, d.serial);
            }
            Ok(())
        }
        MfaCommand::EnableRoot { store, account, serial, code1, code2 } => {
            let iam = open(&store).await?;
            audited(
                &iam,
                "EnableMFADevice",
                &account,
                serde_json::json!({"userName": "AWS ROOT USER", "serialNumber": serial}),
                mfa::enable(&iam, &account, &Owner::Root, Owner::Root.column(), &serial, None, &code1, &code2),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
            tracing::info!(account, serial, "root MFA device enabled from the command line");
            println!("enabled {serial} for the root user of {account}");
            Ok(())
        }
        MfaCommand::DeactivateRoot { store, account, serial } => {
            let iam = open(&store).await?;
            audited(
                &iam,
                "DeactivateMFADevice",
                &account,
                serde_json::json!({"userName": "AWS ROOT USER", "serialNumber": serial}),
                mfa::deactivate(&iam, &account, &Owner::Root, &serial),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
            tracing::warn!(account, serial, "break-glass: root MFA device deactivated from the server's command line");
            println!("deactivated {serial} for the root user of {account}");
            Ok(())
        }
        MfaCommand::ListRoot { store, account, json } => {
            let iam = open(&store).await?;
            let list = mfa::list_for_owner(&iam, &account, &Owner::Root).await.map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let rows: Vec<serde_json::Value> = list
                .iter()
                .map(|d| serde_json::json!({"serial": d.serial, "type": d.kind.label(), "enabled": d.enabled_at.map(crate::domain::iso8601)}))
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows {
                    println!("{}  {}  {}", r["serial"].as_str().unwrap_or(""), r["type"].as_str().unwrap_or(""), r["enabled"].as_str().unwrap_or(""));
                }
            }
            Ok(())
        }
    }
}

/// Runs an administrative action with its audit record: committed with the change, or (when the
/// action failed) written before the command exits.
async fn audited<T, E: std::fmt::Display>(
    iam: &Iam,
    name: &str,
    account: &str,
    params: serde_json::Value,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let mut ev = crate::audit::Event::new(iam.clock.now_ms(), "iam.amazonaws.com", name);
    crate::domain::trail::digest::cli_identity(&mut ev);
    ev.account = account.to_string();
    ev.params_json = Some(params);
    let (r, cur) = crate::audit::scope(ev, f).await;
    let error = r.as_ref().err().map(|e| ("Failed".to_string(), e.to_string()));
    crate::audit::settle(&iam.audit, cur, error, true).await;
    r
}

fn parse_when(s: &str) -> anyhow::Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    let d =
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").with_context(|| format!("{s:?} is not a date: use YYYY-MM-DD or RFC 3339 (2026-11-01T00:00:00Z)"))?;
    Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()).unwrap_or(0))
}

async fn audit_command(cmd: AuditCommand) -> anyhow::Result<()> {
    use crate::domain::trail::digest;
    match cmd {
        AuditCommand::Digest { store } => {
            let iam = open(&store).await?;
            match digest::make(&iam, 0).await? {
                Some(d) => println!(
                    "made digest {} ({}); keep outside the database: --expect {}:{}",
                    d.digest_no,
                    d.object_key,
                    d.digest_no,
                    digest::sha256_hex(d.body.as_bytes())
                ),
                None => println!("another node is making a digest right now; nothing was done"),
            }
            Ok(())
        }
        AuditCommand::Verify { store, json, expect, max_age } => {
            let iam = open(&store).await?;
            let expect = match expect.as_deref().map(|e| e.split_once(':')) {
                None => None,
                Some(Some((n, h))) if n.parse::<i64>().is_ok() && h.len() == 64 => Some((n.parse::<i64>()?, h.to_ascii_lowercase())),
                Some(_) => bail!("--expect takes NUMBER:SHA256 as `iamd audit digest` prints it"),
            };
            let mut r = digest::verify(&iam).await?;
            r.problems.extend(digest::check_tail(&iam, expect, (max_age > 0).then_some(max_age)).await?);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": r.problems.is_empty(), "digests": r.digests, "records": r.records, "problems": r.problems, "notes": r.notes})
                );
            } else {
                for n in &r.notes {
                    println!("note: {n}");
                }
                for p in &r.problems {
                    println!("FAILED: {p}");
                }
                if r.problems.is_empty() {
                    println!("OK: {} digest(s) and {} record(s) verified", r.digests, r.records);
                }
            }
            if !r.problems.is_empty() {
                bail!("the audit trail failed verification ({} problem(s))", r.problems.len());
            }
            Ok(())
        }
        AuditCommand::PublicKey { store } => {
            let iam = open(&store).await?;
            let k = digest::key_pair(&iam).await?;
            print!("{}", digest::public_pem(&k.public()));
            eprintln!("fingerprint: {}", k.fingerprint());
            Ok(())
        }
        AuditCommand::Export { store, since, out, format } => {
            let since = parse_when(&since)?;
            let iam = open(&store).await?;
            if format == "jsonl" {
                let stdout = std::io::stdout();
                let mut w = std::io::BufWriter::new(stdout.lock());
                let n = digest::stream_jsonl(&iam, since, &mut w).await?;
                eprintln!("iamd: exported {n} record(s)");
                return Ok(());
            }
            let out = out.context("--out DIR is required for --format cloudtrail")?;
            // Everything so far gets a digest, so the export is complete and verifiable.
            digest::make(&iam, 0).await?;
            let (files, digests) = digest::export(&iam, since, &out, |i, n| {
                if std::io::IsTerminal::is_terminal(&std::io::stderr()) || i == n || i % 100 == 0 {
                    eprint!("\riamd: exporting digest {i}/{n}");
                }
            })
            .await?;
            eprintln!();
            println!("wrote {files} log file(s) and {digests} digest(s) under {}", out.display());
            Ok(())
        }
        AuditCommand::Prune { store, before } => {
            let before = parse_when(&before)?;
            let iam = open(&store).await?;
            match digest::prune(&iam, before).await? {
                Some((d, n)) => println!("pruned {n} row(s) of records, through digest {d}; the digests remain"),
                None => println!("no digest lies wholly before that date; nothing was pruned"),
            }
            Ok(())
        }
    }
}

/// Whether DIR (or the database) already holds an initialised iamd.
fn is_initialised(s: &StoreArgs) -> bool {
    s.data_dir.join(crypto::MASTER_KEY_FILE).exists() || (s.database_url.is_none() && s.data_dir.join(store::SQLITE_FILE).exists())
}

async fn open(s: &StoreArgs) -> anyhow::Result<Iam> {
    if s.master_key.is_none() && !s.data_dir.join(crypto::MASTER_KEY_FILE).exists() {
        bail!("{} is not initialised: run `iamd init --data-dir {}` first (or set IAMD_MASTER_KEY)", s.data_dir.display(), s.data_dir.display());
    }
    let key = crypto::load_master_key(&s.data_dir, s.master_key.as_deref())?;
    let store = Store::open(&s.data_dir, s.database_url.as_deref()).await?;
    crate::audit::index::backfill(&store).await?;
    let iam = Iam::new(store, Sealer::new(&key));
    crate::domain::check_master_key(&iam).await?;
    crate::domain::policies::seed_aws_managed(&iam).await?;
    Ok(iam)
}

/// Creates the data directory, the master key (unless given) and the database, then the first account.
async fn initialise(s: &StoreArgs, email: &str) -> anyhow::Result<(Iam, Option<accounts::NewAccount>)> {
    std::fs::create_dir_all(&s.data_dir).with_context(|| format!("creating {}", s.data_dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&s.data_dir, std::fs::Permissions::from_mode(0o700));
    }
    let store = Store::open(&s.data_dir, s.database_url.as_deref()).await?;
    let key = match &s.master_key {
        Some(k) => crypto::load_master_key(&s.data_dir, Some(k))?,
        None => {
            // A new node joining a shared database must bring the key the others use, not make one.
            let has_key: Option<i64> = sqlx::query_scalar("SELECT 1 FROM meta WHERE name = 'master_key_check'").fetch_optional(&store.write).await?;
            if has_key.is_some() {
                bail!("the database is already initialised with a master key this node does not have: copy master.key from another node into {} or set IAMD_MASTER_KEY", s.data_dir.display());
            }
            crypto::create_master_key(&s.data_dir)?
        }
    };
    let iam = Iam::new(store, Sealer::new(&key));
    crate::domain::check_master_key(&iam).await?;
    crate::domain::policies::seed_aws_managed(&iam).await?;
    if accounts::account_count(&iam).await? > 0 {
        return Ok((iam, None));
    }
    let acct = audited(&iam, "CreateAccount", "", serde_json::json!({"rootEmail": email}), accounts::create_account(&iam, email)).await?;
    Ok((iam, Some(acct)))
}

async fn init(a: InitArgs) -> anyhow::Result<()> {
    if is_initialised(&a.store) {
        bail!("{} is already initialised; nothing was changed (use `iamd account create` to add an account)", a.store.data_dir.display());
    }
    if a.store.database_url.is_some() && a.store.master_key.is_some() {
        // With a shared database and a key from the environment there is no file to look at: ask the database.
        let iam = open(&a.store).await?;
        if accounts::account_count(&iam).await? > 0 {
            bail!("the database already holds accounts; nothing was changed (use `iamd account create` to add one)");
        }
    }
    let (_iam, acct) = initialise(&a.store, &a.email).await?;
    match acct {
        Some(acct) => print_account(&acct, a.json, None),
        None => bail!("the database already holds accounts; a master key was written to {} but no account was created", a.store.data_dir.display()),
    }
    Ok(())
}

/// Writes a new file readable by its owner only (refusing to overwrite one).
fn write_secret_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating --credentials-file {} (it must not exist yet)", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn print_account(a: &accounts::NewAccount, json: bool, endpoint: Option<&str>) {
    if json {
        println!("{}", serde_json::to_string(a).expect("serializes"));
        return;
    }
    let endpoint = endpoint.unwrap_or("http://127.0.0.1:8080");
    println!(
        "\nCreated account {acct} with its root user. These credentials are shown ONCE: store them now.\n\n  root e-mail:        {email}\n  root password:      {pw}\n  access key id:      {akid}\n  secret access key:  {sk}\n\nTry it with the AWS CLI:\n\n  export AWS_ACCESS_KEY_ID={akid}\n  export AWS_SECRET_ACCESS_KEY={sk}\n  export AWS_DEFAULT_REGION=us-east-1\n  aws --endpoint-url {endpoint} sts get-caller-identity\n  aws --endpoint-url {endpoint} iam create-user --user-name alice\n",
        acct = a.account_id,
        email = a.root_email,
        pw = a.root_password,
        akid = a.access_key_id,
        sk = a.secret_access_key,
    );
}

/// Keeps the data directory to one serving process: with SQLite, the key cache is only coherent when
/// this process is the database's only writer.
fn lock_data_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("serve.lock"))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(_) => bail!("another `iamd serve` is already using {}; run several nodes on PostgreSQL (--database-url) instead", dir.display()),
    }
}

async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let s = &a.store;
    let fresh = !is_initialised(s);
    let (iam, created) = if fresh || (s.database_url.is_some() && s.master_key.is_some() && !s.data_dir.join(crypto::MASTER_KEY_FILE).exists()) {
        initialise(s, &a.root_email).await?
    } else {
        (open(s).await?, None)
    };
    let _lock = if s.database_url.is_none() { Some(lock_data_dir(&s.data_dir)?) } else { None };
    let listener = tokio::net::TcpListener::bind(&a.listen).await.with_context(|| format!("binding {}", a.listen))?;
    let addr = listener.local_addr()?;
    if let Some(acct) = &created {
        match &a.credentials_file {
            None => print_account(acct, false, Some(&format!("http://{addr}"))),
            Some(path) => {
                write_secret_file(path, serde_json::to_string_pretty(acct).expect("serializes").as_bytes())?;
                println!(
                    "\nCreated account {} with its root user; its credentials are in {} (mode 0600), shown nowhere else.\n",
                    acct.account_id,
                    path.display()
                );
            }
        }
    }
    let mut iam = iam;
    iam.audit_sync_reads |= a.audit_sync_reads;
    iam.login_max_ms = i64::from(a.login_max_hours) * 3_600_000;
    crate::domain::trail::digest::start_schedule(iam.clone(), std::time::Duration::from_secs(a.audit_digest_interval.max(1)), a.audit_retention_days);
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some(tls_acceptor(c, k)?),
        _ => None,
    };
    let console = crate::app::ConsoleConfig::new(
        &a.webauthn_rp_id,
        a.webauthn_origin.as_deref(),
        (a.console_session_minutes.clamp(1, 7 * 24 * 60) * 60_000) as i64,
        tls.is_some(),
    )?;
    let app = App {
        iam: iam.clone(),
        regions: Arc::new(a.regions.clone()),
        console: Arc::new(console),
        tls: tls.is_some(),
        trusted_proxies: Arc::new(a.trusted_proxies.clone()),
    };
    let app = Arc::new(app);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(listen = %addr, backend = ?router_backend(s), tls = tls.is_some(), "iamd serving IAM and STS");
    println!("iamd: listening on {scheme}://{addr}");
    println!("iamd: console at {scheme}://localhost:{}/console", addr.port());
    let _ = std::io::stdout().flush();
    let limits = crate::server::Limits {
        max_connections: a.max_connections.clamp(1, crate::server::descriptor_budget()),
        header_read_timeout: std::time::Duration::from_secs(a.header_read_timeout.clamp(1, 600)),
        io_threads: a.io_threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) + 1).clamp(1, 256),
    };
    tracing::info!(
        max_connections = limits.max_connections,
        header_read_timeout_s = limits.header_read_timeout.as_secs(),
        io_threads = limits.io_threads,
        "connection limits"
    );
    crate::server::run(listener, app, tls, limits, shutdown()).await;
    // Records still in their group commit are written before the process ends.
    iam.audit.flush().await;
    tracing::info!("iamd stopped");
    Ok(())
}

/// A TLS acceptor for the certificate chain and key in these PEM files.
fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading --tls-cert {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("--tls-cert {}: not a PEM certificate chain", cert.display()))?;
    if certs.is_empty() {
        bail!("--tls-cert {}: no certificate in the file", cert.display());
    }
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("--tls-key {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in the file", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not match or are not supported")?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

fn router_backend(s: &StoreArgs) -> &'static str {
    if s.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
