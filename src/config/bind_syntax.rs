//! BIND zone-file syntax that the `domain` scanner (0.12.3) does not read, rewritten before
//! it sees the text, as Knot and NSD read it:
//! - TTLs with units (`$TTL 1h`, `www 1d2h IN A ...`, SOA timers `2h 15m 2w 1m`), written in
//!   seconds;
//! - a free-standing `@` where record data holds a name (`www CNAME @`, `MX 10 @`), which RFC
//!   1035 section 5.1 makes the current origin and the scanner would read as a label `@`.
//!
//! It tokenizes just enough to know which fields those are: comments, quoted strings,
//! escapes and parentheses (an entry spans lines while they are open), `$ORIGIN` and `$TTL`.
//! In a record, the fields between the owner and the type are TTL and class in either
//! order; after the type, the type says which fields are names and which are timers. Lines
//! keep their numbers, so later errors still name the right line.

use std::borrow::Cow;

/// The zone file text with every TTL that has units written in seconds and every `@` in
/// record data written as the origin then current (`origin` at the start: absolute, in
/// presentation format); borrowed unchanged when there is nothing to rewrite. Errors name
/// the line and column of a TTL too large for 32 bits.
pub fn expand<'t>(text: &'t str, origin: &str) -> Result<Cow<'t, str>, String> {
    let bytes = text.as_bytes();
    if !maybe_rewrites(bytes) {
        return Ok(Cow::Borrowed(text));
    }
    let mut replacements: Vec<(usize, usize, String)> = Vec::new();
    let mut origin = origin.to_string();
    let mut entry = Entry::default();
    let mut depth = 0usize;
    let mut at = 0;
    while at < bytes.len() {
        let b = bytes[at];
        match b {
            b'\n' => {
                if depth == 0 {
                    entry = Entry::default();
                }
                at += 1;
                continue;
            }
            b';' => {
                while at < bytes.len() && bytes[at] != b'\n' {
                    at += 1;
                }
                continue;
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b' ' | b'\t' | b'\r' => {}
            b'"' => {
                // A quoted string: one token, never a TTL or a name.
                at += 1;
                while at < bytes.len() && bytes[at] != b'"' {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
                entry.token(None, false);
            }
            _ => {
                let start = at;
                while at < bytes.len() && !matches!(bytes[at], b' ' | b'\t' | b'\r' | b'\n' | b'(' | b')' | b';' | b'"')
                {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
                let end = at.min(bytes.len());
                let token = &text[start..end];
                // A token at the very start of a line outside parentheses is the owner (or a
                // directive).
                let first_on_line = depth == 0 && (start == 0 || bytes[start - 1] == b'\n');
                match entry.token(Some(token), first_on_line) {
                    Field::Other => {}
                    Field::Ttl => {
                        if let Some(seconds) = seconds(token) {
                            let seconds = seconds.ok_or_else(|| {
                                let (line, column) = super::text::line_and_column(bytes, start);
                                format!("line {line}:{column}: TTL \"{token}\" is more than {} seconds", u32::MAX)
                            })?;
                            replacements.push((start, end, seconds.to_string()));
                        }
                    }
                    Field::Name if token == "@" => replacements.push((start, end, origin.clone())),
                    Field::Name => {}
                    Field::Origin => {
                        origin = if token.ends_with('.') && !token.ends_with("\\.") {
                            token.to_string()
                        } else if origin == "." {
                            format!("{token}.")
                        } else {
                            format!("{token}.{origin}")
                        };
                    }
                }
                continue;
            }
        }
        at += 1;
    }
    if replacements.is_empty() {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end, with) in replacements {
        out.push_str(&text[copied..start]);
        out.push_str(&with);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Ok(Cow::Owned(out))
}

/// What a token stands for, as far as this pass cares.
#[derive(Debug, PartialEq)]
enum Field {
    Other,
    /// A TTL, or an SOA timer.
    Ttl,
    /// A domain name in record data.
    Name,
    /// The argument of `$ORIGIN`.
    Origin,
}

/// Where one entry (a logical line) stands.
#[derive(Default)]
struct Entry {
    kind: Kind,
}

#[derive(Default, PartialEq)]
enum Kind {
    /// Nothing read yet.
    #[default]
    Start,
    /// `$TTL`: the next token is a TTL.
    DollarTtl,
    /// `$ORIGIN`: the next token is the new origin.
    DollarOrigin,
    /// Another directive (or a directive's argument read): nothing else here counts.
    Directive,
    /// A record before its type: TTL and class fields.
    Fields,
    /// A record's data: `layout` says which fields are names and timers; `index` counts
    /// the fields read.
    Data { layout: Layout, index: usize },
}

/// Which data fields of a type are names (a bit per field) and timers.
#[derive(Clone, Copy, Default, PartialEq)]
struct Layout {
    names: u16,
    ttls: u16,
}

/// Where record types carry names (RFC 1035 and successors) and, for SOA, timers.
fn layout(rtype: &str) -> Layout {
    let names = match rtype {
        "CNAME" | "DNAME" | "NS" | "PTR" | "MB" | "MG" | "MR" | "NSEC" => 1 << 0,
        "MX" | "AFSDB" | "KX" | "RT" | "SVCB" | "HTTPS" => 1 << 1,
        "SOA" | "RP" | "MINFO" => (1 << 0) | (1 << 1),
        "PX" => (1 << 1) | (1 << 2),
        "SRV" => 1 << 3,
        "NAPTR" => 1 << 5,
        _ => 0,
    };
    // SOA: MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM.
    let ttls = if rtype == "SOA" { 0b111_1000 } else { 0 };
    Layout { names, ttls }
}

impl Entry {
    /// Takes the next token (`None`: a quoted string) and says what it stands for.
    fn token(&mut self, token: Option<&str>, first_on_line: bool) -> Field {
        let Some(token) = token else {
            if let Kind::Data { index, .. } = &mut self.kind {
                *index += 1;
            }
            return Field::Other;
        };
        match &mut self.kind {
            Kind::Start => {
                if first_on_line {
                    self.kind = if token.eq_ignore_ascii_case("$TTL") {
                        Kind::DollarTtl
                    } else if token.eq_ignore_ascii_case("$ORIGIN") {
                        Kind::DollarOrigin
                    } else if token.starts_with('$') {
                        Kind::Directive
                    } else {
                        // The owner.
                        Kind::Fields
                    };
                    Field::Other
                } else {
                    // No owner: this is already a field.
                    self.kind = Kind::Fields;
                    self.field(token)
                }
            }
            Kind::DollarTtl => {
                self.kind = Kind::Directive;
                Field::Ttl
            }
            Kind::DollarOrigin => {
                self.kind = Kind::Directive;
                Field::Origin
            }
            Kind::Directive => Field::Other,
            Kind::Fields => self.field(token),
            Kind::Data { layout, index } => {
                let bit = 1u16.checked_shl(*index as u32).unwrap_or(0);
                *index += 1;
                if layout.names & bit != 0 {
                    Field::Name
                } else if layout.ttls & bit != 0 {
                    Field::Ttl
                } else {
                    Field::Other
                }
            }
        }
    }

    /// A token between owner and type: a TTL starts with a digit; a class is a word, and
    /// anything else is the type.
    fn field(&mut self, token: &str) -> Field {
        if token.as_bytes()[0].is_ascii_digit() {
            return Field::Ttl;
        }
        let upper = token.to_ascii_uppercase();
        let class = matches!(upper.as_str(), "IN" | "CH" | "CS" | "HS" | "NONE" | "ANY")
            || (upper.starts_with("CLASS") && upper.len() > 5 && upper[5..].bytes().all(|b| b.is_ascii_digit()));
        if !class {
            self.kind = Kind::Data { layout: layout(&upper), index: 0 };
        }
        Field::Other
    }
}

/// Whether anything may need rewriting: a digit right before a unit letter, or an `@` right
/// after a space or tab (an `@` owner starts its line). A branch-free scan in blocks, which
/// the compiler vectorizes (a million-name zone is tens of megabytes).
fn maybe_rewrites(bytes: &[u8]) -> bool {
    const BLOCK: usize = 64;
    let pairs = bytes.len().saturating_sub(1);
    let mut start = 0;
    while start < pairs {
        let end = (start + BLOCK).min(pairs);
        let mut hit = false;
        for (&a, &b) in bytes[start..end].iter().zip(&bytes[start + 1..end + 1]) {
            hit |= (a.is_ascii_digit() & is_unit(b)) | (((a == b' ') | (a == b'\t')) & (b == b'@'));
        }
        if hit {
            return true;
        }
        start = end;
    }
    false
}

fn is_unit(b: u8) -> bool {
    matches!(b | 0x20, b's' | b'm' | b'h' | b'd' | b'w')
}

/// A TTL with units in seconds: `None` when the token is not one (plain seconds are left to
/// the scanner), `Some(None)` when it does not fit 32 bits.
fn seconds(token: &str) -> Option<Option<u32>> {
    let bytes = token.as_bytes();
    if !bytes.last().is_some_and(|&b| is_unit(b)) {
        return None;
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for &b in bytes {
        if b.is_ascii_digit() {
            let n = number.unwrap_or(0).saturating_mul(10).saturating_add(u64::from(b - b'0'));
            number = Some(n.min(u64::from(u32::MAX) + 1));
        } else if is_unit(b) {
            let scale = match b | 0x20 {
                b's' => 1,
                b'm' => 60,
                b'h' => 3_600,
                b'd' => 86_400,
                _ => 604_800,
            };
            // A unit needs a number before it.
            total = total.saturating_add(number.take()?.saturating_mul(scale));
        } else {
            return None;
        }
    }
    Some(u32::try_from(total).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_become_seconds() {
        assert_eq!(seconds("1h"), Some(Some(3600)));
        assert_eq!(seconds("1H30M"), Some(Some(5400)));
        assert_eq!(seconds("2w"), Some(Some(1_209_600)));
        assert_eq!(seconds("1d2h3m4s"), Some(Some(93_784)));
        assert_eq!(seconds("300"), None);
        assert_eq!(seconds("1h30"), None);
        assert_eq!(seconds("h"), None);
        assert_eq!(seconds("1x"), None);
        assert_eq!(seconds("7102w"), Some(None));
        assert_eq!(seconds("4294967295s"), Some(Some(u32::MAX)));
    }

    #[test]
    fn only_ttl_fields_are_rewritten() {
        let text = "$TTL 1h\n\
                    @ IN SOA ns1 host ( 1 ; serial\n  2h 15m 2w 1m )\n\
                    1h A 192.0.2.1\n\
                    www 1d IN A 192.0.2.2\n\
                    mail IN 30m MX 10 1h\n\
                    \t2m TXT \"1h\" 1d ; 1h\n\
                    $ORIGIN 1h.example.\n\
                    x CNAME 1h\n";
        let want = "$TTL 3600\n\
                    @ IN SOA ns1 host ( 1 ; serial\n  7200 900 1209600 60 )\n\
                    1h A 192.0.2.1\n\
                    www 86400 IN A 192.0.2.2\n\
                    mail IN 1800 MX 10 1h\n\
                    \t120 TXT \"1h\" 1d ; 1h\n\
                    $ORIGIN 1h.example.\n\
                    x CNAME 1h\n";
        assert_eq!(expand(text, "example.com.").unwrap(), want);
    }

    #[test]
    fn the_fast_check_finds_a_pair_anywhere() {
        for len in [2, 63, 64, 65, 129, 300] {
            for at in 0..len - 1 {
                let mut text = vec![b'x'; len];
                text[at] = b'7';
                text[at + 1] = b'H';
                assert!(maybe_rewrites(&text), "{len} {at}");
                text[at + 1] = b'x';
                assert!(!maybe_rewrites(&text), "{len} {at}");
            }
        }
        assert!(!maybe_rewrites(b"") && !maybe_rewrites(b"1"));
        assert!(maybe_rewrites(b"www CNAME @\n") && maybe_rewrites(b"x MX 10\t@"));
        assert!(!maybe_rewrites(b"@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\n"));
    }

    #[test]
    fn a_free_standing_at_in_names_is_the_origin_then_current() {
        let text = "@ SOA @ host.@ 1 2h 3 4 5\n\
                    @ NS ns1\n\
                    www CNAME @\n\
                    @ MX 10 @\n\
                    txt TXT @ \"@\"\n\
                    esc CNAME \\@\n\
                    $ORIGIN sub\n\
                    a CNAME @\n\
                    _s._tcp SRV 0 0 53 @\n\
                    $ORIGIN other.net.\n\
                    b NS @ ; @\n";
        let want = "@ SOA example.com. host.@ 1 7200 3 4 5\n\
                    @ NS ns1\n\
                    www CNAME example.com.\n\
                    @ MX 10 example.com.\n\
                    txt TXT @ \"@\"\n\
                    esc CNAME \\@\n\
                    $ORIGIN sub\n\
                    a CNAME sub.example.com.\n\
                    _s._tcp SRV 0 0 53 sub.example.com.\n\
                    $ORIGIN other.net.\n\
                    b NS other.net. ; @\n";
        assert_eq!(expand(text, "example.com.").unwrap(), want);
    }

    #[test]
    fn text_without_units_is_borrowed() {
        let text = "$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 60\nns1 A 192.0.2.1\n";
        assert!(matches!(expand(text, "example.com.").unwrap(), Cow::Borrowed(_)));
        // Digits before unit letters in names only: still unchanged.
        let text = "web1d A 192.0.2.1\nhost2s TXT \"3m\"\n";
        assert!(matches!(expand(text, "example.com.").unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn any_text_keeps_its_lines_and_never_panics() {
        // Pieces that steer the tokenizer into every state, with multi-byte characters.
        const PIECES: [&str; 18] = [
            "1h",
            " ",
            "\n",
            "\t",
            "(",
            ")",
            ";",
            "\"",
            "\\",
            "$TTL",
            "SOA",
            "IN",
            "7W2d",
            "é",
            "x",
            "99999999w",
            "@",
            "$ORIGIN",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let text: String = (0..rng.usize(0..40)).map(|_| PIECES[rng.usize(..PIECES.len())]).collect();
            if let Ok(out) = expand(&text, "example.com.") {
                assert_eq!(out.lines().count(), text.lines().count(), "{text:?}");
            }
        }
    }

    #[test]
    fn too_large_a_ttl_names_its_place() {
        let err = expand("$TTL 60\nwww 99999w A 192.0.2.1\n", "example.com.").unwrap_err();
        assert!(err.starts_with("line 2:5:"), "{err}");
    }
}
