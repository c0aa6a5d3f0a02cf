//! The one domain error type. Every refusal iamd makes is an `AwsError`: an AWS error code, the HTTP
//! status AWS's model gives it, and the message text. The protocol layers render it (XML for the Query
//! protocol, JSON for JSON 1.1) and nothing else decides a code or a status.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AwsError {}

macro_rules! errors {
    ($($fn:ident => $code:literal, $status:literal;)*) => {
        impl AwsError {
            $(pub fn $fn(message: impl Into<String>) -> Self {
                AwsError { code: $code, status: $status, message: message.into() }
            })*
        }
    };
}

errors! {
    no_such_entity => "NoSuchEntity", 404;
    entity_already_exists => "EntityAlreadyExists", 409;
    limit_exceeded => "LimitExceeded", 409;
    delete_conflict => "DeleteConflict", 409;
    invalid_input => "InvalidInput", 400;
    password_policy_violation => "PasswordPolicyViolation", 400;
    invalid_user_type => "InvalidUserType", 400;
    entity_temporarily_unmodifiable => "EntityTemporarilyUnmodifiable", 409;
    access_denied => "AccessDenied", 403;
    invalid_client_token_id => "InvalidClientTokenId", 403;
    expired_token => "ExpiredToken", 403;
    validation => "ValidationError", 400;
    invalid_action => "InvalidAction", 400;
    malformed_query_string => "MalformedQueryString", 404;
    invalid_parameter_combination => "InvalidParameterCombination", 400;
    request_entity_too_large => "RequestEntityTooLarge", 413;
    internal => "InternalFailure", 500;
}

impl AwsError {
    /// `Sender` for the client's faults, `Receiver` for ours (AWS's `<Type>`).
    pub fn fault(&self) -> &'static str {
        if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        }
    }

    pub fn invalid_token() -> Self {
        Self::invalid_client_token_id("The security token included in the request is invalid.")
    }

    pub fn from_sigv4(e: &sigv4::Error) -> Self {
        AwsError { code: e.code(), status: e.status(), message: e.message() }
    }
}

/// Database and other unexpected failures: logged in full, answered as a generic 500 with no detail
/// (the detail could carry SQL or internal state).
impl From<sqlx::Error> for AwsError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "database error");
        AwsError::internal("We encountered an internal error. Please try again.")
    }
}

impl From<anyhow::Error> for AwsError {
    fn from(e: anyhow::Error) -> Self {
        tracing::error!(error = %e, "internal error");
        AwsError::internal("We encountered an internal error. Please try again.")
    }
}

pub type Result<T, E = AwsError> = std::result::Result<T, E>;

/// True when a database error is a unique-constraint violation (both backends).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            matches!(d.kind(), sqlx::error::ErrorKind::UniqueViolation)
                || d.code().map(|c| c == "23505" || c == "2067" || c == "1555").unwrap_or(false)
        }
        _ => false,
    }
}
