//! Request targets to tree paths, and the escaping of names in links and HTML.

/// A request target reduced to path components inside the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetPath {
    /// Decoded, normalised components (no empty, `.` or `..` ones).
    pub comps: Vec<Vec<u8>>,
    /// The target names a directory form (ends with `/`, `/.` or `/..`).
    pub trailing_slash: bool,
}

/// Why a target was refused (all give 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetError {
    /// Neither origin-form nor an http(s) absolute-form.
    Form,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// A NUL byte, raw or encoded.
    Nul,
    /// A `..` above the root.
    Escape,
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// Decodes `%XX` escapes (no `+` for space: that is a query-string convention).
pub fn pct_decode(s: &[u8]) -> Result<Vec<u8>, TargetError> {
    gitfs_format::pct::decode(s).ok_or(TargetError::BadEscape)
}

/// Parses a request target: origin-form or an http(s) absolute-form (whose authority is
/// ignored). The path is decoded first, then normalised, so `%2e%2e` and `%2F` get no
/// special treatment: a `..` above the root is refused.
pub fn parse_target(target: &[u8]) -> Result<TargetPath, TargetError> {
    let path = if target.first() == Some(&b'/') {
        target
    } else if let Some(rest) =
        strip_prefix_ci(target, b"http://").or_else(|| strip_prefix_ci(target, b"https://"))
    {
        match rest.iter().position(|&b| matches!(b, b'/' | b'?' | b'#')) {
            Some(i) if rest[i] == b'/' => &rest[i..],
            _ => b"/",
        }
    } else {
        return Err(TargetError::Form);
    };
    let end = path
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(path.len());
    let decoded = pct_decode(&path[..end])?;
    if decoded.contains(&0) {
        return Err(TargetError::Nul);
    }
    let mut comps: Vec<Vec<u8>> = Vec::new();
    let mut trailing_slash = false;
    for seg in decoded.split(|&b| b == b'/') {
        trailing_slash = matches!(seg, b"" | b"." | b"..");
        match seg {
            b"" | b"." => {}
            b".." => {
                comps.pop().ok_or(TargetError::Escape)?;
            }
            name => comps.push(name.to_vec()),
        }
    }
    Ok(TargetPath {
        comps,
        trailing_slash,
    })
}

/// Joins components with `/` (the form [`crate::Content`] takes).
pub fn join(comps: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(c);
    }
    out
}

/// Percent-encodes one path component: only RFC 3986 unreserved bytes stay as they are.
pub fn pct_encode(name: &[u8], out: &mut String) {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    gitfs_format::pct::encode(name, unreserved, out);
}

/// `/a/b` for components, each percent-encoded.
pub fn encode_path(comps: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for c in comps {
        s.push('/');
        pct_encode(c, &mut s);
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// Names are bytes: shown as lossy UTF-8, HTML-escaped.
pub fn html_escape(name: &[u8], out: &mut String) {
    for ch in String::from_utf8_lossy(name).chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(t: &str) -> Result<(Vec<String>, bool), TargetError> {
        parse_target(t.as_bytes()).map(|p| {
            (
                p.comps
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect(),
                p.trailing_slash,
            )
        })
    }

    fn ok(t: &str, want: &[&str], slash: bool) {
        let w: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(comps(t), Ok((w, slash)), "{t}");
    }

    #[test]
    fn origin_and_absolute_forms() {
        ok("/", &[], true);
        ok("/a/b.txt", &["a", "b.txt"], false);
        ok("/a/b/?x=1#f", &["a", "b"], true);
        ok("http://example.com/a/b", &["a", "b"], false);
        ok("HTTPS://example.com", &[], true);
        ok("http://h?q", &[], true);
        assert_eq!(comps("http://evil/../etc/passwd"), Err(TargetError::Escape));
    }

    #[test]
    fn decoding_then_normalising() {
        ok("/a%20b/c%2Fd", &["a b", "c", "d"], false);
        ok("/a/./b//c", &["a", "b", "c"], false);
        ok("/a/b/..", &["a"], true);
        ok("/a/%2e%2E/b", &["b"], false);
        ok("/%C3%A9", &["\u{e9}"], false);
        assert_eq!(comps("/.."), Err(TargetError::Escape));
        assert_eq!(comps("/a/../../b"), Err(TargetError::Escape));
        assert_eq!(comps("/%2e%2e/x"), Err(TargetError::Escape));
        assert_eq!(comps("/a%2F..%2F..%2Fb"), Err(TargetError::Escape));
        assert_eq!(comps("/a%00b"), Err(TargetError::Nul));
        assert_eq!(comps("/a%4"), Err(TargetError::BadEscape));
        assert_eq!(comps("/a%zz"), Err(TargetError::BadEscape));
        assert_eq!(comps("a/b"), Err(TargetError::Form));
        assert_eq!(comps("*"), Err(TargetError::Form));
        assert_eq!(comps("ftp://h/a"), Err(TargetError::Form));
    }

    #[test]
    fn encoding() {
        let mut s = String::new();
        pct_encode(b"a b/%\xff.txt", &mut s);
        assert_eq!(s, "a%20b%2F%25%FF.txt");
        assert_eq!(encode_path(&[b"x y".to_vec(), b"z".to_vec()]), "/x%20y/z");
        let mut h = String::new();
        html_escape(b"<a href=\"x\">&'", &mut h);
        assert_eq!(h, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
