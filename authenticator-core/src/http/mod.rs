//! The core's HTTP/1.1 client, for the workspace API (`workspace::client`) and the relays
//! (`link::relay`): requests with a small body, answers read piece by piece under the caller's
//! limit. It replaces a general HTTP stack (reqwest, hyper, tower, url) the phone library did not
//! need (tests/bench/README.md, the library's size).
//!
//! - [`url`]: the strict URL grammar of every address the core connects to.
//! - [`wire`]: HTTP/1.1 framing on one connection; the server is not trusted.
//! - [`status`]: the status codes the callers name, and their reason phrases for messages.
//! - [`tls`]: rustls (ring) with the platform's certificate verifier, one configuration per
//!   process.
//!
//! Invariants: `https` always goes through TLS; plain `http` is spoken to whatever address the
//! caller hands over, and the callers allow it only for a loopback host in tests (the activation
//! link's and the relay URL's checks). No redirects are followed, nothing is decompressed. Every
//! request has one deadline covering connect, send, head and body. Idle connections are kept
//! per origin for [`IDLE_TIMEOUT`] and reused; a request that finds its reused connection closed
//! by the server before any answer is sent once more on a new connection. No proxy: the
//! `HTTPS_PROXY`-style variables reqwest read are ignored (phones have none; the platforms'
//! own proxy settings were never read either). Errors name no URL, header value or body.

pub mod status;
pub mod tls;
pub mod url;
pub mod wire;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

pub use self::url::{Url, UrlError};
use self::wire::{BodyState, Conn, Io};

/// How long opening a connection (TCP and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle connection is kept for reuse.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// The most idle connections kept per origin (a relay session holds a long-poll and a send).
const MAX_IDLE_PER_ORIGIN: usize = 4;

/// Why a request failed. None of these quotes a URL, a header value or a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No connection could be made (name lookup, TCP).
    #[error("cannot connect ({0})")]
    Connect(String),
    /// The TLS handshake or a TLS record failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The deadline passed.
    #[error("no answer in time")]
    Timeout,
    /// The connection failed after it was made.
    #[error("the connection failed ({0})")]
    Io(String),
    /// The server closed the connection without answering.
    #[error("the server closed the connection without answering")]
    Closed,
    /// The answer is not HTTP/1.1 as RFC 9112 frames it.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The body is longer than the caller reads.
    #[error("the body is over {0} bytes")]
    TooLarge(usize),
    /// The request itself cannot be written (a control character in the path or a header).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
}

impl Error {
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout)
    }

    /// The server was never reached (or not the server the name says: TLS).
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Tls(_))
    }

    fn from_io(e: std::io::Error) -> Self {
        if let Some(tls) = tls::rustls_error(&e) {
            return Self::Tls(tls.to_string());
        }
        match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Self::Closed,
            kind => Self::Io(kind.to_string()),
        }
    }
}

/// Where connections go: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    tls: bool,
    host: String,
    port: u16,
    /// The `Host` header: the host, and the port when it is not the default one.
    authority: String,
}

impl Origin {
    /// The origin of an `http` or `https` URL.
    pub fn of(url: &Url<'_>) -> Result<Self, UrlError> {
        let tls = match url.scheme {
            "https" => true,
            "http" => false,
            _ => return Err(UrlError::NotAUrl("the scheme must be http or https")),
        };
        let port = url.port_or_default().unwrap_or(if tls { 443 } else { 80 });
        let authority = match url.port {
            Some(port) => format!("{}:{port}", url.host),
            None => url.host.to_owned(),
        };
        Ok(Self {
            tls,
            host: url.bare_host().to_owned(),
            port,
            authority,
        })
    }
}

/// A request: method, target (path and query), extra header fields and body.
pub struct Request<'a> {
    pub method: &'static str,
    pub target: &'a str,
    pub headers: &'a [(&'static str, &'a str)],
    pub body: &'a [u8],
    /// The whole exchange, body included.
    pub timeout: Duration,
}

/// Idle connections per origin, each with the time it became idle.
type IdlePool = HashMap<Origin, Vec<(Conn, Instant)>>;

/// An HTTP client: a pool of idle connections per origin. Clones share the pool.
#[derive(Clone, Default)]
pub struct Client {
    idle: Arc<Mutex<IdlePool>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("http::Client")
    }
}

impl Client {
    /// The process's client: every caller shares its idle connections.
    pub fn shared() -> Self {
        static SHARED: OnceLock<Client> = OnceLock::new();
        SHARED.get_or_init(Self::default).clone()
    }

    /// Sends `request` to `origin` and reads the answer's head; the body is read from the
    /// [`Response`] before the same deadline.
    pub async fn send(&self, origin: &Origin, request: &Request<'_>) -> Result<Response, Error> {
        let bytes = encode(origin, request)?;
        let deadline = Instant::now() + request.timeout;
        let exchange = async {
            if let Some(conn) = self.take_idle(origin) {
                match exchange(conn, &bytes).await {
                    // The server closed the idle connection as it was taken: not an answer.
                    Err(Error::Closed | Error::Io(_)) => {}
                    other => return other,
                }
            }
            let conn = connect(origin, deadline).await?;
            exchange(conn, &bytes).await
        };
        let (conn, head) = tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| Error::Timeout)??;
        let state = BodyState::new(head.framing);
        let mut response = Response {
            status: head.status,
            headers: head.headers,
            body: Some(conn),
            state,
            keep_alive: head.keep_alive,
            deadline,
            pool: (self.clone(), origin.clone()),
        };
        response.release_if_done();
        Ok(response)
    }

    fn take_idle(&self, origin: &Origin) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        idle.retain(|_, conns| {
            conns.retain(|(_, since)| now.duration_since(*since) < IDLE_TIMEOUT);
            !conns.is_empty()
        });
        idle.get_mut(origin)?.pop().map(|(conn, _)| conn)
    }

    fn put_idle(&self, origin: &Origin, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.entry(origin.clone()).or_default();
        if conns.len() < MAX_IDLE_PER_ORIGIN {
            conns.push((conn, Instant::now()));
        }
    }

    /// Idle connections kept for `origin` (tests).
    #[cfg(test)]
    fn idle_count(&self, origin: &Origin) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.get(origin).map_or(0, Vec::len)
    }
}

async fn exchange(mut conn: Conn, request: &[u8]) -> Result<(Conn, wire::Head), Error> {
    conn.write_all(request).await?;
    let head = conn.read_head().await?;
    Ok((conn, head))
}

/// The request's bytes, after checking that nothing in it can break its framing.
fn encode(origin: &Origin, request: &Request<'_>) -> Result<Vec<u8>, Error> {
    let printable = |text: &str| text.bytes().all(|b| (0x20..0x7f).contains(&b));
    if !request.target.starts_with('/')
        || !printable(request.target)
        || request.target.contains(' ')
    {
        return Err(Error::BadRequest("the path has a space or control character"));
    }
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {}\r\n",
        request.method, request.target, origin.authority
    );
    for (name, value) in request.headers {
        if !printable(value) {
            return Err(Error::BadRequest("a header value has a control character"));
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !request.body.is_empty() || !matches!(request.method, "GET" | "DELETE") {
        head.push_str(&format!("content-length: {}\r\n", request.body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(request.body);
    Ok(bytes)
}

async fn connect(origin: &Origin, deadline: Instant) -> Result<Conn, Error> {
    let limit = deadline.min(Instant::now() + CONNECT_TIMEOUT);
    let open = async {
        let tcp = TcpStream::connect((origin.host.as_str(), origin.port))
            .await
            .map_err(|e| Error::Connect(e.kind().to_string()))?;
        // Requests are written whole; the answer must not wait for a delayed ACK.
        let _ = tcp.set_nodelay(true);
        if !origin.tls {
            return Ok(Conn::new(Box::new(tcp) as Box<dyn Io>));
        }
        let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
            .map_err(|_| Error::Connect("not a valid TLS server name".into()))?;
        let connector = tokio_rustls::TlsConnector::from(tls::config().map_err(Error::Tls)?);
        let stream = connector.connect(name, tcp).await.map_err(|e| {
            match tls::rustls_error(&e) {
                Some(tls) => Error::Tls(tls.to_string()),
                None => Error::Tls(format!("handshake failed ({})", e.kind())),
            }
        })?;
        Ok(Conn::new(Box::new(stream)))
    };
    tokio::time::timeout_at(limit, open)
        .await
        .map_err(|_| Error::Timeout)?
}

/// An answer: status and head fields now, the body as it is read.
pub struct Response {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    /// The connection while the body is unread; back in the pool once it is read whole.
    body: Option<Conn>,
    state: BodyState,
    keep_alive: bool,
    deadline: Instant,
    pool: (Client, Origin),
}

impl Response {
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first field named `name` (any case), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The announced body length (Content-Length), if the body is framed by one.
    pub fn content_length(&self) -> Option<u64> {
        match self.state {
            BodyState::Length { total, .. } => Some(total),
            _ => None,
        }
    }

    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let Some(conn) = self.body.as_mut() else {
            return Ok(None);
        };
        let piece = tokio::time::timeout_at(self.deadline, conn.read_body(&mut self.state))
            .await
            .map_err(|_| Error::Timeout)?;
        if piece.is_err() {
            self.body = None;
        }
        self.release_if_done();
        piece
    }

    /// The whole body, at most `limit` bytes: a longer announced length is refused before any
    /// of it is read, a longer stream as soon as it passes `limit`.
    pub async fn body(mut self, limit: usize) -> Result<Vec<u8>, Error> {
        if self.content_length().is_some_and(|len| len > limit as u64) {
            return Err(Error::TooLarge(limit));
        }
        let mut body = Vec::new();
        while let Some(piece) = self.chunk().await? {
            if piece.len() > limit - body.len() {
                return Err(Error::TooLarge(limit));
            }
            body.extend_from_slice(&piece);
        }
        Ok(body)
    }

    /// Hands the connection back once the body ended where its framing said.
    fn release_if_done(&mut self) {
        if self.state != BodyState::Done {
            return;
        }
        if let Some(conn) = self.body.take()
            && self.keep_alive
            && conn.is_drained()
        {
            self.pool.0.put_idle(&self.pool.1, conn);
        }
    }
}
