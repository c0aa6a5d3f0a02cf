//! AWS Query-protocol XML: the `<OpResponse>` envelope with `<OpResult>` and `ResponseMetadata`, and
//! the `ErrorResponse` envelope. Text is escaped here and nowhere else.

use crate::error::AwsError;

pub const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
pub const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

pub fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            // What XML 1.0 cannot carry at all is never written (the edge refuses it; this is the
            // writer's own guarantee): U+FFFD in its place.
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// Builds the inside of an `<OpResult>` element.
#[derive(Default)]
pub struct Xml {
    pub buf: String,
}

impl Xml {
    pub fn new() -> Self {
        Xml { buf: String::with_capacity(256) }
    }
    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }
    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }
    pub fn text(&mut self, tag: &str, value: &str) -> &mut Self {
        self.open(tag);
        escape(value, &mut self.buf);
        self.close(tag)
    }
    pub fn opt(&mut self, tag: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.text(tag, v);
        }
        self
    }
    pub fn num(&mut self, tag: &str, n: i64) -> &mut Self {
        self.text(tag, &n.to_string())
    }
    pub fn boolean(&mut self, tag: &str, b: bool) -> &mut Self {
        self.text(tag, if b { "true" } else { "false" })
    }
    /// `<Tag><member>…</member>…</Tag>`, or `<Tag/>` when empty.
    pub fn list<T>(&mut self, tag: &str, items: &[T], mut each: impl FnMut(&mut Xml, &T)) -> &mut Self {
        if items.is_empty() {
            self.buf.push('<');
            self.buf.push_str(tag);
            self.buf.push_str("/>");
            return self;
        }
        self.open(tag);
        for it in items {
            self.open("member");
            each(self, it);
            self.close("member");
        }
        self.close(tag)
    }
    pub fn tags(&mut self, tag: &str, tags: &[(String, String)]) -> &mut Self {
        self.list(tag, tags, |x, (k, v)| {
            x.text("Key", k).text("Value", v);
        })
    }
    /// IsTruncated and, when truncated, Marker.
    pub fn paging(&mut self, next: Option<&str>) -> &mut Self {
        self.boolean("IsTruncated", next.is_some()).opt("Marker", next)
    }
}

pub fn response(op: &str, ns: &str, result: Option<&str>, request_id: &str) -> String {
    let mut s = String::with_capacity(200 + result.map_or(0, |r| r.len()));
    s.push('<');
    s.push_str(op);
    s.push_str("Response xmlns=\"");
    s.push_str(ns);
    s.push_str("\">");
    if let Some(r) = result {
        s.push('<');
        s.push_str(op);
        s.push_str("Result>");
        s.push_str(r);
        s.push_str("</");
        s.push_str(op);
        s.push_str("Result>");
    }
    s.push_str("<ResponseMetadata><RequestId>");
    s.push_str(request_id);
    s.push_str("</RequestId></ResponseMetadata></");
    s.push_str(op);
    s.push_str("Response>");
    s
}

pub fn error(e: &AwsError, ns: &str, request_id: &str) -> String {
    let mut s = format!("<ErrorResponse xmlns=\"{ns}\"><Error><Type>{}</Type><Code>{}</Code><Message>", e.fault(), e.code);
    escape(&e.message, &mut s);
    s.push_str("</Message></Error><RequestId>");
    s.push_str(request_id);
    s.push_str("</RequestId></ErrorResponse>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_result_and_request_id() {
        let mut x = Xml::new();
        x.text("UserName", "a<b&c").list("Users", &Vec::<i32>::new(), |_, _| {});
        let s = response("GetUser", IAM_NS, Some(&x.buf), "rid");
        assert_eq!(
            s,
            "<GetUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetUserResult><UserName>a&lt;b&amp;c</UserName><Users/></GetUserResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetUserResponse>"
        );
        assert!(!response("DeleteUser", IAM_NS, None, "r").contains("DeleteUserResult"));
    }

    #[test]
    fn error_envelope_names_type_code_and_message() {
        let e = AwsError::no_such_entity("The user with name bob cannot be found.");
        assert_eq!(
            error(&e, IAM_NS, "r1"),
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The user with name bob cannot be found.</Message></Error><RequestId>r1</RequestId></ErrorResponse>"
        );
        assert!(error(&AwsError::internal("x"), IAM_NS, "r").contains("<Type>Receiver</Type>"));
    }
}
