//! A `multipart/form-data` reader (RFC 7578) for bodies already read whole into memory (the
//! upload limit bounds them): flat parts only, no nested multiparts. Part bodies are slices
//! of the request body, not copies.

use bytes::Bytes;

/// The most parts one form may have.
const MAX_PARTS: usize = 32;

/// The largest header block of one part.
const MAX_PART_HEADERS: usize = 8 * 1024;

/// Why a body is not a usable `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// The `Content-Type` is not `multipart/form-data` with a boundary.
    #[error("Content-Type must be multipart/form-data with a boundary")]
    NotMultipart,
    /// The body does not follow the multipart syntax.
    #[error("malformed multipart body: {0}")]
    Malformed(&'static str),
}

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The form field name (`Content-Disposition: form-data; name=…`).
    pub name: String,
    /// The client's file name, for file fields.
    pub filename: Option<String>,
    /// The part's own `Content-Type`, if it sent one.
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    let mut pieces = split_params(content_type).into_iter();
    let mime = pieces.next().unwrap_or_default();
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return Err(MultipartError::NotMultipart);
    }
    let boundary = pieces
        .filter_map(|p| param(&p))
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v)
        .ok_or(MultipartError::NotMultipart)?;
    // RFC 2046: 1 to 70 characters.
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(MultipartError::NotMultipart);
    }
    Ok(boundary)
}

/// Splits a whole body into its parts.
pub fn parse(boundary: &str, body: &Bytes) -> Result<Vec<Part>, MultipartError> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut next_delimiter = Vec::with_capacity(delimiter.len() + 2);
    next_delimiter.extend_from_slice(b"\r\n");
    next_delimiter.extend_from_slice(&delimiter);

    // The first delimiter starts the body or follows a preamble and a CRLF.
    let mut pos = if body.starts_with(&delimiter) {
        delimiter.len()
    } else {
        find(body, &next_delimiter, 0).ok_or(MultipartError::Malformed("no opening boundary"))?
            + next_delimiter.len()
    };
    let mut parts = Vec::new();
    loop {
        // After a delimiter: `--` closes the body; otherwise optional padding and a CRLF.
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        while matches!(body.get(pos), Some(b' ' | b'\t')) {
            pos += 1;
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err(MultipartError::Malformed(
                "a boundary line is not followed by CRLF",
            ));
        }
        pos += 2;
        if parts.len() == MAX_PARTS {
            return Err(MultipartError::Malformed("too many parts"));
        }
        // Every form-data part names its field in a header, so a part has headers.
        if body[pos..].starts_with(b"\r\n") {
            return Err(MultipartError::Malformed("a part has no headers"));
        }
        let head_end = find(body, b"\r\n\r\n", pos)
            .ok_or(MultipartError::Malformed("unterminated part headers"))?;
        if head_end - pos > MAX_PART_HEADERS {
            return Err(MultipartError::Malformed("part headers are too large"));
        }
        let body_start = head_end + 4;
        let end = find(body, &next_delimiter, body_start)
            .ok_or(MultipartError::Malformed("no closing boundary"))?;
        parts.push(part(&body[pos..head_end], body.slice(body_start..end))?);
        pos = end + next_delimiter.len();
    }
}

/// Builds a part from its header block.
fn part(head: &[u8], body: Bytes) -> Result<Part, MultipartError> {
    let head = std::str::from_utf8(head)
        .map_err(|_| MultipartError::Malformed("part headers are not UTF-8"))?;
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let (key, value) = line
            .split_once(':')
            .ok_or(MultipartError::Malformed("a part header line has no colon"))?;
        let key = key.trim();
        if key.eq_ignore_ascii_case("content-disposition") {
            let mut pieces = split_params(value).into_iter();
            let kind = pieces.next().unwrap_or_default();
            if !kind.trim().eq_ignore_ascii_case("form-data") {
                return Err(MultipartError::Malformed(
                    "a part's Content-Disposition is not form-data",
                ));
            }
            for (k, v) in pieces.filter_map(|p| param(&p)) {
                if k.eq_ignore_ascii_case("name") {
                    name = Some(v);
                } else if k.eq_ignore_ascii_case("filename") {
                    filename = Some(v);
                }
            }
        } else if key.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_owned());
        }
    }
    let name = name.ok_or(MultipartError::Malformed("a part has no field name"))?;
    Ok(Part {
        name,
        filename,
        content_type,
        body,
    })
}

/// Splits a header value at the `;` that are outside quoted strings.
fn split_params(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// `key=value` or `key="quoted value"` (backslash escapes removed).
fn param(piece: &str) -> Option<(String, String)> {
    let (k, v) = piece.split_once('=')?;
    let v = v.trim();
    let value = match v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_owned(),
    };
    Some((k.trim().to_owned(), value))
}

/// The first index at or after `from` where `needle` occurs.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut i = from;
    while i + needle.len() <= haystack.len() {
        let offset = haystack[i..=haystack.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?;
        i += offset;
        if haystack[i + 1..i + needle.len()] == *rest {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &[u8]) -> Bytes {
        Bytes::copy_from_slice(s)
    }

    #[test]
    fn boundaries_are_read_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").unwrap(),
            "abc"
        );
        assert_eq!(
            boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a;b c\"").unwrap(),
            "a;b c"
        );
        assert_eq!(
            boundary("application/json"),
            Err(MultipartError::NotMultipart)
        );
        assert_eq!(
            boundary("multipart/form-data"),
            Err(MultipartError::NotMultipart)
        );
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={}", "x".repeat(71))),
            Err(MultipartError::NotMultipart)
        );
    }

    #[test]
    fn parts_are_split_with_their_headers() {
        let raw = b"preamble\r\n--XX\r\n\
            Content-Disposition: form-data; name=\"purpose\"\r\n\r\n\
            voice_clone\r\n\
            --XX\r\n\
            content-disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".wav\"\r\n\
            Content-Type: audio/wav\r\n\r\n\
            RIFF\r\n--X not yet\r\n\
            --XX--\r\nepilogue";
        let parts = parse("XX", &body(raw)).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "purpose");
        assert_eq!(parts[0].filename, None);
        assert_eq!(&parts[0].body[..], b"voice_clone");
        assert_eq!(parts[1].name, "file");
        assert_eq!(parts[1].filename.as_deref(), Some("a \"b\".wav"));
        assert_eq!(parts[1].content_type.as_deref(), Some("audio/wav"));
        assert_eq!(&parts[1].body[..], b"RIFF\r\n--X not yet");
    }

    #[test]
    fn empty_forms_and_empty_parts() {
        assert!(parse("XX", &body(b"--XX--\r\n")).unwrap().is_empty());
        let raw = b"--XX\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n--XX--";
        let parts = parse("XX", &body(raw)).unwrap();
        assert_eq!(parts.len(), 1);
        assert!(parts[0].body.is_empty());
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for raw in [
            &b""[..],
            b"no boundary here",
            b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue without end",
            b"--XX\r\nContent-Disposition: form-data; name=\"a\"",
            b"--XX\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--XX--",
            b"--XX\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XX--",
            b"--XXgarbage\r\n",
            b"--XX\r\n\r\nheaderless\r\n--XX--",
        ] {
            assert!(parse("XX", &body(raw)).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn find_handles_edges() {
        assert_eq!(find(b"abcabd", b"abd", 0), Some(3));
        assert_eq!(find(b"abcabd", b"abd", 4), None);
        assert_eq!(find(b"ab", b"abc", 0), None);
        assert_eq!(find(b"xx", b"", 0), None);
    }
}
