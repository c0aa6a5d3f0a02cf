use super::*;
use crate::condition::{date, Kind, SetOp};

fn ctx(pairs: &[(&str, &str)]) -> Context {
    let mut c = Context::new();
    for (k, v) in pairs {
        c.set(k, *v);
    }
    c
}

fn cond(op: &str, key: &str, values: &[&str], c: &Context) -> bool {
    let clause = ConditionClause {
        operator: Operator::parse(op).unwrap_or_else(|| panic!("{op}")),
        key: key.into(),
        values: values.iter().map(|s| s.to_string()).collect(),
    };
    condition::evaluate(&clause, Version::V2012, c)
}

#[test]
fn every_operator_with_present_and_missing_keys() {
    let c = {
        let mut c = ctx(&[
            ("s", "Alice"),
            ("n", "10"),
            ("d", "2024-01-02T03:04:05Z"),
            ("b", "true"),
            ("ip", "10.1.2.3"),
            ("arn", "arn:aws:iam::123456789012:user/alice"),
            ("bin", "aGVsbG8="),
        ]);
        c.set("ip6", "2001:db8::1");
        c
    };
    // (operator, key, values, expected with key present)
    let table: &[(&str, &str, &[&str], bool)] = &[
        ("StringEquals", "s", &["Alice"], true),
        ("StringEquals", "s", &["alice"], false),
        ("StringNotEquals", "s", &["Bob", "Carol"], true),
        ("StringNotEquals", "s", &["Bob", "Alice"], false),
        ("StringEqualsIgnoreCase", "s", &["ALICE"], true),
        ("StringNotEqualsIgnoreCase", "s", &["ALICE"], false),
        ("StringLike", "s", &["A*e"], true),
        ("StringLike", "s", &["A?ice"], true),
        ("StringNotLike", "s", &["B*"], true),
        ("NumericEquals", "n", &["10"], true),
        ("NumericNotEquals", "n", &["10"], false),
        ("NumericLessThan", "n", &["11"], true),
        ("NumericLessThanEquals", "n", &["10"], true),
        ("NumericGreaterThan", "n", &["10"], false),
        ("NumericGreaterThanEquals", "n", &["9.5"], true),
        ("NumericEquals", "n", &["ten"], false),
        ("DateEquals", "d", &["2024-01-02T03:04:05+00:00"], true),
        ("DateNotEquals", "d", &["2024-01-02T03:04:06Z"], true),
        ("DateLessThan", "d", &["2025-01-01"], true),
        ("DateLessThanEquals", "d", &["1704164645"], true),
        ("DateGreaterThan", "d", &["2024-01-01T00:00:00Z"], true),
        ("DateGreaterThanEquals", "d", &["2030-01-01T00:00:00Z"], false),
        ("Bool", "b", &["true"], true),
        ("Bool", "b", &["false"], false),
        ("BinaryEquals", "bin", &["aGVsbG8="], true),
        ("IpAddress", "ip", &["10.0.0.0/8"], true),
        ("IpAddress", "ip", &["192.168.0.0/16"], false),
        ("NotIpAddress", "ip", &["192.168.0.0/16"], true),
        ("IpAddress", "ip6", &["2001:db8::/32"], true),
        ("ArnEquals", "arn", &["arn:aws:iam::123456789012:user/alice"], true),
        ("ArnLike", "arn", &["arn:aws:iam::*:user/*"], true),
        ("ArnNotEquals", "arn", &["arn:aws:iam::123456789012:user/bob"], true),
        ("ArnNotLike", "arn", &["arn:aws:iam::*:user/a*"], false),
        ("Null", "s", &["false"], true),
        ("Null", "missing", &["true"], true),
        ("Null", "s", &["true"], false),
    ];
    for (op, key, values, want) in table {
        assert_eq!(cond(op, key, values, &c), *want, "{op} {key} {values:?}");
        if *op != "Null" {
            // IfExists behaves the same when the key is present
            assert_eq!(cond(&format!("{op}IfExists"), key, values, &c), *want, "{op}IfExists present");
            // missing key: positive → false, negated → true, IfExists → true
            let negated = op.contains("Not");
            assert_eq!(cond(op, "absent", values, &c), negated, "{op} missing");
            assert!(cond(&format!("{op}IfExists"), "absent", values, &c), "{op}IfExists missing");
        }
    }
}

#[test]
fn set_operators_over_multivalued_keys() {
    let mut c = Context::new();
    c.set_many("aws:TagKeys", vec!["team".into(), "cost".into()]);
    assert!(cond("ForAllValues:StringEquals", "aws:TagKeys", &["team", "cost", "env"], &c));
    assert!(!cond("ForAllValues:StringEquals", "aws:TagKeys", &["team"], &c));
    assert!(cond("ForAnyValue:StringEquals", "aws:TagKeys", &["team"], &c));
    assert!(!cond("ForAnyValue:StringEquals", "aws:TagKeys", &["env"], &c));
    // missing: ForAllValues is true, ForAnyValue false
    assert!(cond("ForAllValues:StringEquals", "aws:Nothing", &["x"], &c));
    assert!(!cond("ForAnyValue:StringEquals", "aws:Nothing", &["x"], &c));
    let op = Operator::parse("forallvalues:stringlikeifexists").unwrap();
    assert_eq!((op.kind, op.if_exists, op.set), (Kind::StringLike, true, SetOp::ForAllValues));
    assert!(Operator::parse("NullIfExists").is_none());
    assert!(Operator::parse("StringSortOf").is_none());
}

#[test]
fn policy_variables_defaults_escapes_and_version() {
    let c = ctx(&[("aws:username", "bob")]);
    assert_eq!(condition::substitute("arn:aws:iam::*:user/${aws:username}", Version::V2012, &c).unwrap(), "arn:aws:iam::*:user/bob");
    assert_eq!(condition::substitute("${aws:userid, 'none'}/${*}${?}${$}", Version::V2012, &c).unwrap(), "none/*?$");
    assert_eq!(condition::substitute("x/${aws:userid}", Version::V2012, &c), None);
    assert_eq!(condition::substitute("x/${aws:username}", Version::V2008, &c).unwrap(), "x/${aws:username}");
}

#[test]
fn resource_and_action_matching() {
    assert!(resource_matches("arn:aws:iam::*:user/*", "arn:aws:iam::123456789012:user/path/bob"));
    assert!(resource_matches("arn:aws:iam::*:mfa/*", "arn:aws:iam::123456789012:mfa/bob-phone"));
    assert!(!resource_matches("arn:aws:iam::*:user/bob", "arn:aws:iam::123456789012:user/bobby"));
    assert!(!resource_matches("arn:aws:iam::1*:user/bob", "arn:aws:iam::223456789012:user/bob"));
    assert!(matching::action_matches("iam:*MFA*", "iam:ListMFADevices"));
    assert!(matching::action_matches("IAM:listusers", "iam:ListUsers"));
    assert!(!matching::action_matches("iam:List*", "iam:GetUser"));
    assert!(glob("a*b*c", "aXXbYYc", false) && !glob("a*b*c", "aXXbYY", false));
}

/// AWS's "self-manage an MFA device" policy (spec 6.5 A).
const POLICY_A: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "AllowListActions", "Effect": "Allow", "Action": ["iam:ListUsers", "iam:ListVirtualMFADevices"], "Resource": "*"},
    {"Sid": "AllowUserToCreateVirtualMFADevice", "Effect": "Allow", "Action": ["iam:CreateVirtualMFADevice"], "Resource": "arn:aws:iam::*:mfa/*"},
    {"Sid": "AllowUserToManageTheirOwnMFA", "Effect": "Allow", "Action": ["iam:EnableMFADevice", "iam:GetMFADevice", "iam:ListMFADevices", "iam:ResyncMFADevice"], "Resource": "arn:aws:iam::*:user/${aws:username}"},
    {"Sid": "AllowUserToDeactivateTheirOwnMFAOnlyWhenUsingMFA", "Effect": "Allow", "Action": ["iam:DeactivateMFADevice"], "Resource": ["arn:aws:iam::*:user/${aws:username}"], "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
    {"Sid": "BlockMostAccessUnlessSignedInWithMFA", "Effect": "Deny", "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:ListMFADevices", "iam:ListUsers", "iam:ListVirtualMFADevices", "iam:ResyncMFADevice"], "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}
  ]
}"#;

#[test]
fn spec_policy_a_matrix() {
    let p = parse(POLICY_A, DocKind::Identity).unwrap();
    let bob = "arn:aws:iam::123456789012:user/bob";
    let alice = "arn:aws:iam::123456789012:user/alice";
    let run = |action: &str, resource: &str, mfa: Option<bool>| {
        let mut c = ctx(&[("aws:username", "bob")]);
        if let Some(m) = mfa {
            c.set("aws:MultiFactorAuthPresent", m.to_string());
        }
        evaluate(&[&p], &Request { action, resource, context: &c, principal_arn: None, principal_account: None }).0
    };
    use Decision::*;
    // long-term keys: the key is absent
    assert_eq!(run("iam:CreateVirtualMFADevice", "arn:aws:iam::123456789012:mfa/bob-phone", None), Allow);
    assert_eq!(run("iam:EnableMFADevice", bob, None), Allow);
    assert_eq!(run("iam:ResyncMFADevice", bob, None), Allow);
    assert_eq!(run("iam:ListMFADevices", bob, None), Allow);
    assert_eq!(run("iam:ListUsers", "arn:aws:iam::123456789012:user/", None), Allow);
    assert_eq!(run("iam:ListVirtualMFADevices", "*", None), Allow);
    assert_eq!(run("iam:EnableMFADevice", alice, None), ImplicitDeny);
    assert_eq!(run("iam:DeactivateMFADevice", bob, None), ExplicitDeny);
    assert_eq!(run("iam:GetMFADevice", bob, None), ExplicitDeny);
    assert_eq!(run("iam:CreateUser", alice, None), ExplicitDeny);
    // with MFA
    assert_eq!(run("iam:DeactivateMFADevice", bob, Some(true)), Allow);
    assert_eq!(run("iam:GetMFADevice", bob, Some(true)), Allow);
    assert_eq!(run("iam:CreateUser", alice, Some(true)), ImplicitDeny);
    // sessions without MFA
    assert_eq!(run("iam:DeactivateMFADevice", bob, Some(false)), ExplicitDeny);
    let (_, matched) = evaluate(
        &[&p],
        &Request { action: "iam:DeactivateMFADevice", resource: bob, context: &ctx(&[("aws:username", "bob")]), principal_arn: None, principal_account: None },
    );
    assert_eq!(matched.iter().map(|m| m.statement).collect::<Vec<_>>(), vec![4]);
}

#[test]
fn trust_policy_principals_and_mfa() {
    let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}}"#;
    let p = parse(doc, DocKind::Trust).unwrap();
    let with = ctx(&[("aws:MultiFactorAuthPresent", "true")]);
    let req = |c: &Context, arn: &'static str, acct: &'static str| {
        evaluate(
            &[&p],
            &Request {
                action: "sts:AssumeRole",
                resource: "arn:aws:iam::123456789012:role/admin",
                context: c,
                principal_arn: Some(arn),
                principal_account: Some(acct),
            },
        )
        .0
    };
    assert_eq!(req(&with, "arn:aws:iam::123456789012:user/bob", "123456789012"), Decision::Allow);
    assert_eq!(req(&Context::new(), "arn:aws:iam::123456789012:user/bob", "123456789012"), Decision::ImplicitDeny);
    assert_eq!(req(&with, "arn:aws:iam::999999999999:user/eve", "999999999999"), Decision::ImplicitDeny);
    assert!(parse(doc, DocKind::Identity).unwrap_err().0.contains("should not specify a principal"));
}

#[test]
fn malformed_documents_get_iams_words_in_iams_order() {
    const S: &str = "Syntax errors in policy.";
    const L: &str = "The policy failed legacy parsing";
    let doc = |st: &str| format!(r#"{{"Version":"2012-10-17","Statement":{st}}}"#);
    let cases: Vec<(String, &str)> = vec![
        ("[1, 2]".into(), S),
        (r#"{"Version":"2012-10-17"}"#.into(), S),
        (r#"{"Version":"2001-01-01","Statement":{"Effect":"Allow","Action":"iam:*","Resource":"*"}}"#.into(), S),
        (doc(r#"{"Effect":"Maybe","Action":"iam:*","Resource":"*"}"#), S),
        (doc(r#"{"Effect":"Allow","Action":"iam:*","Resource":"*","Colour":"red"}"#), S),
        (doc(r#"{"Effect":"Allow","Action":{"a":1},"Resource":"*"}"#), S),
        (doc(r#"{"Effect":"Allow","Action":"iam:*","Resource":"*","Condition":{"StringSortOf":{"aws:x":"y"}}}"#), S),
        // lower-case Effect is syntax enough, but not legacy enough; a date that is no date neither
        (doc(r#"{"Effect":"allow","Action":"iam:*","Resource":"*"}"#), L),
        (doc(r#"{"Effect":"Allow","Action":"iam:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2020-13-01"}}}"#), L),
        (doc(r#"{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:s3::bucket"}"#), L),
        (
            doc(r#"[{"Sid":"a","Effect":"Allow","Action":"iam:*","Resource":"*"},{"Sid":"a","Effect":"Deny","Action":"iam:*","Resource":"*"}]"#),
            "Statement IDs (SID) in a single policy must be unique.",
        ),
        (doc(r#"{"Effect":"Allow","Resource":"*"}"#), "Policy statement must contain actions."),
        (doc(r#"{"Effect":"Allow","Action":"ListUsers","Resource":"user/bob"}"#), "Resource user/bob must be in ARN format or \"*\"."),
        (
            doc(r#"{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws-moon:iam:::user/bob"}"#),
            "Partition \"aws-moon\" is not valid for resource \"arn:aws-moon:iam:::user/bob\".",
        ),
        (
            doc(r#"{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam:eu-west-1:123456789012:user/bob"}"#),
            "IAM resource arn:aws:iam:eu-west-1:123456789012:user/bob cannot contain region information.",
        ),
        (doc(r#"{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::123456789012:bucket/x"}"#), "IAM resource path must either be"),
        (doc(r#"{"Effect":"Allow","Action":"ListUsers","Resource":"*"}"#), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        (doc(r#"{"Effect":"Allow","Action":"iam:List:Users","Resource":"*"}"#), "Actions/Condition can contain only one colon."),
        (doc(r#"{"Effect":"Allow","Action":"i am:ListUsers","Resource":"*"}"#), "Vendor i am is not valid"),
        (doc(r#"{"Effect":"Allow","Action":"iam:*"}"#), "Policy statement must contain resources."),
    ];
    for (d, want) in &cases {
        let e = parse(d, DocKind::Identity).unwrap_err();
        assert!(e.0.starts_with(want), "{d}: {e}");
    }
    // A managed policy must say 2012-10-17; an inline one may leave the version out.
    let old = r#"{"Statement":{"Effect":"Allow","Action":"iam:*","Resource":"*"}}"#;
    assert_eq!(parse(old, DocKind::Managed).unwrap_err().0, "Policy document must be version 2012-10-17 or greater.");
    assert!(parse(old, DocKind::Identity).is_ok());
    // What IAM takes that a stricter reading would not: a condition key without a vendor, an
    // unknown operator with an empty block, a dot in a vendor, numbers and booleans as values.
    for ok in [
        doc(r#"{"Effect":"Allow","Action":"s3.x:Get","Resource":"*","Condition":{"StringEquals":{"team":"a"},"Whatever":{}}}"#),
        doc(
            r#"{"Effect":"Allow","Action":"iam:*","Resource":["arn:aws:iam::123456789012:user/*", null],"Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":3600},"Bool":{"aws:SecureTransport":true}}}"#,
        ),
        doc(
            r#"{"Effect":"Allow","Action":"iam:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":["2019-07-01T13:20:15Z","2016-12-13T21:20:37.593194+00:00","2016-12-13T21:20:37-05:00","1500000000"]}}}"#,
        ),
    ] {
        parse(&ok, DocKind::Managed).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    // A document stored under earlier rules is still read for evaluation (only its syntax is checked).
    let stored = doc(r#"{"Effect":"Deny","Action":"iam:*","Resource":"arn:aws-moon:iam:::user/x"}"#);
    assert!(parse(&stored, DocKind::Identity).is_err());
    assert_eq!(parse_stored(&stored).unwrap().statements[0].effect, Effect::Deny);
}

#[test]
fn dates_in_every_accepted_form() {
    assert_eq!(date("1970-01-01T00:00:10Z"), Some(10_000));
    assert_eq!(date("10"), Some(10_000));
    assert_eq!(date("1970-01-02"), Some(86_400_000));
    assert_eq!(date("yesterday"), None);
}

#[test]
fn quota_size_ignores_whitespace() {
    assert_eq!(quota_size("{ \"a\" :\n 1 }"), 7);
}

/// A small deterministic fuzz: random byte strings and mutated valid documents never panic the
/// parser or the evaluator.
#[test]
fn parser_and_evaluator_never_panic_on_mutations() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let base = POLICY_A.as_bytes().to_vec();
    let c = ctx(&[("aws:username", "bob")]);
    for _ in 0..3000 {
        let mut doc = base.clone();
        for _ in 0..(next() % 8 + 1) {
            let i = (next() as usize) % doc.len();
            match next() % 3 {
                0 => doc[i] = (next() % 128) as u8,
                1 => {
                    doc.remove(i);
                }
                _ => doc.insert(i, b"{}[]\",:*$"[(next() % 9) as usize]),
            }
        }
        if let Ok(text) = std::str::from_utf8(&doc) {
            if let Ok(p) = parse(text, DocKind::Identity) {
                let _ = evaluate(&[&p], &Request { action: "iam:ListUsers", resource: "*", context: &c, principal_arn: None, principal_account: None });
            }
        }
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Any text is either parsed or refused with a message; never a panic.
        #[test]
        fn parser_never_panics(doc in ".{0,400}") {
            let _ = parse(&doc, DocKind::Identity);
            let _ = parse(&doc, DocKind::Trust);
        }

        /// A literal pattern (no wildcards) matches exactly itself.
        #[test]
        fn literal_glob_matches_only_itself(a in "[a-zA-Z0-9:/._-]{0,40}", b in "[a-zA-Z0-9:/._-]{0,40}") {
            prop_assert!(glob(&a, &a, false));
            prop_assert_eq!(glob(&a, &b, false), a == b);
        }

        /// `prefix*` matches every extension of the prefix.
        #[test]
        fn star_matches_any_suffix(p in "[a-z:/]{0,20}", rest in "[a-zA-Z0-9:/]{0,20}") {
            let pattern = format!("{p}*");
            let text = format!("{p}{rest}");
            prop_assert!(glob(&pattern, &text, false));
        }

        /// For any action, a matching Deny beats any number of matching Allows.
        #[test]
        fn deny_always_wins(action in "(iam|sts|s3):[A-Z][a-zA-Z]{1,20}", allows in 1usize..5) {
            let mut stmts: Vec<String> = (0..allows).map(|_| r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#.to_string()).collect();
            stmts.push(format!(r#"{{"Effect":"Deny","Action":"{action}","Resource":"*"}}"#));
            let doc = format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, stmts.join(","));
            let p = parse(&doc, DocKind::Identity).unwrap();
            let c = Context::new();
            let (d, _) = evaluate(&[&p], &Request { action: &action, resource: "arn:aws:iam::1:user/x", context: &c, principal_arn: None, principal_account: None });
            prop_assert_eq!(d, Decision::ExplicitDeny);
        }

        /// Adding a statement with Effect Deny never turns a refusal into an Allow.
        #[test]
        fn a_deny_never_admits(stmts in statements(6), extra in deny_statement(), req in request()) {
            let before = decide(std::slice::from_ref(&stmts), &req);
            let mut with = stmts.clone();
            with.push(extra);
            let after = decide(&[with], &req);
            prop_assert!(before == Decision::Allow || after != Decision::Allow, "{before:?} -> {after:?}");
            prop_assert!(!(before == Decision::ExplicitDeny && after != Decision::ExplicitDeny));
        }

        /// A Deny that matches the request refuses, whatever else the policies say.
        #[test]
        fn a_matching_deny_refuses(policies in prop::collection::vec(statements(5), 1..4), req in request()) {
            let mut policies = policies;
            policies[0].push(format!(r#"{{"Effect":"Deny","Action":"{}","Resource":"{}"}}"#, req.0, req.1));
            prop_assert_eq!(decide(&policies, &req), Decision::ExplicitDeny);
        }

        /// The order of statements and of policies never changes a decision.
        #[test]
        fn order_never_matters(policies in prop::collection::vec(statements(5), 1..4), req in request(), seed in any::<u64>()) {
            let d = decide(&policies, &req);
            let mut shuffled = policies.clone();
            shuffle(&mut shuffled, seed);
            for p in shuffled.iter_mut() {
                shuffle(p, seed ^ 0x9e37_79b9);
            }
            prop_assert_eq!(decide(&shuffled, &req), d);
            // One policy holding every statement decides the same as the statements spread out.
            let merged: Vec<String> = policies.concat();
            prop_assert_eq!(decide(&[merged], &req), d);
        }

        /// An Allow of the action on exactly the canonical ARN admits when nothing denies.
        #[test]
        fn a_matching_allow_without_deny_admits(allows in prop::collection::vec(allow_statement(), 0..6), req in request()) {
            let mut p = allows;
            p.push(format!(r#"{{"Effect":"Allow","Action":"{}","Resource":"{}"}}"#, req.0, req.1));
            prop_assert_eq!(decide(&[p], &req), Decision::Allow);
        }

        /// Resource matching is case-sensitive: another spelling of a name is another resource.
        #[test]
        fn resource_matching_is_case_sensitive(name in "[a-z][a-z0-9-]{0,12}") {
            let upper = name.to_ascii_uppercase();
            prop_assume!(upper != name);
            let allow = vec![format!(r#"{{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::1:user/{name}*"}}"#)];
            let req = ("iam:GetUser".to_string(), format!("arn:aws:iam::1:user/{upper}"), 0u8);
            prop_assert_eq!(decide(&[allow], &req), Decision::ImplicitDeny);
        }
    }

    const ACTIONS: &[&str] = &["iam:GetUser", "iam:CreateAccessKey", "iam:AddUserToGroup", "sts:AssumeRole"];
    const RESOURCES: &[&str] =
        &["arn:aws:iam::1:user/team/Target", "arn:aws:iam::1:user/target", "arn:aws:iam::1:group/ops/Admins", "arn:aws:iam::1:role/ops/break"];
    const ACTION_PATTERNS: &[&str] = &["*", "iam:*", "iam:Get*", "iam:GetUser", "iam:CreateAccessKey", "iam:AddUserToGroup", "sts:AssumeRole", "iam:get*"];
    const RESOURCE_PATTERNS: &[&str] = &[
        "*",
        "arn:aws:iam::1:user/*",
        "arn:aws:iam::1:user/team/Target",
        "arn:aws:iam::1:user/team/target",
        "arn:aws:iam::*:group/Admins",
        "arn:aws:iam::*:group/ops/*",
        "arn:aws:iam::1:role/ops/*",
        "arn:aws:iam::1:user/target",
    ];
    const CONDITIONS: &[&str] = &[
        "",
        r#","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#,
        r#","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}"#,
        r#","Condition":{"Null":{"aws:MultiFactorAuthAge":"true"}}"#,
    ];

    /// (action, resource, MFA state: 0 absent, 1 true, 2 false)
    type Req = (String, String, u8);

    fn request() -> impl Strategy<Value = Req> {
        (prop::sample::select(ACTIONS), prop::sample::select(RESOURCES), 0u8..3).prop_map(|(a, r, m)| (a.to_string(), r.to_string(), m))
    }

    fn statement(effect: &'static [&'static str]) -> impl Strategy<Value = String> {
        (
            prop::sample::select(effect),
            any::<bool>(),
            prop::sample::select(ACTION_PATTERNS),
            any::<bool>(),
            prop::sample::select(RESOURCE_PATTERNS),
            prop::sample::select(CONDITIONS),
        )
            .prop_map(|(e, not_action, a, not_resource, r, c)| {
                let ak = if not_action { "NotAction" } else { "Action" };
                let rk = if not_resource { "NotResource" } else { "Resource" };
                format!(r#"{{"Effect":"{e}","{ak}":"{a}","{rk}":"{r}"{c}}}"#)
            })
    }

    fn statements(max: usize) -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(statement(&["Allow", "Deny"]), 0..max)
    }

    fn deny_statement() -> impl Strategy<Value = String> {
        statement(&["Deny"])
    }

    fn allow_statement() -> impl Strategy<Value = String> {
        statement(&["Allow"])
    }

    fn shuffle<T>(v: &mut [T], seed: u64) {
        let mut x = seed | 1;
        for i in (1..v.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.swap(i, (x % (i as u64 + 1)) as usize);
        }
    }

    /// Each inner list is one policy's statements (a policy with none gets a harmless one).
    fn decide(policies: &[Vec<String>], req: &Req) -> Decision {
        let parsed: Vec<Policy> = policies
            .iter()
            .map(|stmts| {
                let body = if stmts.is_empty() { r#"{"Effect":"Allow","Action":"none:None","Resource":"*"}"#.to_string() } else { stmts.join(",") };
                parse(&format!(r#"{{"Version":"2012-10-17","Statement":[{body}]}}"#), DocKind::Identity).expect("generated policies parse")
            })
            .collect();
        let refs: Vec<&Policy> = parsed.iter().collect();
        let mut c = Context::new();
        match req.2 {
            1 => {
                c.set("aws:MultiFactorAuthPresent", "true");
                c.set("aws:MultiFactorAuthAge", "30");
            }
            2 => {
                c.set("aws:MultiFactorAuthPresent", "false");
            }
            _ => {}
        }
        evaluate(&refs, &Request { action: &req.0, resource: &req.1, context: &c, principal_arn: None, principal_account: None }).0
    }
}
