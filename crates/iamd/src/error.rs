//! The one domain error type. Every refusal iamd makes is an `AwsError`: an AWS error code, the HTTP
//! status AWS's model gives it, and the message text. The protocol layers render it (XML for the Query
//! protocol, JSON for JSON 1.1) and nothing else decides a code or a status.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub code: ErrorCode,
    pub status: u16,
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AwsError {}

/// The one table of error codes: each row is a constructor, the code's variant, its wire name and
/// the HTTP status AWS's model gives it. `ErrorCode` is generated from it, so a code is a value the
/// compiler knows, never a string compared by hand.
macro_rules! errors {
    ($($fn:ident => $variant:ident, $code:literal, $status:literal;)*) => {
        /// An error code iamd answers with.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            /// The code on the wire (`NoSuchEntity`).
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }
            /// The HTTP status AWS's model gives the code.
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status),* }
            }
        }

        impl AwsError {
            $(pub fn $fn(message: impl Into<String>) -> Self {
                AwsError { code: ErrorCode::$variant, status: $status, message: message.into() }
            })*
        }
    };
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

errors! {
    no_such_entity => NoSuchEntity, "NoSuchEntity", 404;
    entity_already_exists => EntityAlreadyExists, "EntityAlreadyExists", 409;
    limit_exceeded => LimitExceeded, "LimitExceeded", 409;
    delete_conflict => DeleteConflict, "DeleteConflict", 409;
    invalid_input => InvalidInput, "InvalidInput", 400;
    password_policy_violation => PasswordPolicyViolation, "PasswordPolicyViolation", 400;
    invalid_user_type => InvalidUserType, "InvalidUserType", 400;
    entity_temporarily_unmodifiable => EntityTemporarilyUnmodifiable, "EntityTemporarilyUnmodifiable", 409;
    access_denied => AccessDenied, "AccessDenied", 403;
    invalid_client_token_id => InvalidClientTokenId, "InvalidClientTokenId", 403;
    expired_token => ExpiredToken, "ExpiredToken", 403;
    validation => ValidationError, "ValidationError", 400;
    invalid_action => InvalidAction, "InvalidAction", 400;
    malformed_query_string => MalformedQueryString, "MalformedQueryString", 404;
    invalid_parameter_combination => InvalidParameterCombination, "InvalidParameterCombination", 400;
    request_entity_too_large => RequestEntityTooLarge, "RequestEntityTooLarge", 413;
    internal => InternalFailure, "InternalFailure", 500;
    malformed_policy_document => MalformedPolicyDocument, "MalformedPolicyDocument", 400;
    concurrent_modification => ConcurrentModification, "ConcurrentModification", 409;
    service_unavailable => ServiceUnavailable, "ServiceUnavailable", 503;
    throttling => Throttling, "Throttling", 400;
    request_timeout => RequestTimeout, "RequestTimeout", 400;
    report_not_present => ReportNotPresent, "ReportNotPresent", 410;
    report_expired => ReportExpired, "ReportExpired", 410;
    report_in_progress => ReportInProgress, "ReportInProgress", 404;
    missing_action => MissingAction, "MissingAction", 400;
    invalid_authentication_code => InvalidAuthenticationCode, "InvalidAuthenticationCode", 403;
    // SigV4's refusals (crates/sigv4 names them; `from_sigv4` maps them here).
    missing_authentication_token => MissingAuthenticationToken, "MissingAuthenticationToken", 403;
    incomplete_signature => IncompleteSignature, "IncompleteSignature", 400;
    signature_does_not_match => SignatureDoesNotMatch, "SignatureDoesNotMatch", 403;
    // CloudTrail's JSON 1.1 codes.
    unknown_operation => UnknownOperationException, "UnknownOperationException", 400;
    serialization => SerializationException, "SerializationException", 400;
    invalid_lookup_attributes => InvalidLookupAttributesException, "InvalidLookupAttributesException", 400;
    invalid_time_range => InvalidTimeRangeException, "InvalidTimeRangeException", 400;
    invalid_max_results => InvalidMaxResultsException, "InvalidMaxResultsException", 400;
    invalid_next_token => InvalidNextTokenException, "InvalidNextTokenException", 400;
    invalid_event_category => InvalidEventCategoryException, "InvalidEventCategoryException", 400;
    // The console's own refusals (HTML pages, never an AWS error body).
    forbidden => Forbidden, "Forbidden", 403;
    too_large => TooLarge, "TooLarge", 413;
    misdirected_request => MisdirectedRequest, "MisdirectedRequest", 421;
    method_not_allowed => MethodNotAllowed, "MethodNotAllowed", 400;
    bad_request => BadRequest, "BadRequest", 400;
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
        let code = match e {
            sigv4::Error::MissingAuthenticationToken => ErrorCode::MissingAuthenticationToken,
            sigv4::Error::IncompleteSignature(_) => ErrorCode::IncompleteSignature,
            sigv4::Error::SignatureDoesNotMatch(_) => ErrorCode::SignatureDoesNotMatch,
        };
        AwsError { code, status: e.status(), message: e.message() }
    }

    /// An error of `code` with the status the table gives it.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AwsError { code, status: code.status(), message: message.into() }
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
            matches!(d.kind(), sqlx::error::ErrorKind::UniqueViolation) || d.code().map(|c| c == "23505" || c == "2067" || c == "1555").unwrap_or(false)
        }
        _ => false,
    }
}
