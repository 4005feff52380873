//! The cloud relay transport (proto/link.md §5): the routing info of a pairing code, a client
//! for the relay's doors and sessions, and [`RelayLink`], the relay's [`Link`].
//!
//! Invariants: the relay is not trusted. Everything sent through it is already a Noise message
//! or a sealed frame; this module only adds sequence numbers so that a POST can be retried and
//! a GET resumed, and it checks that every frame it receives carries the number it asked for.
//! Plain `http://` is used only for a loopback relay and only when the caller allowed it
//! (tests); a relay URL from a pairing code is checked before any request is made.
//! Nothing a relay sends is buffered beyond the protocol's limits (link.md §5.4): a body whose
//! Content-Length exceeds its limit is refused before a byte of it is read, and a body without
//! one (chunked) is read chunk by chunk and refused as soon as it passes the limit, so a
//! hostile relay cannot make this side allocate more than one frame (65535 bytes) per request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::transport::{Link, LinkError, MAX_LINK_MESSAGE};
use crate::cbor::{self, MapReader};
use crate::http::{self, Origin, Request, Url, UrlError, status};
use crate::secret::random_array;

/// Length of door and session ids.
pub const ID_LEN: usize = 16;
/// A door or session id.
pub type RelayId = [u8; ID_LEN];
/// The longest relay URL in routing info.
pub const MAX_RELAY_URL: usize = 200;
/// How long one long-poll asks the relay to wait (the relay clamps it to its own limit).
pub const DEFAULT_POLL_WAIT: Duration = Duration::from_secs(25);
/// Attempts for one POST before a transport error is reported.
const SEND_ATTEMPTS: u32 = 4;
/// How many doors one wait may name (§5.4).
pub const MAX_DOORS_PER_WAIT: usize = 64;
/// A knock answer is door ‖ session (§5.4).
const KNOCK_LEN: usize = 2 * ID_LEN;
/// The most of an error body (§5.4: one line of text) read to quote it in an error.
pub const MAX_ERROR_BODY: usize = 1024;

/// How the phone or the pairing tool talks to relays.
#[derive(Debug, Clone, Copy)]
pub struct RelayConfig {
    /// Accept `http://` relays on a loopback host (tests and local emulators only).
    pub allow_insecure_loopback: bool,
    /// How long one long-poll waits at the relay.
    pub poll_wait: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            allow_insecure_loopback: false,
            poll_wait: DEFAULT_POLL_WAIT,
        }
    }
}

/// The relay part of a pairing code (QR key 3, proto/link.md §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// The relay's base URL, without a trailing `/`.
    pub relay_url: String,
    /// The PC's pairing door.
    pub pc_door: RelayId,
}

impl Routing {
    /// Canonical CBOR, as carried in the pairing code. The PC writes it (the `pc` feature);
    /// the phone only parses it.
    #[cfg(any(test, feature = "pc"))]
    pub fn to_cbor(&self) -> Vec<u8> {
        use crate::cbor::Value;
        cbor::encode(&Value::map([
            (Value::int(1), Value::Text(self.relay_url.clone())),
            (Value::int(2), Value::Bytes(self.pc_door.to_vec())),
        ]))
    }

    /// Parses routing info and checks the relay URL against `config`.
    pub fn parse(bytes: &[u8], config: &RelayConfig) -> Result<Self, LinkError> {
        let bad = |why: &str| LinkError::Protocol(format!("pairing code routing info: {why}"));
        let value = cbor::decode(bytes).map_err(|_| bad("not canonical CBOR"))?;
        let mut map = MapReader::new(value).map_err(|_| bad("not a CBOR map"))?;
        let relay_url = map
            .text(1)
            .map_err(|_| bad("relay URL is not text"))?
            .ok_or_else(|| bad("no relay URL"))?;
        let door = map
            .bytes(2)
            .map_err(|_| bad("door is not a byte string"))?
            .ok_or_else(|| bad("no door"))?;
        if !map.is_empty() {
            return Err(bad("unknown key"));
        }
        let pc_door: RelayId = door
            .as_slice()
            .try_into()
            .map_err(|_| bad("door is not 16 bytes"))?;
        check_relay_url(&relay_url, config)?;
        Ok(Self { relay_url, pc_door })
    }
}

/// Checks a relay base URL: https, or http to a loopback host when allowed; no trailing `/`,
/// no query or fragment, at most [`MAX_RELAY_URL`] bytes.
pub fn check_relay_url(url: &str, config: &RelayConfig) -> Result<(), LinkError> {
    let bad = |why: String| LinkError::Protocol(format!("relay URL: {why}"));
    if url.is_empty() || url.len() > MAX_RELAY_URL {
        return Err(bad(format!("must be 1 to {MAX_RELAY_URL} bytes")));
    }
    if url.ends_with('/') {
        return Err(bad("must not end with '/'".into()));
    }
    let parsed = Url::parse(url).map_err(|e| match e {
        UrlError::NotAUrl(why) => bad(format!("not a URL ({why})")),
        UrlError::Extras => bad("must not have a query, fragment, user or password".into()),
        // The text must be the URL's own normal form: what is stored is then exactly the
        // address requests go to (found by fuzzing).
        UrlError::NotNormal(why) => bad(format!(
            "must be written in normal form (lower-case scheme and host, no default port, \
             no spaces or dot segments): {why}"
        )),
    })?;
    match parsed.scheme {
        "https" => Ok(()),
        "http" if config.allow_insecure_loopback && parsed.is_loopback() => Ok(()),
        "http" => Err(bad(
            "plain http is refused (only a loopback test relay may use it)".into(),
        )),
        other => Err(bad(format!("unsupported scheme {other:?}"))),
    }
}

/// A fresh random door or session id.
pub fn new_id() -> Result<RelayId, LinkError> {
    random_array().map_err(|_| LinkError::Transport("the random number generator failed".into()))
}

/// The phone door of a pairing (§5.2): derived from the pairing secret, so never stored or sent.
pub fn phone_door(pairing_secret: &[u8]) -> RelayId {
    let mut door = [0u8; ID_LEN];
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, pairing_secret);
    // 16 bytes is far below HKDF-SHA-256's 8160-byte limit, so expand cannot fail.
    let _ = hk.expand(b"passkeyphone/link phone door", &mut door);
    door
}

pub fn hex(id: &RelayId) -> String {
    crate::hex::encode(id)
}

/// Which end of a session this side is: the phone sends `up`, the PC sends `down` (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    Phone,
    /// Only the PC's side (the `pc` feature) waits as the PC.
    #[cfg_attr(not(feature = "pc"), allow(dead_code))]
    Pc,
}

impl SessionEnd {
    fn send_dir(self) -> &'static str {
        match self {
            Self::Phone => "up",
            Self::Pc => "down",
        }
    }

    fn recv_dir(self) -> &'static str {
        match self {
            Self::Phone => "down",
            Self::Pc => "up",
        }
    }
}

/// A client for one relay.
#[derive(Clone)]
pub struct RelayClient {
    http: http::Client,
    origin: Origin,
    /// The relay URL's path, prefixed to every request's.
    prefix: String,
    base: String,
    config: RelayConfig,
}

impl std::fmt::Debug for RelayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayClient")
            .field("base", &self.base)
            .finish()
    }
}

impl RelayClient {
    /// A client for the relay at `base_url` (checked against `config`). All clients of a
    /// process share one HTTP client (one connection pool, the system's certificates loaded
    /// once): building one costs milliseconds.
    pub fn new(base_url: &str, config: RelayConfig) -> Result<Self, LinkError> {
        check_relay_url(base_url, &config)?;
        let url = Url::parse(base_url).map_err(|e| LinkError::Protocol(format!("relay URL: {e}")))?;
        let origin =
            Origin::of(&url).map_err(|e| LinkError::Protocol(format!("relay URL: {e}")))?;
        Ok(Self {
            http: http::Client::shared(),
            origin,
            prefix: url.path.to_owned(),
            base: base_url.to_owned(),
            config,
        })
    }

    /// The time limit of one request: a long-poll plus a margin.
    fn request_timeout(&self) -> Duration {
        self.config.poll_wait + Duration::from_secs(30)
    }

    #[cfg(any(test, feature = "pc"))]
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends one request to the relay (`path` after the relay URL's own path).
    async fn request(
        &self,
        method: &'static str,
        path: &str,
        body: &[u8],
    ) -> Result<http::Response, LinkError> {
        let target = format!("{}{path}", self.prefix);
        let request = Request {
            method,
            target: &target,
            headers: &[],
            body,
            timeout: self.request_timeout(),
        };
        self.http.send(&self.origin, &request).await.map_err(net)
    }

    /// Creates a session with a fresh id.
    pub async fn create_session(&self) -> Result<RelayId, LinkError> {
        let session = new_id()?;
        let url = format!("/v1/sessions/{}", hex(&session));
        let response = self.request("PUT", &url, &[]).await?;
        match response.status() {
            status::CREATED => Ok(session),
            other => Err(unexpected("creating a session", other, response).await),
        }
    }

    /// Tells whoever waits on `door` that `session` waits for them.
    pub async fn knock(&self, door: &RelayId, session: &RelayId) -> Result<(), LinkError> {
        let url = format!("/v1/doors/{}/knock", hex(door));
        let response = self.request("POST", &url, session).await?;
        match response.status() {
            status::NO_CONTENT => Ok(()),
            status::NOT_FOUND => Err(LinkError::Closed(
                "the relay no longer knows the session".into(),
            )),
            other => Err(unexpected("knocking", other, response).await),
        }
    }

    /// Waits up to the poll time for a knock on any of `doors`; `None` if none came.
    pub async fn wait_for_knock(
        &self,
        doors: &[RelayId],
    ) -> Result<Option<(RelayId, RelayId)>, LinkError> {
        if doors.is_empty() || doors.len() > MAX_DOORS_PER_WAIT {
            return Err(LinkError::Protocol(format!(
                "a wait names 1 to {MAX_DOORS_PER_WAIT} doors, not {}",
                doors.len()
            )));
        }
        let mut url = "/v1/doors?".to_owned();
        for door in doors {
            url.push_str("door=");
            url.push_str(&hex(door));
            url.push('&');
        }
        url.push_str(&format!("wait_ms={}", self.config.poll_wait.as_millis()));
        let response = self.request("GET", &url, &[]).await?;
        match response.status() {
            status::NO_CONTENT => Ok(None),
            status::OK => {
                let body = read_bounded(response, KNOCK_LEN, "a knock").await?;
                if body.len() != KNOCK_LEN {
                    return Err(LinkError::Protocol(format!(
                        "a knock is 32 bytes, the relay sent {}",
                        body.len()
                    )));
                }
                let mut door = [0u8; ID_LEN];
                let mut session = [0u8; ID_LEN];
                door.copy_from_slice(&body[..ID_LEN]);
                session.copy_from_slice(&body[ID_LEN..]);
                if !doors.contains(&door) {
                    return Err(LinkError::Protocol(
                        "the relay answered for a door nobody asked about".into(),
                    ));
                }
                Ok(Some((door, session)))
            }
            other => Err(unexpected("waiting for a knock", other, response).await),
        }
    }

    /// Closes a session (best effort: an unknown session is already closed).
    pub async fn delete_session(&self, session: &RelayId) -> Result<(), LinkError> {
        let url = format!("/v1/sessions/{}", hex(session));
        let response = self.request("DELETE", &url, &[]).await?;
        match response.status() {
            status::NO_CONTENT | status::NOT_FOUND => Ok(()),
            other => Err(unexpected("closing the session", other, response).await),
        }
    }

    /// This side's [`Link`] over `session`.
    pub fn link(&self, session: RelayId, end: SessionEnd) -> RelayLink {
        RelayLink {
            client: self.clone(),
            session,
            end,
            send_seq: Mutex::new(0),
            recv_seq: Mutex::new(0),
            closed: AtomicBool::new(false),
        }
    }
}

/// One side of a relay session as a [`Link`] (§5.3: explicit per-direction numbers).
pub struct RelayLink {
    client: RelayClient,
    session: RelayId,
    end: SessionEnd,
    send_seq: Mutex<u64>,
    recv_seq: Mutex<u64>,
    closed: AtomicBool,
}

impl std::fmt::Debug for RelayLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayLink")
            .field("session", &hex(&self.session))
            .field("end", &self.end)
            .finish()
    }
}

impl RelayLink {
    #[cfg(any(test, feature = "pc"))]
    pub fn session(&self) -> &RelayId {
        &self.session
    }

    fn frame_url(&self, dir: &str, seq: u64) -> String {
        format!("/v1/sessions/{}/{dir}/{seq}", hex(&self.session))
    }

    fn check_open(&self) -> Result<(), LinkError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(LinkError::Closed(
                "the session was closed on this side".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Link for RelayLink {
    async fn send(&self, message: &[u8]) -> Result<(), LinkError> {
        self.check_open()?;
        if message.is_empty() || message.len() > MAX_LINK_MESSAGE {
            return Err(LinkError::TooLong(message.len()));
        }
        let mut seq = self.send_seq.lock().await;
        let url = self.frame_url(self.end.send_dir(), *seq);
        let mut last_error = LinkError::Transport("no attempt made".into());
        for attempt in 0..SEND_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            let response = match self.client.request("POST", &url, message).await {
                Ok(response) => response,
                Err(e) => {
                    // Safe to retry: the relay stores a repeated POST of the same bytes once.
                    last_error = e;
                    continue;
                }
            };
            match response.status() {
                status::NO_CONTENT => {
                    *seq += 1;
                    return Ok(());
                }
                status::TOO_MANY_REQUESTS => {
                    last_error = LinkError::Transport("the relay's queue is full".into());
                }
                status::NOT_FOUND => {
                    return Err(LinkError::Closed(
                        "the relay closed the session (peer left or it expired)".into(),
                    ));
                }
                status::PAYLOAD_TOO_LARGE => return Err(LinkError::TooLong(message.len())),
                status::CONFLICT => {
                    return Err(LinkError::Protocol(format!(
                        "the relay refused frame {} of this direction",
                        *seq
                    )));
                }
                other => return Err(unexpected("sending", other, response).await),
            }
        }
        Err(last_error)
    }

    async fn recv(&self) -> Result<Vec<u8>, LinkError> {
        let mut seq = self.recv_seq.lock().await;
        loop {
            self.check_open()?;
            let url = format!(
                "{}?wait_ms={}",
                self.frame_url(self.end.recv_dir(), *seq),
                self.client.config.poll_wait.as_millis()
            );
            let response = self.client.request("GET", &url, &[]).await?;
            match response.status() {
                status::NO_CONTENT => continue,
                status::OK => {
                    let labelled = response
                        .header("relay-seq")
                        .and_then(|v| v.parse::<u64>().ok());
                    if labelled != Some(*seq) {
                        return Err(LinkError::Protocol(format!(
                            "asked the relay for frame {}, it answered with {labelled:?}",
                            *seq
                        )));
                    }
                    let body = read_bounded(response, MAX_LINK_MESSAGE, "a frame").await?;
                    if body.is_empty() {
                        return Err(LinkError::Protocol(format!(
                            "the relay sent a frame of {} bytes",
                            body.len()
                        )));
                    }
                    *seq += 1;
                    return Ok(body);
                }
                status::NOT_FOUND => {
                    return Err(LinkError::Closed(
                        "the relay closed the session (peer left or it expired)".into(),
                    ));
                }
                status::GONE => {
                    return Err(LinkError::Protocol(format!(
                        "the relay dropped frame {} before it was read",
                        *seq
                    )));
                }
                other => return Err(unexpected("receiving", other, response).await),
            }
        }
    }

    async fn close(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            let _ = self.client.delete_session(&self.session).await;
        }
    }

    async fn detach(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    fn kind(&self) -> &'static str {
        "relay"
    }
}

fn net(e: http::Error) -> LinkError {
    if e.is_timeout() {
        LinkError::Timeout("the relay did not answer in time".into())
    } else if e.is_connect() {
        LinkError::Transport("cannot reach the relay".into())
    } else {
        LinkError::Transport(format!("relay request failed: {e}"))
    }
}

/// The body of `response`, at most `limit` bytes (`what` names it in the error). A longer
/// announced Content-Length is refused before anything is read; a longer stream is refused
/// once it passes `limit`, and the connection is dropped rather than drained.
async fn read_bounded(
    response: http::Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, LinkError> {
    if let Some(len) = response.content_length().filter(|&len| len > limit as u64) {
        return Err(LinkError::Protocol(format!(
            "the relay announced {what} of {len} bytes; at most {limit} are allowed"
        )));
    }
    response.body(limit).await.map_err(|e| match e {
        http::Error::TooLarge(_) => LinkError::Protocol(format!(
            "the relay sent {what} of more than {limit} bytes; reading stopped there"
        )),
        e => net(e),
    })
}

/// At most the first `limit` bytes of `response`'s body (an error body, quoted in an error);
/// the rest is never read.
async fn read_prefix(mut response: http::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    body
}

async fn unexpected(what: &str, status: u16, response: http::Response) -> LinkError {
    let text = String::from_utf8_lossy(&read_prefix(response, MAX_ERROR_BODY).await).into_owned();
    let line: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(120)
        .collect();
    let status = http::status::with_reason(status);
    LinkError::Transport(format!("relay answered {status} when {what}: {line}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::Value;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The most a hostile relay of these tests writes before it holds the connection open
    /// without a word: a client that reads whole bodies would hang there (or hold it all).
    const HOSTILE_CAP: usize = 64 << 20;
    /// What loopback socket buffers can take in before a client that stopped reading makes
    /// the writer fail: well above Linux's defaults, far below `HOSTILE_CAP`.
    const BUFFERED: usize = 16 << 20;
    /// A client that refuses at once errs well within this.
    const FAIL_FAST: Duration = Duration::from_secs(10);

    /// A hostile relay on loopback (port chosen at run time): every request is answered with
    /// `head`, then `chunk` again and again until `HOSTILE_CAP` bytes or the client leaves.
    /// Returns the base URL and the count of body bytes written.
    async fn hostile_relay(head: &'static str, chunk: Vec<u8>) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let written = Arc::new(AtomicUsize::new(0));
        let counter = written.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counter = counter.clone();
                let chunk = chunk.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    while counter.load(Ordering::SeqCst) < HOSTILE_CAP {
                        if socket.write_all(&chunk).await.is_err() {
                            return;
                        }
                        counter.fetch_add(chunk.len(), Ordering::SeqCst);
                    }
                    std::future::pending::<()>().await;
                });
            }
        });
        (url, written)
    }

    /// An HTTP/1.1 chunked-encoding chunk of 8 KiB.
    fn http_chunk() -> Vec<u8> {
        let mut chunk = b"2000\r\n".to_vec();
        chunk.extend(std::iter::repeat_n(0x41u8, 0x2000));
        chunk.extend_from_slice(b"\r\n");
        chunk
    }

    fn client(url: &str) -> RelayClient {
        RelayClient::new(
            url,
            RelayConfig {
                allow_insecure_loopback: true,
                poll_wait: Duration::from_secs(1),
            },
        )
        .unwrap()
    }

    /// `outcome` came within `FAIL_FAST`, and the relay could not push more than the socket
    /// buffers hold once the client stopped reading.
    async fn failed_fast<T: std::fmt::Debug>(
        outcome: Result<Result<T, LinkError>, tokio::time::error::Elapsed>,
        written: &AtomicUsize,
    ) -> LinkError {
        let error = outcome
            .expect("the client kept reading the hostile relay's body")
            .expect_err("a body past the limit was accepted");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let written = written.load(Ordering::SeqCst);
        assert!(written < BUFFERED, "the relay wrote {written} bytes");
        error
    }

    #[tokio::test]
    async fn a_frame_announced_larger_than_the_limit_is_refused_before_it_is_read() {
        let (url, written) = hostile_relay(
            "HTTP/1.1 200 OK\r\nRelay-Seq: 0\r\nContent-Length: 100000000000\r\n\r\n",
            vec![0x42; 0x2000],
        )
        .await;
        let link = client(&url).link([1; 16], SessionEnd::Phone);
        let started = std::time::Instant::now();
        let error = failed_fast(tokio::time::timeout(FAIL_FAST, link.recv()).await, &written).await;
        assert_eq!(
            error.to_string(),
            LinkError::Protocol(
                "the relay announced a frame of 100000000000 bytes; at most 65535 are allowed"
                    .into()
            )
            .to_string()
        );
        assert!(started.elapsed() < FAIL_FAST);
    }

    #[tokio::test]
    async fn an_endless_chunked_frame_is_cut_at_the_limit() {
        let (url, written) = hostile_relay(
            "HTTP/1.1 200 OK\r\nRelay-Seq: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
            http_chunk(),
        )
        .await;
        let link = client(&url).link([1; 16], SessionEnd::Pc);
        let error = failed_fast(tokio::time::timeout(FAIL_FAST, link.recv()).await, &written).await;
        assert!(
            matches!(&error, LinkError::Protocol(m)
                if m == "the relay sent a frame of more than 65535 bytes; reading stopped there"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn an_endless_knock_is_cut_at_32_bytes() {
        let (url, written) = hostile_relay(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            http_chunk(),
        )
        .await;
        let error = failed_fast(
            tokio::time::timeout(FAIL_FAST, client(&url).wait_for_knock(&[[2; 16]])).await,
            &written,
        )
        .await;
        assert!(
            matches!(&error, LinkError::Protocol(m) if m.contains("a knock of more than 32 bytes")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn an_endless_error_body_is_quoted_from_its_first_kilobyte_only() {
        let (url, written) = hostile_relay(
            "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n",
            http_chunk(),
        )
        .await;
        let error = failed_fast(
            tokio::time::timeout(FAIL_FAST, client(&url).create_session()).await,
            &written,
        )
        .await;
        let LinkError::Transport(message) = &error else {
            panic!("{error:?}");
        };
        assert!(
            message.starts_with(
                "relay answered 500 Internal Server Error when creating a session: AAAA"
            ),
            "{message}"
        );
        assert!(message.len() < 200);
    }

    fn allow() -> RelayConfig {
        RelayConfig {
            allow_insecure_loopback: true,
            ..RelayConfig::default()
        }
    }

    #[test]
    fn routing_round_trips() {
        let routing = Routing {
            relay_url: "https://relay.example.com/base".into(),
            pc_door: [7; 16],
        };
        let bytes = routing.to_cbor();
        assert_eq!(
            Routing::parse(&bytes, &RelayConfig::default()).unwrap(),
            routing
        );
    }

    #[test]
    fn routing_refuses_bad_content() {
        let cfg = RelayConfig::default();
        let with = |url: &str, door: Vec<u8>| {
            cbor::encode(&Value::map([
                (Value::int(1), Value::Text(url.into())),
                (Value::int(2), Value::Bytes(door)),
            ]))
        };
        let err = |b: &[u8], c: &RelayConfig| Routing::parse(b, c).unwrap_err().to_string();
        assert!(
            err(&with("https://r.example", vec![1; 15]), &cfg).contains("door is not 16 bytes")
        );
        assert!(
            err(&with("http://127.0.0.1:9", vec![1; 16]), &cfg).contains("plain http is refused")
        );
        assert!(
            err(&with("http://example.com", vec![1; 16]), &allow())
                .contains("plain http is refused")
        );
        assert!(
            err(&with("https://r.example/", vec![1; 16]), &cfg).contains("must not end with '/'")
        );
        assert!(err(&with("https://r.example?x=1", vec![1; 16]), &cfg).contains("query"));
        assert!(err(&with("ftp://r.example", vec![1; 16]), &cfg).contains("unsupported scheme"));
        assert!(err(&[0xa0], &cfg).contains("no relay URL"));
        for odd in [
            "https://:secret@r.example",
            "https:r.example",
            "HTTPS://r.example",
            "https://r.example/\n",
            "https://r.example/ ",
            " https://r.example",
            "https://r.example/a/..",
            "https://r.example:443",
        ] {
            assert!(
                Routing::parse(&with(odd, vec![1; 16]), &cfg).is_err(),
                "{odd:?} was accepted"
            );
        }
        assert!(Routing::parse(&with("https://r.example:8443/a/b", vec![1; 16]), &cfg).is_ok());
        assert!(err(&[0xff], &cfg).contains("not canonical CBOR"));
        let extra = cbor::encode(&Value::map([
            (Value::int(1), Value::Text("https://r.example".into())),
            (Value::int(2), Value::Bytes(vec![1; 16])),
            (Value::int(3), Value::int(0)),
        ]));
        assert!(err(&extra, &cfg).contains("unknown key"));
        assert!(Routing::parse(&with("http://127.0.0.1:9", vec![1; 16]), &allow()).is_ok());
        assert!(Routing::parse(&with("http://localhost:9", vec![1; 16]), &allow()).is_ok());
        assert!(Routing::parse(&with("http://[::1]:9", vec![1; 16]), &allow()).is_ok());
    }

    #[test]
    fn ids_are_hex() {
        assert_eq!(hex(&[0xab; 16]), "ab".repeat(16));
    }
}
