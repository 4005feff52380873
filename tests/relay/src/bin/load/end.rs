//! One end of a load session (the phone or the PC) as the relay sees it: at most one HTTP/1.1
//! connection, opened when the end becomes active, reused for each of its requests in turn,
//! closed when the end goes idle (`idle`) or is dropped.
//!
//! Invariant: an `End` never has two connections, and never two requests in flight, so the
//! tool's open files are exactly the ends that are active or waiting on a long-poll. A
//! connection that the peer closed between two requests (keep-alive ended) is replaced before
//! the next request; a request that fails on a live connection is an error, never retried.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

/// One answer: status, the `Relay-Seq` header if any, the body.
pub struct Answer {
    pub status: StatusCode,
    pub seq: Option<u64>,
    pub body: Bytes,
}

pub struct End {
    addr: SocketAddr,
    host: String,
    conn: Option<SendRequest<Full<Bytes>>>,
    timeout: Duration,
}

impl End {
    /// `base` is `http://HOST:PORT` with a literal address (the relay's or nginx's).
    pub fn new(base: &str, timeout: Duration) -> Result<Self, String> {
        let host = base.trim_start_matches("http://").trim_end_matches('/');
        let addr = host
            .parse()
            .map_err(|_| format!("not an http://ADDRESS:PORT URL: {base}"))?;
        Ok(Self {
            addr,
            host: host.to_owned(),
            conn: None,
            timeout,
        })
    }

    /// Closes the connection (the end goes idle and holds no open file).
    pub fn idle(&mut self) {
        self.conn = None;
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {e}"))?;
        let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        // Ends when `send` is dropped (or the peer closes): the socket is closed with it.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(send)
    }

    /// One request on this end's connection (opened if it has none or the peer closed it).
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: &[u8],
    ) -> Result<Answer, String> {
        let ready = match self.conn.as_mut() {
            Some(conn) => conn.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            self.conn = Some(self.connect().await?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err("no connection".to_owned());
        };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host)
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| format!("request: {e}"))?;
        let exchange = async {
            let response = conn
                .send_request(request)
                .await
                .map_err(|e| format!("error sending request: {e}"))?;
            let status = response.status();
            let seq = response
                .headers()
                .get("relay-seq")
                .and_then(|h| h.to_str().ok())
                .and_then(|t| t.parse().ok());
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("error reading the body: {e}"))?
                .to_bytes();
            Ok::<_, String>(Answer { status, seq, body })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                self.conn = None;
                Err(e)
            }
            Err(_) => {
                self.conn = None;
                Err("timed out".to_owned())
            }
        }
    }
}
