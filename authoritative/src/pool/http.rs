//! An HTTP check's answer, judged as its bytes arrive: the status in the
//! expected range and, if asked, a substring in the body. The head is
//! parsed by `httparse` (hyper's parser); a head over [`MAX_HEAD`] or a
//! body read past [`MAX_BODY`] without the substring fails the check, so a
//! target that answers without end never holds a checker.

use std::ops::RangeInclusive;

/// The most a response head may take.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most of a body read looking for the substring.
pub const MAX_BODY: usize = 64 * 1024;
/// Headers parsed at most.
const MAX_HEADERS: usize = 64;

/// What a check expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// The statuses that pass.
    pub status: RangeInclusive<u16>,
    /// A substring the body must hold.
    pub body: Option<Vec<u8>>,
}

/// Where a check stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Read on.
    More,
    /// The member passes; why.
    Pass(String),
    /// The member fails; why.
    Fail(String),
}

/// The request a check sends.
pub fn request(path: &str, host: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: palanquin-check\r\nAccept: */*\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

/// How the body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    Close,
}

/// Where a chunked body's reading is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// A size line.
    Size,
    /// This many bytes of data left in the chunk.
    Data(u64),
    /// The CRLF after a chunk's data.
    Crlf,
    /// The last chunk was read.
    Done,
}

/// One parsed head.
enum Head {
    /// An interim (1xx) head of this many bytes: skip it.
    Interim(usize),
    /// The final head is read (`Pass`), or not yet (`More`), or bad (`Fail`).
    Done(Verdict),
}

/// One response being read.
#[derive(Debug)]
pub struct Response {
    expect: Expect,
    buf: Vec<u8>,
    /// After the head: the status, framing, and the body so far (de-chunked).
    status: u16,
    framing: Option<Framing>,
    body: Vec<u8>,
    /// Where the unread part of `buf` starts (chunked bodies).
    at: usize,
    chunk: Chunk,
    /// How much of the body was searched already (only new bytes are).
    searched: usize,
}

impl Response {
    /// Reads a response judged by `expect`.
    pub fn new(expect: Expect) -> Response {
        Response {
            expect,
            buf: Vec::new(),
            status: 0,
            framing: None,
            body: Vec::new(),
            at: 0,
            chunk: Chunk::Size,
            searched: 0,
        }
    }

    /// Takes the next bytes.
    pub fn feed(&mut self, data: &[u8]) -> Verdict {
        self.buf.extend_from_slice(data);
        if self.framing.is_none() {
            match self.head() {
                Verdict::More if self.buf.len() > MAX_HEAD => {
                    return Verdict::Fail(format!("response head over {} KiB", MAX_HEAD / 1024))
                }
                Verdict::More => return Verdict::More,
                Verdict::Fail(why) => return Verdict::Fail(why),
                Verdict::Pass(_) => {}
            }
            if !self.expect.status.contains(&self.status) {
                return Verdict::Fail(format!("HTTP {}", self.status));
            }
            if self.expect.body.is_none() {
                return Verdict::Pass(format!("HTTP {}", self.status));
            }
        }
        self.body_so_far(false)
    }

    /// The connection closed.
    pub fn closed(&mut self) -> Verdict {
        if self.framing.is_none() {
            return Verdict::Fail("the connection closed before the response head".into());
        }
        self.body_so_far(true)
    }

    fn head(&mut self) -> Verdict {
        // Interim answers (100 Continue, 103 Early Hints) are skipped: the
        // real one follows.
        loop {
            match self.one_head() {
                Head::Interim(len) => {
                    self.buf.drain(..len);
                }
                Head::Done(verdict) => return verdict,
            }
        }
    }

    /// Parses one head (`Done(Pass)`: the head is read, the body follows).
    fn one_head(&mut self) -> Head {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut r = httparse::Response::new(&mut headers);
        let len = match r.parse(&self.buf) {
            Ok(httparse::Status::Partial) => return Head::Done(Verdict::More),
            Ok(httparse::Status::Complete(n)) => n,
            Err(httparse::Error::TooManyHeaders) => {
                return Head::Done(Verdict::Fail(format!("more than {MAX_HEADERS} response headers")))
            }
            Err(e) => return Head::Done(Verdict::Fail(format!("not an HTTP response ({e})"))),
        };
        self.status = r.code.unwrap_or(0);
        if (100..200).contains(&self.status) && self.status != 101 {
            return Head::Interim(len);
        }
        let header = |name: &str| {
            r.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
        };
        let framing = if header("transfer-encoding").is_some_and(|v| v.ends_with("chunked")) {
            Framing::Chunked
        } else if let Some(n) = header("content-length") {
            match n.parse() {
                Ok(n) => Framing::Length(n),
                Err(_) => return Head::Done(Verdict::Fail(format!("bad Content-Length {n:?}"))),
            }
        } else {
            Framing::Close
        };
        self.framing = Some(framing);
        self.at = len;
        if framing != Framing::Chunked {
            self.body = self.buf[len..].to_vec();
            self.at = self.buf.len();
        }
        Head::Done(Verdict::Pass(String::new()))
    }

    fn body_so_far(&mut self, closed: bool) -> Verdict {
        let complete = match self.framing {
            Some(Framing::Chunked) => match self.dechunk() {
                Ok(done) => done,
                Err(why) => return Verdict::Fail(why),
            },
            Some(Framing::Length(n)) => {
                self.take_all();
                self.body.truncate(n);
                self.body.len() >= n
            }
            Some(Framing::Close) | None => {
                self.take_all();
                closed
            }
        };
        // The body is kept only up to MAX_BODY.
        self.body.truncate(MAX_BODY);
        let Some(want) = &self.expect.body else {
            return Verdict::Pass(format!("HTTP {}", self.status));
        };
        // Only what arrived since the last look (and the overlap a match
        // across the boundary needs) is searched.
        let from = self.searched.saturating_sub(want.len().saturating_sub(1));
        let found =
            want.is_empty() || memchr::memmem::find(&self.body[from.min(self.body.len())..], want).is_some();
        self.searched = self.body.len();
        if found {
            return Verdict::Pass(format!("HTTP {} with the expected body", self.status));
        }
        if self.body.len() >= MAX_BODY {
            return Verdict::Fail(format!(
                "the expected text is not in the first {} KiB of the body",
                MAX_BODY / 1024
            ));
        }
        if complete || closed {
            return Verdict::Fail("the body lacks the expected text".into());
        }
        Verdict::More
    }

    /// Moves everything unread to the body (bounded), emptying `buf`.
    fn take_all(&mut self) {
        let room = MAX_BODY.saturating_sub(self.body.len());
        let unread = &self.buf[self.at.min(self.buf.len())..];
        self.body.extend_from_slice(&unread[..unread.len().min(room)]);
        self.buf.clear();
        self.at = 0;
    }

    /// Moves chunk data from `buf` to `body` (bounded); true once the last
    /// chunk is read. Only an unfinished size line stays in `buf`.
    fn dechunk(&mut self) -> Result<bool, String> {
        loop {
            let rest = &self.buf[self.at..];
            match self.chunk {
                Chunk::Done => return Ok(true),
                Chunk::Size => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        self.at += n;
                        self.chunk = if size == 0 { Chunk::Done } else { Chunk::Data(size) };
                    }
                    Ok(httparse::Status::Partial) if rest.len() > 1024 => {
                        return Err("a chunk size line over 1 KiB".into())
                    }
                    Ok(httparse::Status::Partial) => break,
                    Err(_) => return Err("a bad chunk size".into()),
                },
                Chunk::Data(left) => {
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    if take == 0 {
                        break;
                    }
                    let room = MAX_BODY.saturating_sub(self.body.len());
                    self.body.extend_from_slice(&rest[..take.min(room)]);
                    self.at += take;
                    let left = left - take as u64;
                    self.chunk = if left == 0 { Chunk::Crlf } else { Chunk::Data(left) };
                }
                Chunk::Crlf => {
                    if rest.len() < 2 {
                        break;
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err("a chunk not followed by CRLF".into());
                    }
                    self.at += 2;
                    self.chunk = Chunk::Size;
                }
            }
        }
        self.buf.drain(..self.at);
        self.at = 0;
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(body: Option<&str>) -> Expect {
        Expect {
            status: 200..=399,
            body: body.map(|b| b.as_bytes().to_vec()),
        }
    }

    /// Feeds `text` a few bytes at a time, then closes.
    fn judge(e: Expect, text: &[u8], step: usize) -> Verdict {
        let mut r = Response::new(e);
        for part in text.chunks(step.max(1)) {
            match r.feed(part) {
                Verdict::More => {}
                v => return v,
            }
        }
        r.closed()
    }

    #[test]
    fn status_and_body_are_judged_however_the_bytes_arrive() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
        for step in [1, 3, 1000] {
            assert_eq!(judge(expect(None), ok, step), Verdict::Pass("HTTP 200".into()));
            assert!(matches!(judge(expect(Some("o w")), ok, step), Verdict::Pass(_)));
            assert_eq!(
                judge(expect(Some("absent")), ok, step),
                Verdict::Fail("the body lacks the expected text".into())
            );
        }
        let down = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(judge(expect(None), down, 7), Verdict::Fail("HTTP 503".into()));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nheal\r\n5\r\nthy!!\r\n0\r\n\r\n";
        for step in [1, 2, 5, 1000] {
            assert!(
                matches!(judge(expect(Some("healthy")), chunked, step), Verdict::Pass(_)),
                "step {step}"
            );
            assert!(
                matches!(judge(expect(Some("sick")), chunked, step), Verdict::Fail(_)),
                "step {step}"
            );
        }
        let close = b"HTTP/1.0 200 OK\r\n\r\nstatus: green";
        assert!(matches!(judge(expect(Some("green")), close, 4), Verdict::Pass(_)));
    }

    #[test]
    fn garbage_huge_heads_and_endless_bodies_fail() {
        assert!(matches!(
            judge(expect(None), b"SSH-2.0-OpenSSH\r\n", 100),
            Verdict::Fail(_)
        ));
        assert!(
            matches!(judge(expect(None), b"HTTP/1.1 200", 100), Verdict::Fail(_)),
            "closed mid-head"
        );
        let mut huge = b"HTTP/1.1 200 OK\r\nX-Filler: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', 20 * 1024));
        let verdict = judge(expect(None), &huge, 512);
        assert!(
            matches!(verdict, Verdict::Fail(ref w) if w.contains("16 KiB")),
            "{verdict:?}"
        );
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..100 {
            many.extend_from_slice(format!("X-{i}: a\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let verdict = judge(expect(None), &many, 4096);
        assert!(
            matches!(verdict, Verdict::Fail(ref w) if w.contains("headers")),
            "{verdict:?}"
        );
        // An interim 103 before the real answer.
        let hints = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(
            judge(expect(Some("ok")), hints, 5),
            Verdict::Pass("HTTP 200 with the expected body".into())
        );
        let mut r = Response::new(expect(Some("never")));
        assert_eq!(
            r.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Verdict::More
        );
        let mut verdict = Verdict::More;
        for _ in 0..1000 {
            verdict = r.feed(b"400\r\n");
            if verdict != Verdict::More {
                break;
            }
            verdict = r.feed(&[b'z'; 1024]);
            if verdict != Verdict::More {
                break;
            }
            verdict = r.feed(b"\r\n");
            if verdict != Verdict::More {
                break;
            }
        }
        assert!(
            matches!(verdict, Verdict::Fail(ref w) if w.contains("64 KiB")),
            "{verdict:?}"
        );
        assert!(r.buf.len() < 4096, "nothing piles up: {}", r.buf.len());
        assert!(matches!(
            judge(expect(None), b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 50),
            Verdict::Fail(_)
        ));
        assert!(String::from_utf8(request("/health", "www.example.test"))
            .unwrap_or_default()
            .contains("Host: www.example.test\r\n"));
    }
}
