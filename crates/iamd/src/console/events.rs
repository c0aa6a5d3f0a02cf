//! Event history: the trail's events, filtered, and the sign-ins per day by MFA type.

use super::views::{self, frame, page};
use super::{can, Ctx, Req, R};
use crate::app::App;
use crate::auth::action::Action;
use crate::domain::trail;
use crate::error::AwsError;

pub(super) const CHART_KINDS: [&str; 4] = crate::audit::index::SIGN_IN_KINDS;

pub(super) const CHART_COLORS: [&str; 4] = ["#0073bb", "#1d8102", "#ec7211", "#879596"];

pub(super) fn parse_day(s: &str, end: bool) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    let t = if end { d.and_hms_opt(23, 59, 59)? } else { d.and_hms_opt(0, 0, 0)? };
    Some(t.and_utc().timestamp_millis())
}

/// A page of an account's events, through the domain (the events page has checked
/// `cloudtrail:LookupEvents` first). The console's page tokens are the API's: bound to the
/// query that made them.
pub(super) async fn lookup(app: &App, mut q: trail::LookupQuery, token: Option<&str>) -> Result<(trail::Page, Option<String>), AwsError> {
    let fingerprint = q.fingerprint();
    if let Some(t) = token {
        q.after = Some(trail::decode_token(t, &fingerprint).ok_or_else(|| AwsError::invalid_next_token("The NextToken is not valid for this query."))?);
    }
    let page = trail::lookup(&app.iam, &q).await?;
    let next = page.next.map(|c| trail::encode_token(c, &fingerprint));
    Ok((page, next))
}

pub(super) async fn events(app: &App, r: &Req, ctx: &Ctx) -> R {
    if !can(app, ctx, Action::LookupEvents, "*").await? {
        let text = "You do not have permission to look up events (cloudtrail:LookupEvents).";
        return Ok(page(&views::Message { frame: frame(ctx, "Event history", false), text, error: None }));
    }
    let now = app.iam.clock.now_ms();
    let (user, name) = (r.query("user").trim(), r.query("event").trim());
    let start = parse_day(r.query("start"), false).unwrap_or(now - 13 * 86_400_000 - now.rem_euclid(86_400_000));
    let end = parse_day(r.query("end"), true).unwrap_or(now).max(start);
    // CloudTrail looks up one attribute at a time: the user name, else the event name (the other is
    // then filtered here).
    let attribute = if !user.is_empty() {
        Some((trail::Attribute::Username, user.to_string()))
    } else if !name.is_empty() {
        Some((trail::Attribute::EventName, name.to_string()))
    } else {
        None
    };
    let q = trail::LookupQuery { account: ctx.account().to_string(), attribute, start_ms: Some(start), end_ms: Some(end), max: 50, after: None };
    let next = r.query("next");
    let (found, next_token) = match lookup(app, q, (!next.is_empty()).then_some(next)).await {
        Ok(p) => p,
        Err(e) if e.status < 500 => {
            return Ok(page(&views::Message { frame: frame(ctx, "Event history", false), text: "", error: Some(&e.message) }));
        }
        Err(e) => return Err(e),
    };
    let mut rows = Vec::with_capacity(found.events.len());
    for e in &found.events {
        let rec: serde_json::Value = serde_json::from_str(&e.record).unwrap_or_default();
        let ev_name = rec["eventName"].as_str().unwrap_or("");
        if !user.is_empty() && !name.is_empty() && ev_name != name {
            continue;
        }
        let who =
            rec["userIdentity"]["userName"].as_str().map(str::to_string).unwrap_or_else(|| rec["userIdentity"]["type"].as_str().unwrap_or("").to_string());
        let device = rec["additionalEventData"]["MFAIdentifier"].as_str().or(rec["requestParameters"]["serialNumber"].as_str()).unwrap_or("");
        let outcome = rec["errorMessage"].as_str().or(rec["errorCode"].as_str()).unwrap_or("Success");
        rows.push(views::EventRow {
            time: rec["eventTime"].as_str().unwrap_or("").to_string(),
            name: ev_name.to_string(),
            who,
            ip: rec["sourceIPAddress"].as_str().unwrap_or("").to_string(),
            device: device.to_string(),
            outcome: outcome.to_string(),
        });
    }
    let older =
        next_token.as_deref().map(|t| wire::encode([("user", user), ("event", name), ("start", r.query("start")), ("end", r.query("end")), ("next", t)]));
    let chart = sign_in_chart(app, ctx, start, end, user).await?;
    let day = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default();
    Ok(page(&views::Events { frame: frame(ctx, "Event history", false), user, event: name, start: day(start), end: day(end), chart, rows, older }))
}

/// A stacked bar per day: successful console sign-ins, by the type of MFA device used.
pub(super) async fn sign_in_chart(app: &App, ctx: &Ctx, start: i64, end: i64, user: &str) -> Result<views::Chart, AwsError> {
    let day0 = start.div_euclid(86_400_000);
    let days = (end.div_euclid(86_400_000) - day0 + 1).clamp(1, 62) as usize;
    let mut counts = vec![[0u32; 4]; days];
    // Successful sign-ins, from the counters kept as they are recorded (not a walk over the trail).
    for (day, kind, n) in trail::sign_ins_per_day(&app.iam, ctx.account(), user, day0, day0 + days as i64 - 1).await? {
        let (d, k) = ((day - day0) as usize, kind as usize);
        if d < days && k < CHART_KINDS.len() {
            counts[d][k] += n as u32;
        }
    }
    let max = counts.iter().map(|c| c.iter().sum::<u32>()).max().unwrap_or(0).max(1);
    let (w, h, pad) = (640.0f64, 200.0f64, 24.0f64);
    let bar = (w - pad) / days as f64;
    let (mut bars, mut labels) = (Vec::new(), Vec::new());
    for (i, c) in counts.iter().enumerate() {
        let mut y = h;
        let x = pad + i as f64 * bar;
        for (k, n) in c.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let bh = (*n as f64 / max as f64) * (h - 10.0);
            y -= bh;
            bars.push(views::Bar {
                x: format!("{:.1}", x + 1.0),
                y: format!("{y:.1}"),
                width: format!("{:.1}", (bar - 2.0).max(1.0)),
                height: format!("{bh:.1}"),
                color: CHART_COLORS[k],
                title: format!("{}: {} {}", day_label(day0 + i as i64), n, CHART_KINDS[k]),
            });
        }
        if days <= 16 || i % (days / 8).max(1) == 0 {
            labels.push(views::Label { x: format!("{:.1}", x + 1.0), y: h + 14.0, text: day_label(day0 + i as i64)[5..].to_string() });
        }
    }
    let total: u32 = counts.iter().map(|c| c.iter().sum::<u32>()).sum();
    let legend = CHART_KINDS.iter().enumerate().map(|(k, name)| (k, *name, counts.iter().map(|c| c[k]).sum())).collect();
    Ok(views::Chart { width: w, height: h, view_height: h + 30.0, pad, max, bars, labels, legend, total })
}

pub(super) fn day_label(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day * 86_400_000).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}
