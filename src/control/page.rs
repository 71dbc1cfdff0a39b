//! The status page (`GET /`): one HTML document, `status.html`, built into the binary, with
//! its style and script inline. The script asks `/status?history=1` every few seconds and
//! renders checks, record sets and zones from it; nothing is loaded from anywhere else.
//!
//! Its Content-Security-Policy allows exactly that inline style and script, by their SHA-256,
//! and requests to the endpoint itself, so even a check id that got into the page as markup
//! (the script sets every server text as text, never as HTML) could run nothing.

use std::sync::OnceLock;

/// The page.
pub const HTML: &str = include_str!("status.html");

/// The page's Content-Security-Policy header value.
pub fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        format!(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; connect-src 'self'; img-src data:; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            sha256_base64(inline(HTML, "script")),
            sha256_base64(inline(HTML, "style")),
        )
    })
}

/// The text between `<TAG>` and `</TAG>`: what a browser hashes for the policy.
fn inline<'a>(html: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = html.find(&open).map_or(0, |at| at + open.len());
    let end = html[start..].find(&close).map_or(start, |at| start + at);
    &html[start..end]
}

/// SHA-256 of `text`, in base64 with padding, as CSP hash sources are written.
fn sha256_base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut out = String::with_capacity(44);
    for chunk in digest.as_ref().chunks(3) {
        let bytes = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let group = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((group >> shift) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_one_inline_style_and_script_and_loads_nothing_else() {
        for tag in ["style", "script"] {
            assert_eq!(HTML.matches(&format!("<{tag}")).count(), 1, "<{tag}>");
            assert!(inline(HTML, tag).len() > 100, "<{tag}> is empty");
        }
        assert!(!HTML.contains("innerHTML") && !HTML.contains("outerHTML") && !HTML.contains("insertAdjacentHTML"));
        assert!(!HTML.contains("://") && !HTML.contains(" src="), "something loaded from elsewhere");
    }

    #[test]
    fn hashes_are_base64_sha256() {
        // `printf abc | openssl dgst -sha256 -binary | base64`
        assert_eq!(sha256_base64("abc"), "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        assert_eq!(sha256_base64(""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        let policy = content_security_policy();
        assert!(policy.starts_with("default-src 'none'; script-src 'sha256-"), "{policy}");
        assert_eq!(policy.matches("'sha256-").count(), 2, "{policy}");
    }
}
