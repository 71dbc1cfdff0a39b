//! Domain names in wire form: the owned, lowercased [`Name`] used by zone data, and the
//! fixed-size [`LowerName`] a query's name is copied into without allocating.

use std::fmt;

/// Longest name in wire form (RFC 1035 section 2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Most labels a name can have, counting the root.
pub const MAX_LABELS: usize = 128;

/// An absolute domain name in lowercase wire form, as stored in zone data.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Box<[u8]>);

impl Name {
    /// The root name.
    pub fn root() -> Self {
        Name(Box::new([0]))
    }

    /// Takes wire bytes that are already a valid uncompressed name and lowercases them.
    pub fn from_wire(wire: &[u8]) -> Option<Self> {
        let end = name_end(wire, 0)?;
        if end != wire.len() {
            return None;
        }
        let mut bytes = wire.to_vec().into_boxed_slice();
        lowercase_in_place(&mut bytes);
        Some(Name(bytes))
    }

    /// The wire bytes, ending with the root label.
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// Number of labels, not counting the root.
    pub fn label_count(&self) -> usize {
        let mut count = 0;
        let mut pos = 0;
        while self.0[pos] != 0 {
            pos += 1 + self.0[pos] as usize;
            count += 1;
        }
        count
    }

    /// Whether `self` equals `other` or lies below it.
    pub fn ends_with(&self, other: &Name) -> bool {
        let mut pos = 0;
        loop {
            if self.0[pos..] == other.0[..] {
                return true;
            }
            if self.0[pos] == 0 {
                return false;
            }
            pos += 1 + self.0[pos] as usize;
        }
    }

    /// The name one label up, or `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        if self.0[0] == 0 {
            return None;
        }
        let skip = 1 + self.0[0] as usize;
        Some(Name(self.0[skip..].into()))
    }

    /// Whether the leftmost label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.0.len() >= 2 && self.0[0] == 1 && self.0[1] == b'*'
    }

    /// This name with `label` prepended.
    pub fn child(&self, label: &[u8]) -> Option<Name> {
        if label.is_empty() || label.len() > 63 || self.0.len() + label.len() + 1 > MAX_NAME_LEN {
            return None;
        }
        let mut bytes = Vec::with_capacity(self.0.len() + label.len() + 1);
        bytes.push(label.len() as u8);
        bytes.extend(label.iter().map(u8::to_ascii_lowercase));
        bytes.extend_from_slice(&self.0);
        Some(Name(bytes.into_boxed_slice()))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_presentation(f, &self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// A name copied out of a packet and lowercased, with the offset of each label, on the stack.
#[derive(Clone)]
pub struct LowerName {
    bytes: [u8; MAX_NAME_LEN],
    len: u8,
    labels: [u8; MAX_LABELS],
    count: u8,
}

impl Default for LowerName {
    fn default() -> Self {
        Self::new()
    }
}

impl LowerName {
    /// An empty name (the root), to be filled by [`LowerName::read`].
    pub const fn new() -> Self {
        LowerName { bytes: [0; MAX_NAME_LEN], len: 1, labels: [0; MAX_LABELS], count: 0 }
    }

    /// Reads an uncompressed name at `pos`; returns it and the offset just past it.
    pub fn parse(packet: &[u8], pos: usize) -> Option<(Self, usize)> {
        let mut name = LowerName::new();
        let end = name.read(packet, pos)?;
        Some((name, end))
    }

    /// Overwrites `self` with the uncompressed name at `pos`; returns the offset just past it.
    /// Only the bytes the name uses are written, so a reused value costs nothing to reset.
    #[inline(always)]
    pub fn read(&mut self, packet: &[u8], pos: usize) -> Option<usize> {
        // First walk the label lengths, then copy and lowercase the whole name in one pass.
        let mut at = pos;
        let mut count = 0usize;
        loop {
            let len = *packet.get(at)? as usize;
            if len > 63 {
                // Compression pointers (and the reserved label types) are not allowed here.
                return None;
            }
            if len == 0 {
                break;
            }
            self.labels[count] = (at - pos) as u8;
            count += 1;
            at += 1 + len;
            if at - pos >= MAX_NAME_LEN {
                return None;
            }
        }
        let end = at + 1;
        let wire = &packet[pos..end];
        lowercase_into(&mut self.bytes[..wire.len()], wire);
        self.len = wire.len() as u8;
        self.count = count as u8;
        Some(end)
    }

    /// The whole name in wire form.
    pub fn as_wire(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Number of labels, not counting the root.
    pub fn label_count(&self) -> usize {
        self.count as usize
    }

    /// The suffix made of the last `keep` labels (0 = the root).
    pub fn suffix(&self, keep: usize) -> &[u8] {
        &self.bytes[self.suffix_offset(keep)..self.len as usize]
    }

    /// Offset inside the name where the suffix of `keep` labels starts.
    pub fn suffix_offset(&self, keep: usize) -> usize {
        let count = self.count as usize;
        if keep >= count {
            0
        } else if keep == 0 {
            self.len as usize - 1
        } else {
            self.labels[count - keep] as usize
        }
    }
}

/// A name as text: its labels, and whether it ended with a dot.
pub struct TextName {
    /// Wire form of the labels, without the terminating root label.
    pub labels: Vec<u8>,
    /// Whether the text was absolute (ended with `.`).
    pub absolute: bool,
}

/// Parses a name in presentation format (`\.` and `\DDD` escapes; `@` is the origin).
pub fn parse_name(text: &str) -> Result<TextName, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty name".into());
    }
    if text == "." {
        return Ok(TextName { labels: Vec::new(), absolute: true });
    }
    let mut labels = Vec::new();
    let mut label = Vec::new();
    let mut absolute = false;
    let mut chars = text.bytes().peekable();
    let finish = |label: &mut Vec<u8>, labels: &mut Vec<u8>| -> Result<(), String> {
        if label.is_empty() {
            return Err(format!("empty label in {text:?}"));
        }
        if label.len() > 63 {
            return Err(format!("label longer than 63 octets in {text:?}"));
        }
        labels.push(label.len() as u8);
        labels.append(label);
        Ok(())
    };
    while let Some(c) = chars.next() {
        match c {
            b'.' => {
                finish(&mut label, &mut labels)?;
                if chars.peek().is_none() {
                    absolute = true;
                }
            }
            b'\\' => {
                let next = chars.next().ok_or_else(|| format!("dangling escape in {text:?}"))?;
                if next.is_ascii_digit() {
                    let d2 = chars.next().filter(u8::is_ascii_digit);
                    let d3 = chars.next().filter(u8::is_ascii_digit);
                    let (Some(d2), Some(d3)) = (d2, d3) else {
                        return Err(format!("bad \\DDD escape in {text:?}"));
                    };
                    let value = (next - b'0') as u32 * 100 + (d2 - b'0') as u32 * 10 + (d3 - b'0') as u32;
                    label.push(u8::try_from(value).map_err(|_| format!("escape above 255 in {text:?}"))?);
                } else {
                    label.push(next);
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => return Err(format!("white space in name {text:?}")),
            _ => label.push(c),
        }
    }
    if !label.is_empty() {
        finish(&mut label, &mut labels)?;
    }
    if labels.len() + 1 > MAX_NAME_LEN {
        return Err(format!("name longer than 255 octets: {text:?}"));
    }
    Ok(TextName { labels, absolute })
}

/// Copies `src` into `dst` (same length), lowercasing ASCII letters eight bytes at a time.
/// Label lengths are at most 63, below b'A', so they pass through unchanged.
#[inline]
fn lowercase_into(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n < 8 {
        for (d, &b) in dst.iter_mut().zip(src) {
            *d = b | ((b.wrapping_sub(b'A') < 26) as u8) << 5;
        }
        return;
    }
    let chunk = |at: usize| u64::from_le_bytes(src[at..at + 8].try_into().expect("8 bytes"));
    let mut at = 0;
    while at + 8 < n {
        dst[at..at + 8].copy_from_slice(&lowercase8(chunk(at)).to_le_bytes());
        at += 8;
    }
    // The last eight bytes, overlapping the chunk before: reading from `src` keeps it exact.
    dst[n - 8..n].copy_from_slice(&lowercase8(chunk(n - 8)).to_le_bytes());
}

/// ASCII lowercase of eight bytes in a word (bytes 0x80 and above are left alone).
#[inline(always)]
fn lowercase8(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = x & (0x7F * ONES);
    // The high bit of each byte: set where the low seven bits are >= b'A', and > b'Z'.
    let at_least_a = low7 + (0x80 - b'A' as u64) * ONES;
    let above_z = low7 + (0x7F - b'Z' as u64) * ONES;
    let upper = (at_least_a ^ above_z) & !x & (0x80 * ONES);
    x | (upper >> 2)
}

/// Returns the offset just past a possibly compressed name starting at `pos`, without
/// following pointers (so a pointer loop cannot trap the reader).
pub fn skip_name(packet: &[u8], mut pos: usize) -> Option<usize> {
    let mut total = 0usize;
    loop {
        let len = *packet.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            1..=63 => {
                total += len as usize + 1;
                if total > MAX_NAME_LEN {
                    return None;
                }
                pos += 1 + len as usize;
            }
            0xC0..=0xFF => {
                packet.get(pos + 1)?;
                return Some(pos + 2);
            }
            _ => return None,
        }
    }
}

/// Offset just past an uncompressed name at `pos`.
fn name_end(wire: &[u8], mut pos: usize) -> Option<usize> {
    let start = pos;
    loop {
        let len = *wire.get(pos)? as usize;
        if len > 63 {
            return None;
        }
        pos += 1 + len;
        if pos - start > MAX_NAME_LEN {
            return None;
        }
        if len == 0 {
            return Some(pos);
        }
    }
}

fn lowercase_in_place(wire: &mut [u8]) {
    let mut pos = 0;
    while pos < wire.len() && wire[pos] != 0 {
        let len = wire[pos] as usize;
        wire[pos + 1..pos + 1 + len].make_ascii_lowercase();
        pos += 1 + len;
    }
}

/// Writes a wire name in presentation format, escaping as RFC 1035 section 5.1 does.
pub fn write_presentation(f: &mut impl fmt::Write, wire: &[u8]) -> fmt::Result {
    let mut pos = 0;
    if wire.first() == Some(&0) {
        return f.write_char('.');
    }
    while pos < wire.len() && wire[pos] != 0 {
        let len = wire[pos] as usize;
        for &b in &wire[pos + 1..(pos + 1 + len).min(wire.len())] {
            match b {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => write!(f, "\\{}", b as char)?,
                0x21..=0x7e => f.write_char(b as char)?,
                _ => write!(f, "\\{b:03}")?,
            }
        }
        f.write_char('.')?;
        pos += 1 + len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercasing_matches_the_bytewise_rule_for_every_byte_and_length() {
        for len in 0..40usize {
            for byte in 0..=255u8 {
                let src: Vec<u8> = (0..len).map(|i| if i % 3 == 1 { byte } else { b'A' + (i % 26) as u8 }).collect();
                let mut dst = vec![0u8; len];
                lowercase_into(&mut dst, &src);
                assert_eq!(dst, src.to_ascii_lowercase(), "len {len} byte {byte:#x}");
            }
        }
    }

    fn wire(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in text.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    #[test]
    fn lower_name_keeps_label_offsets() {
        let bytes = wire("WWW.Example.COM");
        let (name, end) = LowerName::parse(&bytes, 0).unwrap();
        assert_eq!(end, bytes.len());
        assert_eq!(name.as_wire(), &wire("www.example.com")[..]);
        assert_eq!(name.label_count(), 3);
        assert_eq!(name.suffix(2), &wire("example.com")[..]);
        assert_eq!(name.suffix(0), &[0][..]);
        assert_eq!(name.suffix_offset(2), 4);
    }

    #[test]
    fn rejects_pointers_and_overlong_names() {
        assert!(LowerName::parse(&[0xC0, 12], 0).is_none());
        let long: Vec<u8> = std::iter::repeat_n([63u8; 64], 5).flatten().chain([0]).collect();
        assert!(LowerName::parse(&long, 0).is_none());
        assert!(LowerName::parse(&[3, b'a'], 0).is_none());
    }

    #[test]
    fn skip_name_does_not_follow_pointers() {
        assert_eq!(skip_name(&[1, b'a', 0xC0, 0], 0), Some(4));
        assert_eq!(skip_name(&[0xC0], 0), None);
    }

    #[test]
    fn presentation_and_relations() {
        let name = Name::from_wire(&wire("A.b.c")).unwrap();
        assert_eq!(name.to_string(), "a.b.c.");
        let parent = name.parent().unwrap();
        assert!(name.ends_with(&parent));
        assert!(!parent.ends_with(&name));
        assert_eq!(Name::root().to_string(), ".");
        assert!(parent.child(b"*").unwrap().is_wildcard());
    }
}
