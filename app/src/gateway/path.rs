//! One spelling per path: the gateway rewrites a request's path to its canonical form before any
//! edge rule (rate limits, the internal-route refusal, the token pre-check, routing, proxying)
//! looks at it.
//!
//! Without this, each layer would read the path its own way: the rules compared the raw path,
//! actix's router matches the percent-decoded one, and the proxy's HTTP client resolves `..`
//! segments after the checks. `/notifications/%73end`, `/notifications//send` or
//! `/tasks/%2e%2e/notifications/send` then slipped past the rules that the plain spelling meets.
//! The canonical form follows RFC 3986 section 6.2.2: percent-encoded unreserved characters are
//! decoded (and the remaining escapes upper-cased), dot segments are removed (section 5.2.4),
//! and runs of `/` are merged. A raw `\` counts as `/`, as it does for browsers and for the
//! proxy's URL parser (the WHATWG URL standard), so the upstream never sees a path the rules did
//! not. Reserved characters stay encoded, so `%2F` never becomes a segment boundary.

/// The canonical spelling of the path `raw` (without its query), or `None` when `raw` is
/// already canonical.
pub fn canonical(raw: &str) -> Option<String> {
    if !raw.starts_with('/') {
        // `*` (OPTIONS) and the like: not a path any rule or route knows.
        return None;
    }
    if plain(raw) {
        return None;
    }
    rewrite(raw)
}

/// Whether `raw` (starting with `/`) is canonical on its face: no `%`, no `\`, no `.` or `..`
/// segment, and no empty segment but a trailing one. Nearly every request's path is, and this
/// spares it [`rewrite`]'s four allocations.
fn plain(raw: &str) -> bool {
    if raw.bytes().any(|b| b == b'%' || b == b'\\') {
        return false;
    }
    let mut segments = raw[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if matches!(segment, "." | "..") || (segment.is_empty() && !last) {
            return false;
        }
    }
    true
}

/// [`canonical`] the long way: decode, then rebuild segment by segment.
fn rewrite(raw: &str) -> Option<String> {
    let decoded = decode_unreserved(raw).replace('\\', "/");
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/').skip(1) {
        match segment {
            // Empty segments (`//`, which also covers a trailing `/`) are dropped here and the
            // trailing slash is put back below.
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing = decoded.len() > 1
        && (decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/.."));
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    (out != raw).then_some(out)
}

/// Whether `b` is an RFC 3986 unreserved character, whose percent-encoding means the same.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes of unreserved characters and upper-cases the hex digits of the others;
/// a `%` that starts no valid escape is kept as it is.
fn decode_unreserved(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (bytes[i] == b'%')
            .then(|| Some((hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?)))
            .flatten();
        match escape {
            Some((hi, lo)) => {
                let b = hi * 16 + lo;
                if unreserved(b) {
                    out.push(char::from(b));
                } else {
                    out.push('%');
                    out.push_str(&raw[i + 1..i + 3].to_ascii_uppercase());
                }
                i += 3;
            }
            None => {
                // Copy up to the next `%` in one go (keeps multi-byte characters whole).
                let next = raw[i + 1..].find('%').map_or(raw.len(), |p| i + 1 + p);
                out.push_str(&raw[i..next]);
                i = next;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths_are_left_alone() {
        for p in [
            "/",
            "/tasks",
            "/tasks/",
            "/auth/login",
            "/tasks/a%2Fb",
            "/a%20b",
            "*",
        ] {
            assert_eq!(canonical(p), None, "{p}");
        }
    }

    #[test]
    fn a_path_that_looks_canonical_is_one() {
        for p in [
            "/",
            "/tasks",
            "/tasks/",
            "/tasks/00000000-0000-7000-8000-000000000001",
            "/auth/login",
            "/a.b/..c/.d",
            "/notifications/send",
        ] {
            assert!(plain(p), "{p} takes the short way");
            assert_eq!(rewrite(p), None, "{p}");
        }
        for p in [
            "//tasks",
            "/tasks//x",
            "/tasks/.",
            "/tasks/./x",
            "/tasks/..",
            "/a%2fb",
            "/a%20b",
            "/a\\b",
        ] {
            assert!(!plain(p), "{p} takes the long way");
        }
    }

    #[test]
    fn other_spellings_become_the_canonical_one() {
        for (raw, want) in [
            ("/notifications/%73end", "/notifications/send"),
            ("/notifications//send", "/notifications/send"),
            ("//notifications/send", "/notifications/send"),
            ("/notifications/./send", "/notifications/send"),
            ("/tasks/../notifications/send", "/notifications/send"),
            ("/tasks/%2e%2e/notifications/send", "/notifications/send"),
            (
                "/tasks/%2E%2E/%2E/notifications/send",
                "/notifications/send",
            ),
            ("/auth/%6Cogin", "/auth/login"),
            ("/%61uth/login", "/auth/login"),
            ("/../../auth/login", "/auth/login"),
            ("/tasks/.", "/tasks/"),
            ("/tasks/x/..", "/tasks/"),
            ("/a%2fb", "/a%2Fb"),
            ("/%zz/%4", "/%zz/%4"),
            ("/..", "/"),
            ("/notifications\\send", "/notifications/send"),
            ("/notifications/x\\..\\send", "/notifications/send"),
            ("/tasks/a%5Cb", "/tasks/a%5Cb"),
        ] {
            let got = canonical(raw);
            let shown = got.as_deref().unwrap_or(raw);
            assert_eq!(shown, want, "{raw}");
        }
    }
}
