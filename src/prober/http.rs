//! Reading a health check's HTTP response incrementally, within fixed memory: the status
//! line decides HTTP checks; string-match checks also read up to 5,120 bytes of body
//! (de-chunked, gzip/deflate decoded) and search it. Nothing here does I/O.

use std::io::Write;

/// Route 53's limit on the total header length.
pub const MAX_HEADER_BYTES: usize = 16_384;
/// Route 53 searches this much of the body.
pub const SEARCH_WINDOW: usize = 5_120;
/// Most compressed bytes fed to a decoder before giving up.
const MAX_COMPRESSED_BYTES: usize = 1 << 20;

/// The outcome of a probe, with Route 53's wording for the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the endpoint passed.
    pub success: bool,
    /// Why, e.g. `Failure: HTTP Status Code 503`.
    pub reason: String,
}

impl Verdict {
    /// A pass.
    pub fn pass(reason: impl Into<String>) -> Self {
        Verdict { success: true, reason: reason.into() }
    }

    /// A failure.
    pub fn fail(reason: impl Into<String>) -> Self {
        Verdict { success: false, reason: reason.into() }
    }
}

/// Where the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the status line.
    Status,
    /// Status seen (string match only); reading headers and body.
    Body,
}

/// What the body's length is bounded by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Chunked transfer decoding state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(usize),
    DataEnd,
    Done,
}

/// Bytes written past the cap are accepted and dropped, so a decoder never fails on length.
struct Capped(Vec<u8>);

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = SEARCH_WINDOW.saturating_sub(self.0.len());
        self.0.extend_from_slice(&data[..room.min(data.len())]);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Decoder {
    Identity(Capped),
    Gzip(Box<flate2::write::GzDecoder<Capped>>),
    Deflate(Box<flate2::write::ZlibDecoder<Capped>>),
}

impl Decoder {
    fn output(&self) -> &[u8] {
        match self {
            Decoder::Identity(c) => &c.0,
            Decoder::Gzip(d) => &d.get_ref().0,
            Decoder::Deflate(d) => &d.get_ref().0,
        }
    }

    fn write(&mut self, data: &[u8]) -> bool {
        match self {
            Decoder::Identity(c) => c.write_all(data).is_ok(),
            // Flushing pushes what is decoded so far to the searched buffer.
            Decoder::Gzip(d) => d.write_all(data).and_then(|()| d.flush()).is_ok(),
            Decoder::Deflate(d) => d.write_all(data).and_then(|()| d.flush()).is_ok(),
        }
    }
}

/// Reads one response.
pub struct ResponseReader {
    search: Option<Vec<u8>>,
    head: Vec<u8>,
    stage: Stage,
    status: u16,
    framing: Framing,
    chunk: Chunk,
    chunk_line: Vec<u8>,
    body_seen: usize,
    compressed: usize,
    decoder: Option<Decoder>,
}

impl ResponseReader {
    /// A reader for an HTTP check, or a string-match check when `search` is given.
    pub fn new(search: Option<&str>) -> Self {
        ResponseReader {
            search: search.map(|s| s.as_bytes().to_vec()),
            head: Vec::new(),
            stage: Stage::Status,
            status: 0,
            framing: Framing::UntilClose,
            chunk: Chunk::Size,
            chunk_line: Vec::new(),
            body_seen: 0,
            compressed: 0,
            decoder: None,
        }
    }

    /// Where the reader is (for choosing the deadline).
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Feeds received bytes; returns the verdict once there is one.
    pub fn feed(&mut self, data: &[u8]) -> Option<Verdict> {
        match self.stage {
            Stage::Status => self.feed_head(data),
            Stage::Body if self.decoder.is_none() => self.feed_head(data),
            Stage::Body => self.feed_body(data),
        }
    }

    /// The connection closed; returns the verdict.
    pub fn finish(&mut self) -> Verdict {
        match (self.stage, self.decoder.is_some()) {
            (Stage::Status, _) => {
                Verdict::fail("Failure: The connection was closed before a complete HTTP status line arrived")
            }
            (Stage::Body, false) => {
                Verdict::fail("Failure: The connection was closed before the response headers were complete")
            }
            (Stage::Body, true) => self.not_found(),
        }
    }

    fn feed_head(&mut self, data: &[u8]) -> Option<Verdict> {
        let scan_from = self.head.len().saturating_sub(3);
        let room = MAX_HEADER_BYTES + 4 - self.head.len();
        let take = data.len().min(room);
        self.head.extend_from_slice(&data[..take]);
        if self.stage == Stage::Status {
            let Some(line_end) = find(&self.head, b"\r\n") else {
                return self.head_limit();
            };
            let status = match parse_status_line(&self.head[..line_end]) {
                Some(status) => status,
                None => return Some(Verdict::fail("Failure: The response did not start with an HTTP status line")),
            };
            self.status = status;
            if !(200..400).contains(&status) {
                return Some(Verdict::fail(format!("Failure: HTTP Status Code {status}")));
            }
            if self.search.is_none() {
                return Some(Verdict::pass(format!("Success: HTTP Status Code {status}")));
            }
            self.stage = Stage::Body;
        }
        let Some(end) = find(&self.head[scan_from.min(self.head.len())..], b"\r\n\r\n").map(|i| i + scan_from) else {
            return self.head_limit();
        };
        let headers = String::from_utf8_lossy(&self.head[..end]).into_owned();
        let mut encoding = "identity".to_string();
        for line in headers.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim().to_ascii_lowercase();
            match name.trim().to_ascii_lowercase().as_str() {
                "transfer-encoding" if value.contains("chunked") => self.framing = Framing::Chunked,
                "content-length" if self.framing != Framing::Chunked => {
                    if let Ok(len) = value.parse() {
                        self.framing = Framing::Length(len);
                    }
                }
                "content-encoding" => encoding = value,
                _ => {}
            }
        }
        self.decoder = Some(match encoding.as_str() {
            "gzip" | "x-gzip" => Decoder::Gzip(Box::new(flate2::write::GzDecoder::new(Capped(Vec::new())))),
            "deflate" => Decoder::Deflate(Box::new(flate2::write::ZlibDecoder::new(Capped(Vec::new())))),
            _ => Decoder::Identity(Capped(Vec::new())),
        });
        // Body bytes that came with the head, plus whatever of `data` did not fit in it.
        let mut rest = self.head.split_off(end + 4);
        rest.extend_from_slice(&data[take..]);
        self.head.clear();
        self.head.shrink_to_fit();
        if let Framing::Length(0) = self.framing {
            return Some(self.not_found());
        }
        self.feed_body(&rest)
    }

    fn head_limit(&self) -> Option<Verdict> {
        (self.head.len() > MAX_HEADER_BYTES)
            .then(|| Verdict::fail(format!("Failure: The response headers were longer than {MAX_HEADER_BYTES} bytes")))
    }

    fn feed_body(&mut self, mut data: &[u8]) -> Option<Verdict> {
        while !data.is_empty() {
            let take = match self.framing {
                Framing::UntilClose => data.len(),
                Framing::Length(len) => data.len().min(len - self.body_seen),
                Framing::Chunked => match self.chunk {
                    Chunk::Size => {
                        let newline = data.iter().position(|&b| b == b'\n');
                        let part = &data[..newline.map_or(data.len(), |i| i + 1)];
                        if self.chunk_line.len() + part.len() > 1024 {
                            return Some(Verdict::fail("Failure: The response body had a malformed chunk"));
                        }
                        self.chunk_line.extend_from_slice(part);
                        data = &data[part.len()..];
                        if newline.is_some() {
                            let line = String::from_utf8_lossy(&self.chunk_line).into_owned();
                            self.chunk_line.clear();
                            let hex = line.split(';').next().unwrap_or("").trim();
                            match usize::from_str_radix(hex, 16) {
                                Ok(0) => {
                                    self.chunk = Chunk::Done;
                                    return Some(self.not_found());
                                }
                                Ok(size) => self.chunk = Chunk::Data(size),
                                Err(_) => {
                                    return Some(Verdict::fail("Failure: The response body had a malformed chunk"))
                                }
                            }
                        }
                        continue;
                    }
                    Chunk::Data(left) => data.len().min(left),
                    Chunk::DataEnd => {
                        // The CRLF after chunk data.
                        let skip = data.iter().position(|&b| b == b'\n').map_or(data.len(), |i| i + 1);
                        if skip <= data.len() && data[..skip].ends_with(b"\n") {
                            self.chunk = Chunk::Size;
                        }
                        data = &data[skip..];
                        continue;
                    }
                    Chunk::Done => return Some(self.not_found()),
                },
            };
            let (now, rest) = data.split_at(take);
            data = rest;
            self.body_seen += now.len();
            if let Framing::Chunked = self.framing {
                if let Chunk::Data(left) = self.chunk {
                    self.chunk = if left == now.len() { Chunk::DataEnd } else { Chunk::Data(left - now.len()) };
                }
            }
            self.compressed += now.len();
            let decoder = self.decoder.as_mut()?;
            if !decoder.write(now) {
                return Some(Verdict::fail("Failure: The response body could not be decompressed"));
            }
            if let Some(verdict) = self.search_now() {
                return Some(verdict);
            }
            if let Framing::Length(len) = self.framing {
                if self.body_seen >= len {
                    return Some(self.not_found());
                }
            }
            if self.compressed > MAX_COMPRESSED_BYTES {
                return Some(self.not_found());
            }
        }
        None
    }

    /// Searches what has been decoded; a verdict once the string is found or the window is full.
    fn search_now(&self) -> Option<Verdict> {
        let full = self.decoder.as_ref()?.output().len() >= SEARCH_WINDOW;
        (self.found() || full).then(|| self.not_found())
    }

    fn found(&self) -> bool {
        match (&self.decoder, &self.search) {
            (Some(decoder), Some(needle)) => find(decoder.output(), needle).is_some(),
            _ => false,
        }
    }

    /// The verdict once no more body will be read.
    fn not_found(&self) -> Verdict {
        if self.found() {
            return Verdict::pass(format!("Success: HTTP Status Code {}, search string found", self.status));
        }
        Verdict::fail(format!(
            "Failure: The string to match was not found in the first {SEARCH_WINDOW} bytes of the response body (HTTP Status Code {})",
            self.status
        ))
    }
}

/// `HTTP/1.x NNN reason` -> NNN.
fn parse_status_line(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(search: Option<&str>, parts: &[&[u8]]) -> Option<Verdict> {
        let mut reader = ResponseReader::new(search);
        for part in parts {
            if let Some(v) = reader.feed(part) {
                return Some(v);
            }
        }
        None
    }

    #[test]
    fn status_decides_plain_checks() {
        assert!(run(None, &[b"HTTP/1.1 200 OK\r\n"]).unwrap().success);
        assert!(run(None, &[b"HTTP/1.0 302 Found\r\nLocation: /x\r\n\r\n"]).unwrap().success);
        assert_eq!(
            run(None, &[b"HTTP/1.1 503 Service Unavailable\r\n"]).unwrap().reason,
            "Failure: HTTP Status Code 503"
        );
        assert!(!run(None, &[b"SSH-2.0-OpenSSH\r\n"]).unwrap().success);
        assert_eq!(run(None, &[b"HTTP/1.1 2"]), None);
        // Byte at a time.
        let text = b"HTTP/1.1 204 No Content\r\n";
        let parts: Vec<&[u8]> = text.chunks(1).collect();
        assert!(run(None, &parts).unwrap().success);
    }

    #[test]
    fn string_match_with_length_chunked_and_gzip() {
        let ok = run(Some("OK"), &[b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nall OK"]).unwrap();
        assert!(ok.success, "{ok:?}");
        let miss = run(Some("OK"), &[b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnope"]).unwrap();
        assert!(!miss.success);
        let chunked: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nsta",
            b"\r\n5\r\ntus O\r\n1\r\nK\r\n0\r\n\r\n",
        ];
        assert!(run(Some("status OK"), chunked).unwrap().success);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"compressed body with READY inside").unwrap();
        let body = gz.finish().unwrap();
        let mut response =
            format!("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        response.extend_from_slice(&body);
        assert!(run(Some("READY"), &[&response]).unwrap().success);
        // A failing status fails string match too.
        assert!(!run(Some("x"), &[b"HTTP/1.1 500 Oops\r\n\r\nx"]).unwrap().success);
    }

    #[test]
    fn only_the_first_window_is_searched() {
        let mut body = vec![b'.'; SEARCH_WINDOW - 2];
        body.extend_from_slice(b"FOUND");
        let mut response = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        response.extend_from_slice(&body);
        let verdict = run(Some("FOUND"), &[&response]).unwrap();
        assert!(!verdict.success, "string straddles byte 5120");
        let mut reader = ResponseReader::new(Some("zzz"));
        assert_eq!(reader.feed(b"HTTP/1.1 200 OK\r\n\r\nabc"), None);
        assert!(!reader.finish().success);
    }

    #[test]
    fn header_floods_are_cut_off() {
        let mut reader = ResponseReader::new(Some("x"));
        assert_eq!(reader.feed(b"HTTP/1.1 200 OK\r\n"), None);
        let junk = vec![b'a'; 4096];
        let mut verdict = None;
        for _ in 0..10 {
            verdict = verdict.or_else(|| reader.feed(&junk));
        }
        assert!(!verdict.unwrap().success);
        assert!(reader.head.capacity() <= 2 * (MAX_HEADER_BYTES + 4));
    }
}
