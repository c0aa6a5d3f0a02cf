#![no_main]
//! Any bytes: parse as an identity and a trust policy; whatever parses is evaluated. Nothing may panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let mut ctx = policy::Context::new();
        ctx.set("aws:username", "bob").set("aws:MultiFactorAuthPresent", "true").set("aws:SourceIp", "10.1.2.3");
        for kind in [policy::DocKind::Identity, policy::DocKind::Trust] {
            if let Ok(p) = policy::parse(text, kind) {
                let req = policy::Request {
                    action: "iam:ListUsers",
                    resource: "arn:aws:iam::123456789012:user/bob",
                    context: &ctx,
                    principal_arn: Some("arn:aws:iam::123456789012:user/bob"),
                    principal_account: Some("123456789012"),
                };
                let _ = policy::evaluate(&[&p], &req);
            }
        }
    }
});
