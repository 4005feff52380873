//! `Authenticator::serve_hybrid` and `cancel_hybrid` as the apps call them: the reference
//! tunnel server on loopback, the core's test browser, the app's advertiser recorded. What
//! the API adds to the session: the options (tunnel server, override URL), one session at a
//! time, cancellation by `cancel_hybrid` or by dropping the call (a cancelled Kotlin
//! coroutine), and each failure as its `AuthenticatorError` variant, the advert stopped.
//! Linking: consent only through `serve_hybrid_and_link`, the list, a reconnect through
//! `serve_linked_browser`, and `unlink_browser`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use authenticator_core::api::{
    AdvertiserError, Authenticator, AuthenticatorError, AuthenticatorOptions, HybridAdvertiser,
    HybridOperation, HybridServed, default_options,
};
use authenticator_core::cbor::{self, Value};
use authenticator_core::hybrid::qr::RequestType;
use authenticator_core::hybrid::session_browser::{Bend, TestBrowser};
use authenticator_core::platform::SoftwareKeyProtector;
use authenticator_core::testkit::ScriptedUser;
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Start(u16, usize),
    Stop,
}

/// The app's advertiser: records each call and hands the advert to the test's browser.
struct Radio {
    calls: Mutex<Vec<Call>>,
    adverts: mpsc::UnboundedSender<Vec<u8>>,
    refuse: Option<AdvertiserError>,
}

impl HybridAdvertiser for Radio {
    fn start_advertising(&self, uuid: u16, data: Vec<u8>) -> Result<(), AdvertiserError> {
        self.calls
            .lock()
            .unwrap()
            .push(Call::Start(uuid, data.len()));
        if let Some(e) = &self.refuse {
            return Err(e.clone());
        }
        let _ = self.adverts.send(data);
        Ok(())
    }

    fn stop_advertising(&self) {
        self.calls.lock().unwrap().push(Call::Stop);
    }
}

fn radio(refuse: Option<AdvertiserError>) -> (Arc<Radio>, mpsc::UnboundedReceiver<Vec<u8>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Arc::new(Radio {
            calls: Mutex::new(Vec::new()),
            adverts: tx,
            refuse,
        }),
        rx,
    )
}

/// The next advert the phone started, or a failure naming the wait (never a hang: a session that
/// ended before advertising drops nothing, since the test holds the radio and its sender).
async fn next_advert(adverts: &mut mpsc::UnboundedReceiver<Vec<u8>>) -> Vec<u8> {
    tokio::time::timeout(Duration::from_secs(30), adverts.recv())
        .await
        .expect("the phone did not advertise within 30 s")
        .expect("the radio was dropped before the phone advertised")
}

impl Radio {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The advert started once (UUID 0xFFF9, 20 bytes), then stopped once.
    fn started_and_stopped(&self) -> bool {
        self.calls() == vec![Call::Start(0xFFF9, 20), Call::Stop]
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    server_url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn fixture() -> Fixture {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tunnel_server::serve(
        listener,
        tunnel_server::Limits::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    Fixture {
        dir: tempfile::tempdir().unwrap(),
        server_url: format!("ws://127.0.0.1:{port}"),
        _stop: stop,
    }
}

impl Fixture {
    fn options(&self) -> AuthenticatorOptions {
        AuthenticatorOptions {
            allow_insecure_loopback: true,
            hybrid_tunnel_url: Some(self.server_url.clone()),
            ..default_options("test phone".into())
        }
    }

    fn open(&self, options: AuthenticatorOptions) -> Arc<Authenticator> {
        Authenticator::open(
            self.dir.path().to_string_lossy().into_owned(),
            Arc::new(SoftwareKeyProtector::new(
                self.dir.path().join("device.key"),
            )),
            ScriptedUser::approving(),
            None,
            options,
        )
        .unwrap()
    }
}

fn make_credential(rp: &str) -> Vec<u8> {
    let k = Value::int;
    let mut r = vec![0x01];
    r.extend(cbor::encode(&Value::map([
        (k(1), Value::Bytes(vec![9; 32])),
        (k(2), Value::map([(Value::from("id"), Value::from(rp))])),
        (
            k(3),
            Value::map([
                (Value::from("id"), Value::Bytes(b"u".to_vec())),
                (Value::from("name"), Value::from("carol")),
            ]),
        ),
        (
            k(4),
            Value::Array(vec![Value::map([
                (Value::from("alg"), Value::int(-7)),
                (Value::from("type"), Value::from("public-key")),
            ])]),
        ),
        (
            k(7),
            Value::map([
                (Value::from("rk"), Value::Bool(true)),
                (Value::from("uv"), Value::Bool(true)),
            ]),
        ),
    ])));
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_hybrid_registers_for_a_browser_and_says_what_it_served() {
    let f = fixture().await;
    let phone = f.open(f.options());
    let (radio, mut adverts) = radio(None);
    let browser = TestBrowser::new(RequestType::MakeCredential);
    let serving = tokio::spawn({
        let (phone, radio, qr) = (phone.clone(), radio.clone(), browser.qr_text());
        async move { phone.serve_hybrid(qr, radio).await }
    });
    let advert = next_advert(&mut adverts).await;
    let mut session = browser
        .connect(&advert, Some(&f.server_url), Bend::None)
        .await
        .unwrap();
    assert_eq!(
        session
            .request(&make_credential("shop.example"))
            .await
            .unwrap()[0],
        0
    );
    session.shutdown().await.unwrap();
    assert_eq!(
        serving.await.unwrap().unwrap(),
        HybridServed {
            operation: HybridOperation::Register,
            rp_id: "shop.example".into()
        }
    );
    assert!(radio.started_and_stopped(), "{:?}", radio.calls());
    assert_eq!(phone.passkeys().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_with_another_secret_is_handshake_failed() {
    let f = fixture().await;
    let phone = f.open(f.options());
    let (radio, mut adverts) = radio(None);
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let serving = tokio::spawn({
        let (phone, radio, qr) = (phone.clone(), radio.clone(), browser.qr_text());
        async move { phone.serve_hybrid(qr, radio).await }
    });
    let advert = next_advert(&mut adverts).await;
    assert!(
        browser
            .connect(&advert, Some(&f.server_url), Bend::WrongSecret)
            .await
            .is_err()
    );
    let err = serving.await.unwrap().unwrap_err();
    assert!(
        matches!(err, AuthenticatorError::HandshakeFailed { .. }),
        "{err:?}"
    );
    assert!(radio.started_and_stopped());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_and_settings_are_refused_before_any_advert() {
    let f = fixture().await;
    let phone = f.open(f.options());
    let (radio, _adverts) = radio(None);
    assert_eq!(
        phone
            .serve_hybrid("PASSKEYPHONE:/123".into(), radio.clone())
            .await
            .unwrap_err(),
        AuthenticatorError::InvalidInput {
            reason: "this is not a usable hybrid QR code: the text does not start with FIDO:/"
                .into()
        }
    );
    drop(phone);
    let qr = TestBrowser::new(RequestType::GetAssertion).qr_text();
    let no_uv = f.open(AuthenticatorOptions {
        builtin_user_verification: false,
        ..f.options()
    });
    assert!(matches!(
        no_uv.serve_hybrid(qr.clone(), radio.clone()).await,
        Err(AuthenticatorError::Unsupported { .. })
    ));
    drop(no_uv);
    let reserved = f.open(AuthenticatorOptions {
        hybrid_tunnel_server_id: 7,
        ..f.options()
    });
    assert_eq!(
        reserved.serve_hybrid(qr, radio.clone()).await.unwrap_err(),
        AuthenticatorError::InvalidInput {
            reason: "the tunnel server is not usable: tunnel server id 7 is reserved and names \
                     no domain"
                .into()
        }
    );
    assert!(radio.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_advertiser_that_cannot_advertise_is_a_bluetooth_error() {
    let f = fixture().await;
    let phone = f.open(f.options());
    let (radio, _adverts) = radio(Some(AdvertiserError::PermissionDenied));
    let qr = TestBrowser::new(RequestType::GetAssertion).qr_text();
    assert_eq!(
        phone.serve_hybrid(qr, radio.clone()).await.unwrap_err(),
        AuthenticatorError::Bluetooth {
            reason: "the app may not advertise over Bluetooth (permission not granted)".into()
        }
    );
    assert!(radio.started_and_stopped());
}

#[tokio::test(flavor = "multi_thread")]
async fn one_session_at_a_time_and_cancel_hybrid_ends_it() {
    let f = fixture().await;
    let phone = f.open(f.options());
    let (radio, mut adverts) = radio(None);
    let qr = TestBrowser::new(RequestType::GetAssertion).qr_text();
    let first = tokio::spawn({
        let (phone, radio, qr) = (phone.clone(), radio.clone(), qr.clone());
        async move { phone.serve_hybrid(qr, radio).await }
    });
    next_advert(&mut adverts).await;
    let (other, _) = self::radio(None);
    assert!(matches!(
        phone.serve_hybrid(qr.clone(), other.clone()).await,
        Err(AuthenticatorError::InvalidState { .. })
    ));
    assert!(other.calls().is_empty());
    phone.cancel_hybrid();
    assert_eq!(
        first.await.unwrap().unwrap_err(),
        AuthenticatorError::Cancelled {
            reason: "the session was cancelled".into()
        }
    );
    assert!(radio.started_and_stopped());
    // The slot is free again. A new code, as a browser shows for each attempt: the tunnel server
    // refuses a second connection for a tunnel id it still holds (409), and under load it may
    // hold the cancelled session's for a moment after the phone closed it.
    let qr = TestBrowser::new(RequestType::GetAssertion).qr_text();
    let (again, mut again_adverts) = self::radio(None);
    let second = tokio::spawn({
        let (phone, again) = (phone.clone(), again.clone());
        async move { phone.serve_hybrid(qr, again).await }
    });
    next_advert(&mut again_adverts).await;
    phone.cancel_hybrid();
    assert!(matches!(
        second.await.unwrap(),
        Err(AuthenticatorError::Cancelled { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_call_ends_the_session_and_stops_the_advert() {
    let f = fixture().await;
    let phone = f.open(f.options());
    let (radio, mut adverts) = radio(None);
    let qr = TestBrowser::new(RequestType::GetAssertion).qr_text();
    let call = tokio::spawn({
        let (phone, radio, qr) = (phone.clone(), radio.clone(), qr.clone());
        async move { phone.serve_hybrid(qr, radio).await }
    });
    next_advert(&mut adverts).await;
    // As a cancelled coroutine: the future is dropped mid-wait.
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !radio.started_and_stopped() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(radio.started_and_stopped(), "{:?}", radio.calls());
    // A new session may start at once (with a new code: see the test above).
    let qr = TestBrowser::new(RequestType::GetAssertion).qr_text();
    let (again, mut again_adverts) = self::radio(None);
    let second = tokio::spawn({
        let (phone, again) = (phone.clone(), again.clone());
        async move { phone.serve_hybrid(qr, again).await }
    });
    next_advert(&mut again_adverts).await;
    phone.cancel_hybrid();
    assert!(second.await.unwrap().is_err());
}

/// The name the user gives a linked browser is checked before anything starts: no tunnel, no
/// advert, no link.
#[tokio::test(flavor = "multi_thread")]
async fn a_linked_browser_name_out_of_bounds_is_refused_before_anything_starts() {
    let f = fixture().await;
    let phone = f.open(f.options());
    let qr = TestBrowser::new(RequestType::MakeCredential)
        .linking()
        .qr_text();
    let expected = AuthenticatorError::InvalidInput {
        reason: "a linked browser's name must have 1 to 64 characters, without control characters"
            .into(),
    };
    for name in [
        "".to_owned(),
        "   ".to_owned(),
        "x".repeat(65),
        "Work\nlaptop".to_owned(),
    ] {
        let (radio, _adverts) = radio(None);
        assert_eq!(
            phone
                .serve_hybrid_and_link(qr.clone(), name.clone(), radio.clone())
                .await
                .unwrap_err(),
            expected,
            "{name:?}"
        );
        assert!(radio.calls().is_empty(), "{name:?}");
    }
    assert!(phone.linked_browsers().unwrap().is_empty());
    // 64 characters (not bytes) is within the bound: the session starts and advertises.
    let (radio, mut adverts) = radio(None);
    let serving = tokio::spawn({
        let (phone, radio) = (phone.clone(), radio.clone());
        async move {
            phone
                .serve_hybrid_and_link(qr, "\u{e9}".repeat(64), radio)
                .await
        }
    });
    next_advert(&mut adverts).await;
    phone.cancel_hybrid();
    assert!(matches!(
        serving.await.unwrap(),
        Err(AuthenticatorError::Cancelled { .. })
    ));
}

/// Linking through the API: the app's consent (`serve_hybrid_and_link`), the list, a reconnect
/// without a QR code (`serve_linked_browser`), and unlinking, after which the link is gone.
#[tokio::test(flavor = "multi_thread")]
async fn a_linked_browser_is_listed_served_again_and_unlinked() {
    use authenticator_core::hybrid::session::Operation;
    use authenticator_core::hybrid::session_browser::LinkedTestBrowser;

    let f = fixture().await;
    let phone = f.open(f.options());
    assert!(phone.linked_browsers().unwrap().is_empty());
    let (radio1, mut adverts) = radio(None);
    let browser = TestBrowser::new(RequestType::MakeCredential).linking();
    let serving = tokio::spawn({
        let (phone, radio, qr) = (phone.clone(), radio1.clone(), browser.qr_text());
        async move {
            phone
                .serve_hybrid_and_link(qr, "Work laptop".into(), radio)
                .await
        }
    });
    let advert = next_advert(&mut adverts).await;
    let mut session = browser
        .connect(&advert, Some(&f.server_url), Bend::None)
        .await
        .unwrap();
    let info = session.recv_linking().await.unwrap();
    assert_eq!(info.name, "test phone");
    assert_eq!(
        session
            .request(&make_credential("shop.example"))
            .await
            .unwrap()[0],
        0
    );
    session.shutdown().await.unwrap();
    serving.await.unwrap().unwrap();
    let listed = phone.linked_browsers().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "Work laptop");
    assert_eq!(listed[0].id, info.link_id.to_vec());
    assert!(listed[0].linked_at > 1_700_000_000);
    assert_eq!(listed[0].last_used_at, listed[0].linked_at);

    // The browser comes back without a QR code.
    let linked = LinkedTestBrowser { info };
    let (radio2, mut adverts) = radio(None);
    let serving = tokio::spawn({
        let (phone, radio, id) = (phone.clone(), radio2.clone(), listed[0].id.clone());
        async move { phone.serve_linked_browser(id, radio).await }
    });
    let (tunnel, nonce) = loop {
        // The phone may not hold its listening socket yet (404).
        match linked
            .dial(&f.server_url, Operation::MakeCredential, None)
            .await
        {
            Ok(dialled) => break dialled,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let advert = next_advert(&mut adverts).await;
    let mut session = linked
        .finish(tunnel, &nonce, &advert, Bend::None)
        .await
        .unwrap();
    assert_eq!(
        session
            .request(&make_credential("mail.example"))
            .await
            .unwrap()[0],
        0
    );
    session.shutdown().await.unwrap();
    assert_eq!(
        serving.await.unwrap().unwrap(),
        HybridServed {
            operation: HybridOperation::Register,
            rp_id: "mail.example".into()
        }
    );
    assert!(radio2.started_and_stopped(), "{:?}", radio2.calls());
    assert_eq!(phone.passkeys().unwrap().len(), 2);

    // Unlinked: gone from the list, and the app can no longer serve it.
    let id = listed[0].id.clone();
    assert!(phone.unlink_browser(id.clone()).unwrap());
    assert!(!phone.unlink_browser(id.clone()).unwrap());
    assert!(phone.linked_browsers().unwrap().is_empty());
    let (radio3, _adverts) = radio(None);
    match phone.serve_linked_browser(id, radio3.clone()).await {
        Err(AuthenticatorError::InvalidInput { reason }) => {
            assert_eq!(reason, "no browser is linked with this id");
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    assert!(radio3.calls().is_empty());
}

/// `serve_hybrid` never links, even when the QR asks.
#[tokio::test(flavor = "multi_thread")]
async fn serve_hybrid_without_consent_links_nothing() {
    let f = fixture().await;
    let phone = f.open(f.options());
    let (radio, mut adverts) = radio(None);
    let browser = TestBrowser::new(RequestType::MakeCredential).linking();
    let serving = tokio::spawn({
        let (phone, radio, qr) = (phone.clone(), radio.clone(), browser.qr_text());
        async move { phone.serve_hybrid(qr, radio).await }
    });
    let advert = next_advert(&mut adverts).await;
    let mut session = browser
        .connect(&advert, Some(&f.server_url), Bend::None)
        .await
        .unwrap();
    // No update frame: the next frame is the answer.
    assert_eq!(
        session
            .request(&make_credential("shop.example"))
            .await
            .unwrap()[0],
        0
    );
    session.shutdown().await.unwrap();
    serving.await.unwrap().unwrap();
    assert!(phone.linked_browsers().unwrap().is_empty());
}
