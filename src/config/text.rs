//! Presentation-format text: domain names, and record data read through the `domain` crate's
//! zone file scanner so that `values` in the config and zone files parse the same way.

use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use bytes::Bytes;
use domain::base::iana::{Class, Rtype};
use domain::base::rdata::ComposeRecordData;
use domain::base::{ToName, Ttl};
use domain::rdata::ZoneRecordData;
use domain::zonefile::inplace::{Entry, Zonefile};

use crate::wire::Name;
pub use crate::wire::{parse_name, TextName};

/// How deep `$INCLUDE` may nest.
const MAX_INCLUDE_DEPTH: usize = 8;

/// Parses an absolute name; a missing trailing dot is tolerated.
pub fn parse_absolute(text: &str) -> Result<Name, String> {
    let parsed = parse_name(text)?;
    let mut wire = parsed.labels;
    wire.push(0);
    Name::from_wire(&wire).ok_or_else(|| format!("bad name {text:?}"))
}

/// Resolves the record type mnemonic (`A`, `AAAA`, `TYPE65000`, ...).
pub fn parse_rtype(text: &str) -> Result<u16, String> {
    Rtype::from_str(text.trim()).map(|r| r.to_int()).map_err(|_| format!("unknown record type {text:?}"))
}

/// The mnemonic for a record type.
pub fn rtype_name(rtype: u16) -> String {
    Rtype::from_int(rtype).to_string()
}

/// One record read from a zone file or a config value.
#[derive(Debug, Clone)]
pub struct ScannedRecord {
    /// Owner, lowercase.
    pub owner: Name,
    /// Type.
    pub rtype: u16,
    /// TTL in seconds.
    pub ttl: u32,
    /// RDATA in wire form, names uncompressed.
    pub rdata: Vec<u8>,
    /// Which file it is in: the index of its file among the [`Scanned::File`]s handed out.
    pub file: u16,
    /// The 1-based line where it starts.
    pub line: u32,
}

/// Parses one record value (`values = [...]` entries) of `rtype` at `owner`.
pub fn parse_value(owner: &Name, rtype: u16, value: &str, origin: &Name) -> Result<Vec<u8>, String> {
    if value.contains(['\n', '\r']) {
        return Err("a value must be on one line".into());
    }
    let text = format!("{owner} 0 IN {} {value}\n", rtype_name(rtype));
    // As in zone files: SOA timers may carry units (`2h 15m 2w 1m`), and `@` is the origin.
    let text = super::bind_syntax::expand(&text, &origin.to_string())
        .map_err(|e| format!("bad {} value {value:?}: {e}", rtype_name(rtype)))?;
    // The scanner's "line L:C: " is a place in the text built here, not in the config.
    let records = scan(text.as_bytes(), origin).map_err(|e| {
        let reason = e.strip_prefix("line ").and_then(|rest| rest.split_once(": ")).map_or(e.as_str(), |(_, r)| r);
        format!("bad {} value {value:?}: {reason}", rtype_name(rtype))
    })?;
    match records.as_slice() {
        [one] if one.rtype == rtype => Ok(one.rdata.clone()),
        _ => Err(format!("bad {} value {value:?}", rtype_name(rtype))),
    }
}

/// Reads a zone file (and what it `$INCLUDE`s) with `origin` as the initial origin.
#[cfg(test)]
pub fn read_zone_file(
    path: &Path,
    origin: &Name,
    read: &ReadFile<'_>,
) -> Result<Vec<ScannedRecord>, (PathBuf, String)> {
    let mut records = Vec::new();
    for_each_record(path, origin, read, &mut |r| {
        if let Scanned::Record(r) = r {
            records.push(r)
        }
    })?;
    Ok(records)
}

/// What reading a zone file hands out, in order.
pub enum Scanned {
    /// A file (the zone file or one it includes) is about to be read; its line count lets
    /// the receiver reserve room for about that many records. Files are numbered in the
    /// order they are handed out, from 0.
    File {
        /// Lines in the file.
        lines: usize,
        /// Its path.
        path: PathBuf,
    },
    /// One record.
    Record(ScannedRecord),
}

/// Reads a file by path: the file system, or a test's map. Shared with the thread that
/// scans zone files.
pub type ReadFile<'a> = dyn Fn(&Path) -> io::Result<String> + Sync + 'a;

/// Records handed from the scanning thread to the caller at a time.
const SCAN_BATCH: usize = 4096;

/// Zone files at least this long are scanned on a second thread. Starting one and handing
/// records across costs about as much as scanning a few kilobytes, so a small zone (a
/// hosting provider's tens of thousands of them) is scanned where it is read.
const THREADED_SCAN_BYTES: usize = 64 * 1024;

/// Reads a zone file (and what it `$INCLUDE`s), handing each record to `each` as it is read.
/// A large file is scanned on a second thread while `each` runs on this one, so it loads in
/// about the time of the slower of the two.
pub fn for_each_record(
    path: &Path,
    origin: &Name,
    read: &ReadFile<'_>,
    each: &mut dyn FnMut(Scanned),
) -> Result<(), (PathBuf, String)> {
    let text = read_text(path, read)?;
    if text.len() < THREADED_SCAN_BYTES {
        return scan_zone_text(path, &text, origin, read, 0, each);
    }
    let (batches, received) = crossbeam::channel::bounded::<Vec<Scanned>>(4);
    std::thread::scope(|scope| {
        let text = &text;
        let scanner = std::thread::Builder::new().name("zone-scan".into()).spawn_scoped(scope, move || {
            let mut batch = Vec::with_capacity(SCAN_BATCH);
            let result = scan_zone_text(path, text, origin, read, 0, &mut |scanned| {
                batch.push(scanned);
                if batch.len() == SCAN_BATCH {
                    // The receiver only stops early by returning, which ends this scope.
                    let _ = batches.send(std::mem::replace(&mut batch, Vec::with_capacity(SCAN_BATCH)));
                }
            });
            if !batch.is_empty() {
                let _ = batches.send(batch);
            }
            result
        });
        let scanner = match scanner {
            Ok(scanner) => scanner,
            // No thread to be had: scan here.
            Err(_) => return scan_zone_text(path, text, origin, read, 0, each),
        };
        for batch in received.iter() {
            batch.into_iter().for_each(&mut *each);
        }
        scanner.join().unwrap_or_else(|_| Err((path.to_path_buf(), "the zone file scanner failed".into())))
    })
}

fn read_text(path: &Path, read: &ReadFile<'_>) -> Result<String, (PathBuf, String)> {
    read(path).map_err(|e| (path.to_path_buf(), format!("cannot read zone file {}: {e}", shown_path(path).display())))
}

/// `path` made absolute (against the working directory), to show which file was tried.
pub fn shown_path(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The files read so far for one zone, to number them.
#[derive(Default)]
struct Files {
    count: u16,
}

/// Scans `text`, the contents of the zone file at `path`, reading what it includes. Every
/// error names the line it is at, in the file it is in.
fn scan_zone_text(
    path: &Path,
    text: &str,
    origin: &Name,
    read: &ReadFile<'_>,
    depth: usize,
    each: &mut dyn FnMut(Scanned),
) -> Result<(), (PathBuf, String)> {
    scan_file(path, text, origin, read, depth, &mut Files::default(), each)
}

fn scan_file(
    path: &Path,
    text: &str,
    origin: &Name,
    read: &ReadFile<'_>,
    depth: usize,
    files: &mut Files,
    each: &mut dyn FnMut(Scanned),
) -> Result<(), (PathBuf, String)> {
    let fail = |reason: String| (path.to_path_buf(), reason);
    // BIND syntax the scanner does not read: TTL units (`$TTL 1h`), `@` in record data.
    let text = super::bind_syntax::expand(text, &origin.to_string()).map_err(fail)?;
    let file = files.count;
    files.count = files.count.saturating_add(1);
    each(Scanned::File { lines: text.bytes().filter(|&b| b == b'\n').count(), path: path.to_path_buf() });
    let mut zonefile = Zonefile::from(text.as_bytes());
    zonefile.set_origin(to_domain_name(origin));
    zonefile.set_default_class(Class::IN);
    let mut scratch = Vec::with_capacity(crate::wire::MAX_NAME_LEN);
    let mut lines = EntryLines::new(text.as_bytes());
    loop {
        let entry = match guarded_next(&mut zonefile, &text) {
            Ok(Some(entry)) => entry,
            Ok(None) => return Ok(()),
            Err(reason) => return Err(fail(reason)),
        };
        let line = lines.next().unwrap_or(0);
        // No column: "L:1" reads as the scanner's own place past the end of an entry.
        let at_line = |reason: String| fail(format!("line {line}: {reason}"));
        match entry {
            Entry::Record(record) => {
                if record.class() != Class::IN {
                    return Err(at_line(format!("class {} is not served (only IN)", record.class())));
                }
                let mut scanned = convert(&record, &mut scratch).map_err(at_line)?;
                scanned.file = file;
                scanned.line = u32::try_from(line).unwrap_or(u32::MAX);
                each(Scanned::Record(scanned));
            }
            Entry::Include { path: include, origin: include_origin } => {
                let named = include.to_string();
                let include = PathBuf::from(&named);
                let include = match path.parent() {
                    Some(dir) if include.is_relative() => dir.join(include),
                    _ => include,
                };
                let origin = match include_origin {
                    Some(o) => Name::from_wire(o.as_slice()).ok_or_else(|| at_line("bad $INCLUDE origin".into()))?,
                    None => origin.clone(),
                };
                if depth + 1 > MAX_INCLUDE_DEPTH {
                    return Err(at_line(format!("$INCLUDE {named}: nested deeper than {MAX_INCLUDE_DEPTH} files")));
                }
                let included = read(&include).map_err(|e| {
                    at_line(format!("$INCLUDE {named}: cannot read {}: {e}", shown_path(&include).display()))
                })?;
                scan_file(&include, &included, &origin, read, depth + 1, files, each)?;
            }
        }
    }
}

/// The line each entry of a zone file starts on, in the order the scanner hands entries out:
/// records and `$INCLUDE`s (the scanner takes `$TTL` and `$ORIGIN` itself, and blank and
/// comment lines are no entry). An entry runs to the end of its line, or past it inside
/// parentheses or quotes.
struct EntryLines<'t> {
    text: &'t [u8],
    at: usize,
    line: usize,
}

impl<'t> EntryLines<'t> {
    fn new(text: &'t [u8]) -> Self {
        EntryLines { text, at: 0, line: 1 }
    }
}

impl Iterator for EntryLines<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let text = self.text;
        while self.at < text.len() {
            let (mut depth, mut first, mut line) = (0usize, None, self.line);
            while self.at < text.len() {
                let b = text[self.at];
                self.at += 1;
                match b {
                    b'\n' => {
                        self.line += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b';' => {
                        while self.at < text.len() && text[self.at] != b'\n' {
                            self.at += 1;
                        }
                    }
                    b' ' | b'\t' | b'\r' => {}
                    b'(' => depth += 1,
                    b')' => depth = depth.saturating_sub(1),
                    _ => {
                        if first.is_none() {
                            first = Some(self.at - 1);
                            line = self.line;
                        }
                        if b == b'"' {
                            while self.at < text.len() && text[self.at] != b'"' {
                                match text[self.at] {
                                    b'\\' => self.at += 1,
                                    b'\n' => self.line += 1,
                                    _ => {}
                                }
                                self.at += 1;
                            }
                            self.at += 1;
                        }
                    }
                }
            }
            let Some(first) = first else { continue };
            let control = text[first] == b'$';
            if !control || text[first..].get(..8).is_some_and(|d| d.eq_ignore_ascii_case(b"$INCLUDE")) {
                return Some(line);
            }
        }
        None
    }
}

fn scan(text: &[u8], origin: &Name) -> Result<Vec<ScannedRecord>, String> {
    let mut zonefile = Zonefile::from(text);
    zonefile.set_origin(to_domain_name(origin));
    let mut out = Vec::new();
    let source = String::from_utf8_lossy(text);
    while let Some(entry) = guarded_next(&mut zonefile, &source)? {
        match entry {
            Entry::Record(record) => out.push(convert(&record, &mut Vec::new())?),
            Entry::Include { .. } => return Err("$INCLUDE is not allowed here".into()),
        }
    }
    Ok(out)
}

thread_local! {
    /// Set while this thread runs the zone file scanner under `catch_unwind`.
    static SCANNING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The next entry, with the scanner's "line:col: reason" errors as "line L:C: reason".
/// The `domain` scanner (0.12.3) can panic on some malformed input (an unclosed parenthesis
/// in a TXT record, found by fuzzing); that becomes an error naming the line, never a panic.
fn guarded_next(zonefile: &mut Zonefile, text: &str) -> Result<Option<Entry>, String> {
    quiet_scanner_panics();
    let offset = zonefile.current_offset();
    SCANNING.with(|s| s.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| zonefile.next_entry()));
    SCANNING.with(|s| s.set(false));
    match result {
        Ok(Ok(entry)) => Ok(entry),
        Ok(Err(e)) => Err(format!("line {e}")),
        Err(_) => {
            // Where the scanner stood when it failed (its offset can trail the entry).
            let (line, column) = line_and_column(text.as_bytes(), offset);
            Err(format!(
                "line {line}:{column}: this or the next entry could not be read (unbalanced parentheses or quotes?)"
            ))
        }
    }
}

/// 1-based line and column of a byte offset (clamped to the text).
pub(super) fn line_and_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.len() - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Installs, once, a panic hook that stays silent for panics inside [`guarded_next`] and
/// defers to the previous hook for everything else.
fn quiet_scanner_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !SCANNING.with(|s| s.get()) {
                previous(info);
            }
        }));
    });
}

fn convert(record: &domain::zonefile::inplace::ScannedRecord, scratch: &mut Vec<u8>) -> Result<ScannedRecord, String> {
    scratch.clear();
    record.owner().compose(scratch).map_err(|_| "bad owner name")?;
    let owner = Name::from_wire(scratch).ok_or("bad owner name")?;
    let data: &ZoneRecordData<Bytes, _> = record.data();
    let mut rdata = Vec::new();
    data.compose_rdata(&mut rdata).map_err(|_| "record data too long")?;
    if rdata.len() > u16::MAX as usize {
        return Err("record data too long".into());
    }
    Ok(ScannedRecord {
        owner,
        rtype: record.rtype().to_int(),
        ttl: Ttl::as_secs(&record.ttl()),
        rdata,
        file: 0,
        line: 0,
    })
}

fn to_domain_name(name: &Name) -> domain::base::Name<Bytes> {
    // A stored Name is valid wire, which is all from_octets checks.
    domain::base::Name::from_octets(Bytes::copy_from_slice(name.as_wire()))
        .unwrap_or_else(|_| domain::base::Name::root_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_escapes() {
        let name = parse_name("a\\.b.c.").unwrap();
        assert!(name.absolute);
        assert_eq!(name.labels, b"\x03a.b\x01c");
        assert_eq!(parse_name("\\065b").unwrap().labels, b"\x02Ab");
        assert!(parse_name("a..b").is_err());
        assert!(parse_name(&"x".repeat(64)).is_err());
    }

    #[test]
    fn values_parse_like_zone_files() {
        let origin = parse_absolute("example.com.").unwrap();
        let owner = parse_absolute("www.example.com.").unwrap();
        assert_eq!(parse_value(&owner, 1, "192.0.2.1", &origin).unwrap(), vec![192, 0, 2, 1]);
        assert_eq!(parse_value(&owner, 15, "10 mail", &origin).unwrap(), b"\x00\x0a\x04mail\x07example\x03com\x00");
        assert!(parse_value(&owner, 1, "not-an-ip", &origin).is_err());
        assert!(parse_value(&owner, 1, "192.0.2.1\nx A 1.2.3.4", &origin).is_err());
        assert_eq!(parse_value(&owner, 16, "\"a b\" c", &origin).unwrap(), b"\x03a b\x01c");
    }

    #[test]
    fn scanner_panics_become_errors() {
        let origin = parse_absolute("example.com.").unwrap();
        let text = "$TTL 60\n@ SOA ns1 host 1 2 3 4 5\n@ IN TXT ( \"unclosed\"\n@ A 192.0.2.1\n";
        let read = |_: &Path| Ok(text.to_string());
        let err = read_zone_file(Path::new("z.zone"), &origin, &read).unwrap_err();
        assert!(err.1.contains("could not be read"), "{}", err.1);
        assert!(parse_value(&origin, 16, "( \"unclosed\"", &origin).is_err());
    }

    /// Scanned where it is read (below [`THREADED_SCAN_BYTES`]) or on a second thread
    /// (above), a zone file gives the same records in the same order, reads its `$INCLUDE`,
    /// and names the line of an error.
    #[test]
    fn small_and_large_zone_files_scan_alike() {
        let origin = parse_absolute("example.com.").unwrap();
        let included = "inc A 192.0.2.9\n";
        for hosts in [2, 3 * THREADED_SCAN_BYTES / 20] {
            let mut text = "$TTL 60\n@ SOA ns1 host 1 2 3 4 5\n$INCLUDE inc.zone\n".to_string();
            for i in 0..hosts {
                text += &format!("h{i} A 10.0.{}.{}\n", (i >> 8) & 255, i & 255);
            }
            assert_eq!(text.len() >= THREADED_SCAN_BYTES, hosts > 2, "{} bytes", text.len());
            let reader = |main: String| {
                move |p: &Path| Ok(if p.ends_with("inc.zone") { included.to_string() } else { main.clone() })
            };
            let read = reader(text.clone());
            let (mut files, mut records) = (0, Vec::new());
            for_each_record(Path::new("z.zone"), &origin, &read, &mut |scanned| match scanned {
                Scanned::File { .. } => files += 1,
                Scanned::Record(r) => records.push(r.owner.to_string()),
            })
            .unwrap();
            assert_eq!(files, 2);
            assert_eq!(records.len(), hosts + 2);
            assert_eq!(records[..3], ["example.com.", "inc.example.com.", "h0.example.com."]);
            assert_eq!(records.last().unwrap(), &format!("h{}.example.com.", hosts - 1));

            let lines = text.lines().count();
            let read = reader(text + "bad A nope\n");
            let err = read_zone_file(Path::new("z.zone"), &origin, &read).unwrap_err();
            assert!(err.1.starts_with(&format!("line {}:", lines + 2)), "{hosts} hosts: {}", err.1);
        }
    }

    #[test]
    fn zone_files_report_lines() {
        let origin = parse_absolute("example.com.").unwrap();
        let text = "$TTL 60\n@ IN SOA ns1 host 1 2 3 4 5\n@ NS ns1\nwww A 192.0.2.1\nbad A nope\n";
        let read = |_: &Path| Ok(text.to_string());
        let err = read_zone_file(Path::new("z.zone"), &origin, &read).unwrap_err();
        assert!(err.1.starts_with("line 6:1"), "{}", err.1);
    }

    #[test]
    fn records_and_include_problems_name_their_file_and_line() {
        let origin = parse_absolute("example.com.").unwrap();
        let text = "$TTL 60\n@ SOA ns1 host 1 2 3 4 5\n\n; a comment\nwww A 192.0.2.1\n  A 192.0.2.2\n$INCLUDE inc.zone\nmx ( MX\n 10 mail )\n";
        let read = |p: &Path| match p.to_str() {
            Some("dir/z.zone") => Ok(text.to_string()),
            Some("dir/inc.zone") => Ok("\ninc A 192.0.2.9\n$INCLUDE gone.zone\n".to_string()),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such file")),
        };
        let (mut files, mut records) = (Vec::new(), Vec::new());
        let err = for_each_record(Path::new("dir/z.zone"), &origin, &read, &mut |scanned| match scanned {
            Scanned::File { path, .. } => files.push(path),
            Scanned::Record(r) => records.push((r.owner.to_string(), r.file, r.line)),
        })
        .unwrap_err();
        assert_eq!(files, [Path::new("dir/z.zone"), Path::new("dir/inc.zone")]);
        assert_eq!(
            records,
            [
                ("example.com.".to_string(), 0, 2),
                ("www.example.com.".to_string(), 0, 5),
                ("www.example.com.".to_string(), 0, 6),
                ("inc.example.com.".to_string(), 1, 2),
            ]
        );
        // The missing file is named as the include that names it, with the path tried.
        assert_eq!(err.0, Path::new("dir/inc.zone"));
        assert!(err.1.starts_with("line 3: $INCLUDE gone.zone: cannot read /"), "{}", err.1);
        assert!(err.1.contains("dir/gone.zone: no such file"), "{}", err.1);
    }
}
