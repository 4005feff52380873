//! HTTP/1.1 on one connection (RFC 9112): writing a request, reading a response head, and
//! reading its body by the framing the head declares (Content-Length, chunked, or until close).
//!
//! Invariants: the server is not trusted. A head is at most [`MAX_HEAD`] bytes and
//! [`MAX_HEADERS`] fields; a chunk-size line or trailer line at most [`MAX_LINE`] bytes; a body
//! is handed out in pieces of at most [`PIECE`] bytes as it arrives, so what the caller keeps is
//! bounded by the caller. Anything that is not exactly HTTP/1.x framing is an error naming what
//! was wrong, never guessed at; a connection is reused only after a body that ended exactly
//! where its framing said, with nothing after it.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Error;

/// The longest response head read.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most header fields in a head.
pub const MAX_HEADERS: usize = 64;
/// The longest chunk-size or trailer line.
pub const MAX_LINE: usize = 1024;
/// The largest body piece handed out at once.
pub const PIECE: usize = 16 * 1024;
/// The most informational (1xx) answers skipped before the final one.
pub const MAX_INFORMATIONAL: usize = 8;

/// The byte stream under HTTP: TLS over TCP, or plain TCP to a loopback test server.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// One connection and the bytes read from it but not used yet.
pub struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    pos: usize,
}

/// How a response's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A response head.
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub framing: Framing,
    /// The connection may carry another request once this body is read.
    pub keep_alive: bool,
}

/// Where a body read stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyState {
    Length { left: u64, total: u64 },
    ChunkSize,
    ChunkData { left: u64 },
    UntilClose,
    Done,
}

impl BodyState {
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty | Framing::Length(0) => Self::Done,
            Framing::Length(total) => Self::Length { left: total, total },
            Framing::Chunked => Self::ChunkSize,
            Framing::UntilClose => Self::UntilClose,
        }
    }
}

fn malformed(why: impl Into<String>) -> Error {
    Error::Malformed(why.into())
}

impl Conn {
    pub fn new(io: Box<dyn Io>) -> Self {
        Self {
            io,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Nothing is left unread: the server sent no more than the framing said.
    pub fn is_drained(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.io.write_all(bytes).await.map_err(Error::from_io)?;
        self.io.flush().await.map_err(Error::from_io)
    }

    /// Reads more into the buffer; `false` at the end of the stream.
    async fn fill(&mut self) -> Result<bool, Error> {
        // Only unread bytes are kept, so the buffer stays as small as the limits on what is
        // unread (a head, a line, a piece), however long the server goes on.
        self.buf.drain(..self.pos);
        self.pos = 0;
        let mut chunk = [0u8; 8192];
        let n = self.io.read(&mut chunk).await.map_err(Error::from_io)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads a response head; up to [`MAX_INFORMATIONAL`] informational (1xx) answers before it
/// are skipped.
    pub async fn read_head(&mut self) -> Result<Head, Error> {
        for _ in 0..=MAX_INFORMATIONAL {
            let head = self.read_one_head().await?;
            if !(100..200).contains(&head.status) {
                return Ok(head);
            }
            if head.status == 101 {
                return Err(malformed("the server switched protocols"));
            }
        }
        Err(malformed(format!(
            "more than {MAX_INFORMATIONAL} informational (1xx) answers"
        )))
    }

    async fn read_one_head(&mut self) -> Result<Head, Error> {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut fields);
            let unread = &self.buf[self.pos..];
            match response.parse(unread) {
                Ok(httparse::Status::Complete(used)) => {
                    let head = head_of(&response)?;
                    self.pos += used;
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(malformed(format!(
                        "the response head has more than {MAX_HEADERS} fields"
                    )));
                }
                Err(e) => return Err(malformed(format!("not an HTTP/1.1 response ({e})"))),
            }
            if unread.len() >= MAX_HEAD {
                return Err(malformed(format!(
                    "the response head is over {MAX_HEAD} bytes"
                )));
            }
            let had = unread.len();
            if !self.fill().await? {
                return Err(if had == 0 {
                    Error::Closed
                } else {
                    malformed("the connection closed inside the response head")
                });
            }
        }
    }

    /// A CRLF-terminated line of at most [`MAX_LINE`] bytes, without its CRLF.
    async fn read_line(&mut self, what: &str) -> Result<Vec<u8>, Error> {
        loop {
            let unread = self.unread();
            if let Some(end) = unread.iter().position(|&b| b == b'\n') {
                if end > MAX_LINE {
                    break;
                }
                if end == 0 || unread[end - 1] != b'\r' {
                    return Err(malformed(format!("{what} does not end with CRLF")));
                }
                let line = unread[..end - 1].to_vec();
                self.pos += end + 1;
                return Ok(line);
            }
            if unread.len() > MAX_LINE {
                break;
            }
            if !self.fill().await? {
                return Err(malformed(
                    "the connection closed inside a chunked body",
                ));
            }
        }
        Err(malformed(format!("{what} is over {MAX_LINE} bytes")))
    }

    /// The next piece of the body, or `None` once it has ended (`state` becomes `Done`).
    pub async fn read_body(&mut self, state: &mut BodyState) -> Result<Option<Vec<u8>>, Error> {
        loop {
            match *state {
                BodyState::Done => return Ok(None),
                BodyState::Length { left, total } => {
                    if self.unread().is_empty() && !self.fill().await? {
                        return Err(malformed(format!(
                            "the body ended after {} of its {total} bytes",
                            total - left
                        )));
                    }
                    let piece = self.take(left);
                    let left = left - piece.len() as u64;
                    *state = if left == 0 {
                        BodyState::Done
                    } else {
                        BodyState::Length { left, total }
                    };
                    return Ok(Some(piece));
                }
                BodyState::ChunkSize => {
                    let line = self.read_line("a chunk-size line").await?;
                    let size = chunk_size(&line)?;
                    if size == 0 {
                        self.read_trailers().await?;
                        *state = BodyState::Done;
                        return Ok(None);
                    }
                    *state = BodyState::ChunkData { left: size };
                }
                BodyState::ChunkData { left: 0 } => {
                    while self.unread().len() < 2 {
                        if !self.fill().await? {
                            return Err(malformed(
                                "the connection closed inside a chunked body",
                            ));
                        }
                    }
                    if &self.unread()[..2] != b"\r\n" {
                        return Err(malformed("a chunk is longer than its size"));
                    }
                    self.pos += 2;
                    *state = BodyState::ChunkSize;
                }
                BodyState::ChunkData { left } => {
                    if self.unread().is_empty() && !self.fill().await? {
                        return Err(malformed(
                            "the connection closed inside a chunked body",
                        ));
                    }
                    let piece = self.take(left);
                    *state = BodyState::ChunkData {
                        left: left - piece.len() as u64,
                    };
                    return Ok(Some(piece));
                }
                BodyState::UntilClose => {
                    if self.unread().is_empty() && !self.fill().await? {
                        *state = BodyState::Done;
                        return Ok(None);
                    }
                    return Ok(Some(self.take(u64::MAX)));
                }
            }
        }
    }

    /// Up to `at_most` (and [`PIECE`]) of the buffered bytes.
    fn take(&mut self, at_most: u64) -> Vec<u8> {
        let n = self
            .unread()
            .len()
            .min(PIECE)
            .min(usize::try_from(at_most).unwrap_or(usize::MAX));
        let piece = self.unread()[..n].to_vec();
        self.pos += n;
        piece
    }

    /// The trailer section after the last chunk, read and ignored (at most [`MAX_HEAD`]).
    async fn read_trailers(&mut self) -> Result<(), Error> {
        let mut total = 0;
        loop {
            let line = self.read_line("a trailer line").await?;
            if line.is_empty() {
                return Ok(());
            }
            total += line.len() + 2;
            if total > MAX_HEAD {
                return Err(malformed(format!("the trailers are over {MAX_HEAD} bytes")));
            }
        }
    }
}

/// A chunk-size line: hexadecimal digits, then optional `;extensions` (ignored).
fn chunk_size(line: &[u8]) -> Result<u64, Error> {
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii_end();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(malformed("a chunk size is not a hexadecimal number"));
    }
    let digits = std::str::from_utf8(digits).map_err(|_| malformed("a chunk size is not text"))?;
    u64::from_str_radix(digits, 16).map_err(|_| malformed("a chunk size is over 2^64 bytes"))
}

/// The parts of a parsed head this client acts on, checked.
fn head_of(response: &httparse::Response<'_, '_>) -> Result<Head, Error> {
    let status = response.code.unwrap_or(0);
    let mut headers = Vec::with_capacity(response.headers.len());
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut close = response.version != Some(1);
    for field in response.headers.iter() {
        let value = field.value;
        if field.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(value).unwrap_or("").trim();
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(malformed("a Content-Length is not a number"));
            }
            let n: u64 = text
                .parse()
                .map_err(|_| malformed("a Content-Length is over 2^64 bytes"))?;
            if length.is_some_and(|l| l != n) {
                return Err(malformed("two different Content-Length values"));
            }
            length = Some(n);
        } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
            let text = std::str::from_utf8(value).unwrap_or("").trim();
            if chunked || !text.eq_ignore_ascii_case("chunked") {
                return Err(malformed(format!(
                    "transfer coding {:?} (only chunked is read)",
                    String::from_utf8_lossy(value)
                )));
            }
            chunked = true;
        } else if field.name.eq_ignore_ascii_case("connection") {
            let text = String::from_utf8_lossy(value);
            if text.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")) {
                close = true;
            }
        }
        headers.push((field.name.to_ascii_lowercase(), value.to_vec()));
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        // RFC 9112 §6.3: with both, chunked wins and the connection must not be reused.
        if length.is_some() {
            close = true;
        }
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        close = true;
        Framing::UntilClose
    };
    Ok(Head {
        status,
        headers,
        framing,
        keep_alive: !close,
    })
}
