//! The client against a scripted server on loopback (port chosen at run time): what it sends,
//! connection reuse, and the exact error for each way a server in bad faith can answer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// What the server does after writing an answer.
#[derive(Clone, Copy, PartialEq)]
enum Then {
    KeepOpen,
    Close,
    /// Keeps the connection without another word.
    Hang,
}

struct Scripted {
    origin: Origin,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// A server answering the requests it gets, on any connection, with `answers` in order.
async fn scripted(answers: Vec<(&'static [u8], Then)>) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let origin = Origin::of(&Url::parse(&url).unwrap()).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let queue = Arc::new(Mutex::new(VecDeque::from(answers)));
    let (count, log) = (accepted.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let (queue, log) = (queue.clone(), log.clone());
            tokio::spawn(async move {
                loop {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    log.lock().unwrap().push(request);
                    let Some((answer, then)) = queue.lock().unwrap().pop_front() else {
                        return;
                    };
                    if socket.write_all(answer).await.is_err() {
                        return;
                    }
                    match then {
                        Then::KeepOpen => {}
                        Then::Close => return,
                        Then::Hang => std::future::pending::<()>().await,
                    }
                }
            });
        }
    });
    Scripted {
        origin,
        accepted,
        requests,
    }
}

/// One request: its head and a body of its Content-Length.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        request.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&request).to_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |n| n.trim().parse::<usize>().unwrap());
    let mut body = vec![0u8; length];
    socket.read_exact(&mut body).await.ok()?;
    request.extend(body);
    Some(request)
}

fn get(target: &str) -> Request<'_> {
    Request {
        method: "GET",
        target,
        headers: &[],
        body: &[],
        timeout: Duration::from_secs(10),
    }
}

/// The body of one GET to `/`, or its error.
async fn fetch(server: &Scripted, client: &Client) -> Result<Vec<u8>, Error> {
    client.send(&server.origin, &get("/")).await?.body(1000).await
}

async fn one_answer(answer: &'static [u8]) -> Result<Vec<u8>, Error> {
    answer_then(answer, Then::Close).await
}

/// One request to a server that sends `answer`, then does `then`.
async fn answer_then(answer: &'static [u8], then: Then) -> Result<Vec<u8>, Error> {
    let server = scripted(vec![(answer, then)]).await;
    fetch(&server, &Client::default()).await
}

/// A test's answer built at run time, for `scripted` (leaked: a few KiB per test process).
fn built(answer: Vec<u8>) -> &'static [u8] {
    answer.leak()
}

fn malformed(why: &str) -> Result<Vec<u8>, Error> {
    Err(Error::Malformed(why.into()))
}

#[tokio::test]
async fn the_request_is_written_as_http_1_1_with_its_length() {
    let server = scripted(vec![(b"HTTP/1.1 204 No Content\r\n\r\n", Then::KeepOpen)]).await;
    let request = Request {
        method: "POST",
        target: "/v1/x?a=1",
        headers: &[("x-timestamp", "12")],
        body: b"{}",
        timeout: Duration::from_secs(10),
    };
    let response = Client::default().send(&server.origin, &request).await.unwrap();
    assert_eq!(response.status(), 204);
    let port = server.origin.port;
    assert_eq!(
        String::from_utf8(server.requests.lock().unwrap()[0].clone()).unwrap(),
        format!(
            "POST /v1/x?a=1 HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nx-timestamp: 12\r\n\
             content-length: 2\r\n\r\n{{}}"
        )
    );
}

#[tokio::test]
async fn a_kept_alive_connection_is_reused_and_a_closing_one_is_not() {
    let server = scripted(vec![
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab", Then::KeepOpen),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\ncd\r\n0\r\n\r\n", Then::KeepOpen),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\ne", Then::KeepOpen),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nf", Then::KeepOpen),
    ])
    .await;
    let client = Client::default();
    for expected in [b"ab".as_slice(), b"cd", b"e", b"f"] {
        assert_eq!(fetch(&server, &client).await.unwrap(), expected);
    }
    // Three answers on the first connection; the `close` one ended it.
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(client.idle_count(&server.origin), 1);
}

#[tokio::test]
async fn a_reused_connection_the_server_closed_is_replaced_once() {
    let server = scripted(vec![
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", Then::Close),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb", Then::Close),
    ])
    .await;
    let client = Client::default();
    assert_eq!(fetch(&server, &client).await.unwrap(), b"a");
    assert_eq!(client.idle_count(&server.origin), 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fetch(&server, &client).await.unwrap(), b"b");
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_body_without_length_runs_to_the_close_and_the_connection_is_not_kept() {
    let server = scripted(vec![(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", Then::Close)]).await;
    let client = Client::default();
    assert_eq!(fetch(&server, &client).await.unwrap(), b"until the end");
    assert_eq!(client.idle_count(&server.origin), 0);
}

#[tokio::test]
async fn informational_answers_are_skipped_and_chunk_extensions_and_trailers_read() {
    assert_eq!(
        one_answer(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              3;name=value\r\nabc\r\n1\r\nd\r\n0\r\nX-Trailer: t\r\n\r\n"
        )
        .await,
        Ok(b"abcd".to_vec())
    );
}

#[tokio::test]
async fn endless_informational_answers_are_refused_after_8() {
    let nine = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(9);
    let answer = built([nine, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()].concat());
    assert_eq!(
        answer_then(answer, Then::Hang).await,
        malformed("more than 8 informational (1xx) answers")
    );
    // Eight are skipped.
    let eight = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(8);
    let answer = built([eight, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()].concat());
    assert_eq!(one_answer(answer).await, Ok(b"ok".to_vec()));
}

#[tokio::test]
async fn an_oversized_head_is_refused_at_16_kib() {
    let mut head = b"HTTP/1.1 200 OK\r\nX-Pad: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 40_000));
    assert_eq!(
        answer_then(built(head), Then::Hang).await,
        malformed("the response head is over 16384 bytes")
    );
}

#[tokio::test]
async fn too_many_header_fields_are_refused() {
    let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
    head.extend(b"X-A: b\r\n".repeat(65));
    head.extend(b"\r\n");
    assert_eq!(
        one_answer(built(head)).await,
        malformed("the response head has more than 64 fields")
    );
}

#[tokio::test]
async fn bad_chunk_sizes_are_refused() {
    for (body, why) in [
        (&b"zz\r\nab\r\n0\r\n\r\n"[..], "a chunk size is not a hexadecimal number"),
        (b"-1\r\n", "a chunk size is not a hexadecimal number"),
        (b"\r\n", "a chunk size is not a hexadecimal number"),
        (b"10000000000000000\r\n", "a chunk size is over 2^64 bytes"),
        (b"2\nab\r\n", "a chunk-size line does not end with CRLF"),
        (b"2\r\nabc\r\n0\r\n\r\n", "a chunk is longer than its size"),
    ] {
        let mut answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        answer.extend(body);
        assert_eq!(one_answer(built(answer)).await, malformed(why), "{body:?}");
    }
    let mut endless = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    endless.extend(std::iter::repeat_n(b'0', 2000));
    assert_eq!(
        answer_then(built(endless), Then::Hang).await,
        malformed("a chunk-size line is over 1024 bytes")
    );
}

#[tokio::test]
async fn truncated_bodies_are_errors_not_short_bodies() {
    assert_eq!(
        one_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd").await,
        malformed("the body ended after 4 of its 10 bytes")
    );
    assert_eq!(
        one_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab").await,
        malformed("the connection closed inside a chunked body")
    );
    assert_eq!(
        one_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n").await,
        malformed("the connection closed inside a chunked body")
    );
    assert_eq!(
        one_answer(b"HTTP/1.1 200 OK\r\nContent-Le").await,
        malformed("the connection closed inside the response head")
    );
    assert_eq!(one_answer(b"").await, Err(Error::Closed));
}

#[tokio::test]
async fn bad_framing_fields_are_refused() {
    for (answer, why) in [
        (
            &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"[..],
            "two different Content-Length values",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "a Content-Length is not a number"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", "a Content-Length is not a number"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "a Content-Length is over 2^64 bytes",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "transfer coding \"gzip, chunked\" (only chunked is read)",
        ),
        (
            b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
            "not an HTTP/1.1 response (invalid HTTP version)",
        ),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "the server switched protocols"),
    ] {
        assert_eq!(one_answer(answer).await, malformed(why), "{answer:?}");
    }
}

#[tokio::test]
async fn a_body_past_the_limit_is_refused_announced_or_streamed() {
    assert_eq!(
        one_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n").await,
        Err(Error::TooLarge(1000))
    );
    let mut answer = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    answer.extend([b'x'; 1001]);
    assert_eq!(
        answer_then(built(answer), Then::Hang).await,
        Err(Error::TooLarge(1000))
    );
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let server = scripted(vec![(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", Then::Hang)]).await;
    let request = Request {
        timeout: Duration::from_millis(300),
        ..get("/")
    };
    let response = Client::default().send(&server.origin, &request).await.unwrap();
    // The deadline covers the body too.
    assert_eq!(response.body(1000).await, Err(Error::Timeout));
    let server = scripted(vec![(b"", Then::Hang)]).await;
    let started = std::time::Instant::now();
    assert_eq!(
        Client::default().send(&server.origin, &request).await.err(),
        Some(Error::Timeout)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn nothing_can_be_smuggled_into_the_request() {
    let server = scripted(vec![]).await;
    let client = Client::default();
    let sent = |request: Request<'static>| {
        let (client, origin) = (client.clone(), server.origin.clone());
        async move { client.send(&origin, &request).await.err() }
    };
    assert_eq!(
        sent(get("/a b")).await,
        Some(Error::BadRequest("the path has a space or control character"))
    );
    assert_eq!(
        sent(get("/a\r\nx: y")).await,
        Some(Error::BadRequest("the path has a space or control character"))
    );
    assert_eq!(
        sent(Request {
            headers: &[("x-security-key-id", "a\r\nx-admin: 1")],
            ..get("/")
        })
        .await,
        Some(Error::BadRequest("a header value has a control character"))
    );
    assert_eq!(server.accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn nobody_listening_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let origin = Origin::of(&Url::parse(&url).unwrap()).unwrap();
    let error = Client::default().send(&origin, &get("/")).await.err().unwrap();
    assert_eq!(error, Error::Connect("connection refused".into()));
    assert!(error.is_connect());
}

#[tokio::test]
async fn https_to_a_plain_http_server_is_a_tls_error() {
    // A plain-http server answers the client hello with an HTTP error.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    });
    let origin = Origin::of(&Url::parse(&url).unwrap()).unwrap();
    let error = Client::default().send(&origin, &get("/")).await.err().unwrap();
    assert!(
        matches!(&error, Error::Tls(m) if m.starts_with("received corrupt message")),
        "{error:?}"
    );
    assert!(error.is_connect());
}
