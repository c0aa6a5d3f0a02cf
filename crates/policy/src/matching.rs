//! Wildcard matching for actions (case-insensitive) and resources (ARNs, field by field).

/// `*` matches any run of characters, `?` any one character.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| if ignore_case { a.to_lowercase().eq(b.to_lowercase()) } else { a == b };
    // Iterative glob with backtracking to the last star: linear in practice, no recursion.
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// `iam:*MFA*` against `iam:ListMFADevices`: case-insensitive.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    pattern == "*" || glob(pattern, action, true)
}

/// A resource pattern against an ARN: `*` matches everything; otherwise the six ARN fields are
/// compared one by one (so a `*` in the account field cannot swallow the resource), the last field
/// with `/` spanned by `*`.
pub fn resource_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let pf: Vec<&str> = pattern.splitn(6, ':').collect();
    let af: Vec<&str> = arn.splitn(6, ':').collect();
    if pf.len() != 6 || af.len() != 6 {
        return glob(pattern, arn, false);
    }
    pf.iter().zip(af.iter()).all(|(p, a)| glob(p, a, false))
}
