//! Wildcard matching for actions (case-insensitive) and resources (ARNs, field by field).

/// `*` matches any run of characters, `?` any one character.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        // The common case (ARNs, action names): bytes, no allocation.
        let eq = |a: u8, b: u8| if ignore_case { a.eq_ignore_ascii_case(&b) } else { a == b };
        return glob_units(pattern.as_bytes(), text.as_bytes(), b'*', b'?', eq);
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| if ignore_case { a.to_lowercase().eq(b.to_lowercase()) } else { a == b };
    glob_units(&p, &t, '*', '?', eq)
}

fn glob_units<T: Copy + PartialEq>(p: &[T], t: &[T], any_run: T, any_one: T, eq: impl Fn(T, T) -> bool) -> bool {
    // Iterative glob with backtracking to the last star: linear in practice, no recursion.
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == any_one || (p[pi] != any_run && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == any_run {
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
    while pi < p.len() && p[pi] == any_run {
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
