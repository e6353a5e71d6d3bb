//! `%XX` decoding: of the path segments of a static file's URL ([`crate::http`]) and of the
//! parameters of a `--db` URL ([`crate::store::postgres`]).

/// `%XX` decoding of one path segment (or URL parameter); `None` for a malformed escape or a
/// non-UTF-8 result.
pub fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
