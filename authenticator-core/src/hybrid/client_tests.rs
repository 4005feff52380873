//! The tunnel client's own checks: which URLs it opens, and the routing id header. The client
//! against a real and a hostile server is tested in `tests/tunnel-server/tests`.

use super::client::*;

const TUNNEL_ID: &str = "00112233445566778899AABBCCDDEEFF";

fn url_error(url: &str, allow: bool) -> TunnelClientError {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match rt.block_on(open_new(url, allow)) {
        Ok(_) => panic!("{url} was opened"),
        Err(e) => e,
    }
}

#[test]
fn plain_ws_is_refused_unless_loopback_and_allowed() {
    let refused = TunnelClientError::BadUrl(
        "plain ws is refused (only a loopback test server may use it)".into(),
    );
    for url in [
        format!("ws://127.0.0.1:1/cable/new/{TUNNEL_ID}"),
        format!("ws://localhost:1/cable/new/{TUNNEL_ID}"),
        format!("ws://[::1]:1/cable/new/{TUNNEL_ID}"),
    ] {
        assert_eq!(url_error(&url, false), refused, "{url}");
    }
    // Allowed, but not a loopback host.
    for url in [
        format!("ws://cable.ua5v.com/cable/new/{TUNNEL_ID}"),
        format!("ws://10.0.0.1:8080/cable/new/{TUNNEL_ID}"),
        format!("ws://127.0.0.1.example.com/cable/new/{TUNNEL_ID}"),
    ] {
        assert_eq!(url_error(&url, true), refused, "{url}");
    }
}

#[test]
fn ws_to_loopback_is_tried_when_allowed() {
    // Port 1 on loopback has no server: the URL passed the checks and the connection failed.
    let url = format!("ws://127.0.0.1:1/cable/new/{TUNNEL_ID}");
    match url_error(&url, true) {
        TunnelClientError::Connect { host, .. } => assert_eq!(host, "127.0.0.1"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wss_is_required() {
    let scheme = TunnelClientError::BadUrl("the scheme must be wss".into());
    for url in [
        format!("https://cable.ua5v.com/cable/new/{TUNNEL_ID}"),
        format!("http://127.0.0.1:1/cable/new/{TUNNEL_ID}"),
        format!("ftp://cable.ua5v.com/cable/new/{TUNNEL_ID}"),
    ] {
        assert_eq!(url_error(&url, true), scheme, "{url}");
    }
    assert_eq!(
        url_error("cable.ua5v.com/cable/new/00", true),
        TunnelClientError::BadUrl("not a URL".into())
    );
    let extras = TunnelClientError::BadUrl("must not have a query, fragment, user or password".into());
    for url in [
        format!("wss://cable.ua5v.com/cable/new/{TUNNEL_ID}?x=1"),
        format!("wss://cable.ua5v.com/cable/new/{TUNNEL_ID}#f"),
        format!("wss://user@cable.ua5v.com/cable/new/{TUNNEL_ID}"),
        format!("wss://u:p@cable.ua5v.com/cable/new/{TUNNEL_ID}"),
    ] {
        assert_eq!(url_error(&url, false), extras, "{url}");
    }
}

#[test]
fn wss_goes_to_tls_and_errors_name_only_the_host() {
    // A loopback port with nothing listening: the wss URL passes the checks, the connection
    // fails, and the error names the host but not the tunnel id in the path.
    let url = format!("wss://127.0.0.1:1/cable/new/{TUNNEL_ID}");
    let e = url_error(&url, false);
    assert!(matches!(e, TunnelClientError::Connect { ref host, .. } if host == "127.0.0.1"), "{e:?}");
    let text = format!("{e} {e:?}");
    assert!(!text.contains(TUNNEL_ID), "{text}");
    assert!(!text.to_lowercase().contains(&TUNNEL_ID.to_lowercase()), "{text}");
}

#[test]
fn the_platform_verifier_builds_a_tls_config() {
    // A wss connection to a loopback port that speaks no TLS: it gets as far as the TLS
    // handshake, so the platform verifier was built.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reason = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let (mut s, _) = listener.accept().await.unwrap();
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        });
        let e = open_new(&format!("wss://127.0.0.1:{port}/cable/new/{TUNNEL_ID}"), false)
            .await
            .err()
            .unwrap();
        server.await.unwrap();
        match e {
            TunnelClientError::Connect { reason, .. } => reason,
            other => panic!("{other:?}"),
        }
    });
    assert!(reason.starts_with("TLS: "), "{reason}");
}
