//! The phone's hybrid session end to end on loopback: the reference tunnel server
//! (`tests/tunnel-server`, as a library), the phone's [`serve`] on a real engine and vault,
//! and the test browser ([`TestBrowser`]: the QR code, the advert read as a BLE scan would,
//! `client::connect`, the initiator's handshake). Each browser or server in bad faith ends the
//! session with its own error, and the advert is stopped every time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use p256::ecdsa::signature::Verifier;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::frames::Frame;
use super::keys::ADVERT_LEN;
use super::qr::{QrError, RequestType};
use super::session::*;
use super::session_browser::{Bend, BrowserSession, TestBrowser};
use crate::cbor::{self, MapReader, Value};
use crate::ctap::{AlwaysServe, CtapEngine, EngineConfig};
use crate::platform::VerificationOutcome;
use crate::request::{Origin, RequestSignals};
use crate::testkit::{Answer, FakeClock, ScriptedUser, TestProtector};
use crate::vault::Vault;

pub(super) const RP: &str = "example.com";
const CDH: [u8; 32] = [7; 32];

/// What the advertiser was asked to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AdvertEvent {
    Start(u16, [u8; ADVERT_LEN]),
    Stop,
}

/// Records the advertiser's calls and hands each advert to the test (the browser's scan).
pub(super) struct Radio {
    events: Mutex<Vec<AdvertEvent>>,
    adverts: mpsc::UnboundedSender<[u8; ADVERT_LEN]>,
    fail: Option<String>,
}

#[async_trait::async_trait]
impl Advertiser for Radio {
    async fn start(&self, uuid: u16, data: &[u8; ADVERT_LEN]) -> Result<(), String> {
        self.events
            .lock()
            .unwrap()
            .push(AdvertEvent::Start(uuid, *data));
        if let Some(reason) = &self.fail {
            return Err(reason.clone());
        }
        let _ = self.adverts.send(*data);
        Ok(())
    }

    fn stop(&self) {
        self.events.lock().unwrap().push(AdvertEvent::Stop);
    }
}

impl Radio {
    pub(super) fn new(fail: Option<String>) -> (Arc<Self>, mpsc::UnboundedReceiver<[u8; ADVERT_LEN]>) {
        let (tx, adverts) = mpsc::unbounded_channel();
        let radio = Arc::new(Radio {
            events: Mutex::new(Vec::new()),
            adverts: tx,
            fail,
        });
        (radio, adverts)
    }

    /// Exactly one advert started, for the hybrid UUID, and stopped once after it.
    pub(super) fn assert_started_and_stopped(&self) {
        let events = self.events.lock().unwrap().clone();
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(
            matches!(events[0], AdvertEvent::Start(SERVICE_UUID16, _)),
            "{events:?}"
        );
        assert_eq!(events[1], AdvertEvent::Stop);
    }

    pub(super) fn events(&self) -> Vec<AdvertEvent> {
        self.events.lock().unwrap().clone()
    }
}

/// The reference tunnel server on a loopback port, stopped when dropped.
pub(super) struct TunnelServer {
    port: u16,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TunnelServer {
    async fn start(limits: tunnel_server::Limits) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(tunnel_server::serve(listener, limits, async move {
            let _ = stopped.await;
        }));
        Self { port, _stop: stop }
    }

    /// What replaces `wss://{domain}`.
    pub(super) fn base_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
}

pub(super) struct Phone {
    _dir: tempfile::TempDir,
    pub(super) vault: Arc<Vault>,
    pub(super) engine: Arc<CtapEngine>,
    pub(super) user: Arc<ScriptedUser>,
    pub(super) server: TunnelServer,
}

fn phone_with(server: TunnelServer) -> Phone {
    let dir = tempfile::tempdir().unwrap();
    let vault = Arc::new(Vault::open(dir.path().join("v.db"), &TestProtector::sealing()).unwrap());
    let user = ScriptedUser::approving();
    let engine = CtapEngine::new(
        vault.clone(),
        Arc::new(AlwaysServe),
        user.clone(),
        Arc::new(FakeClock::at(1_800_000_000)),
        EngineConfig {
            user_action_timeout: Duration::from_secs(5),
            ..EngineConfig::default()
        },
    )
    .unwrap();
    Phone {
        _dir: dir,
        vault,
        engine: Arc::new(engine),
        user,
        server,
    }
}

pub(super) async fn phone() -> Phone {
    phone_with(TunnelServer::start(tunnel_server::Limits::default()).await)
}

/// A session running in its own task.
pub(super) struct Running {
    pub(super) task: tokio::task::JoinHandle<Result<Served, HybridError>>,
    pub(super) radio: Arc<Radio>,
    pub(super) adverts: mpsc::UnboundedReceiver<[u8; ADVERT_LEN]>,
    pub(super) signals: RequestSignals,
}

pub(super) const SHORT: Timeouts = Timeouts {
    browser: Duration::from_secs(2),
    request: Duration::from_secs(2),
    after_reply: Duration::from_secs(2),
};

impl Phone {
    pub(super) fn config(&self) -> HybridConfig {
        HybridConfig {
            tunnel_server_id: 0,
            tunnel_url_override: Some(self.server.base_url()),
            allow_insecure_loopback: true,
            timeouts: SHORT,
        }
    }

    pub(super) fn serve(&self, qr: String) -> Running {
        self.serve_with(qr, self.config(), None)
    }

    fn serve_with(&self, qr: String, config: HybridConfig, fail: Option<String>) -> Running {
        let (radio, adverts) = Radio::new(fail);
        let signals = new_signals();
        let task = tokio::spawn({
            let (engine, radio, signals) = (self.engine.clone(), radio.clone(), signals.clone());
            async move { serve(&qr, &config, radio.as_ref(), &engine, &signals, None).await }
        });
        Running {
            task,
            radio,
            adverts,
            signals,
        }
    }

    /// The browser reads the advert and joins.
    pub(super) async fn join(
        &self,
        browser: &TestBrowser,
        running: &mut Running,
        bend: Bend,
    ) -> Result<BrowserSession, String> {
        let advert = running.adverts.recv().await.unwrap();
        browser
            .connect(&advert, Some(&self.server.base_url()), bend)
            .await
    }
}

fn k(n: i64) -> Value {
    Value::int(n)
}

pub(super) fn make_credential(rp: &str) -> Vec<u8> {
    let mut request = vec![0x01];
    request.extend(cbor::encode(&Value::map([
        (k(1), Value::Bytes(CDH.to_vec())),
        (k(2), Value::map([(Value::from("id"), Value::from(rp))])),
        (
            k(3),
            Value::map([
                (Value::from("id"), Value::Bytes(b"user-1".to_vec())),
                (Value::from("name"), Value::from("alice")),
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
    request
}

pub(super) fn get_assertion(rp: &str, credential_id: &[u8]) -> Vec<u8> {
    let mut request = vec![0x02];
    request.extend(cbor::encode(&Value::map([
        (k(1), Value::from(rp)),
        (k(2), Value::Bytes(CDH.to_vec())),
        (
            k(3),
            Value::Array(vec![Value::map([
                (Value::from("id"), Value::Bytes(credential_id.to_vec())),
                (Value::from("type"), Value::from("public-key")),
            ])]),
        ),
        (k(5), Value::map([(Value::from("uv"), Value::Bool(true))])),
    ])));
    request
}

fn response_map(response: &[u8]) -> MapReader {
    assert_eq!(response[0], 0, "CTAP status 0x{:02x}", response[0]);
    MapReader::new(cbor::decode(&response[1..]).unwrap()).unwrap()
}

/// Checks a makeCredential answer as a relying party would (rp id hash, UP and UV, the
/// attested key) and returns the credential id and its public key (SEC1 uncompressed).
pub(super) fn check_registration(response: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut map = response_map(response);
    let auth_data = map.required_bytes(2i64).unwrap();
    assert_eq!(auth_data[..32], Sha256::digest(RP.as_bytes())[..]);
    let flags = auth_data[32];
    assert_eq!(flags & 0x45, 0x45, "UP, UV and AT set: {flags:08b}");
    let id_len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
    let credential_id = auth_data[55..55 + id_len].to_vec();
    let mut cose = MapReader::new(cbor::decode(&auth_data[55 + id_len..]).unwrap()).unwrap();
    let mut public = vec![0x04];
    public.extend(cose.required_bytes(-2i64).unwrap());
    public.extend(cose.required_bytes(-3i64).unwrap());
    (credential_id, public)
}

/// Checks a getAssertion answer's signature over authData || clientDataHash with `public`.
pub(super) fn check_assertion(response: &[u8], public: &[u8]) {
    let mut map = response_map(response);
    let auth_data = map.required_bytes(2i64).unwrap();
    let signature = map.required_bytes(3i64).unwrap();
    assert_eq!(auth_data[..32], Sha256::digest(RP.as_bytes())[..]);
    assert_eq!(auth_data[32] & 0x05, 0x05, "UP and UV set");
    let mut signed = auth_data.clone();
    signed.extend_from_slice(&CDH);
    let signature = p256::ecdsa::DerSignature::from_bytes(&signature).unwrap();
    p256::ecdsa::VerifyingKey::from_sec1_bytes(public)
        .unwrap()
        .verify(&signed, &signature)
        .unwrap();
}

/// Registers a passkey at [`RP`] over hybrid; returns its id and public key.
pub(super) async fn register(phone: &Phone) -> (Vec<u8>, Vec<u8>) {
    let browser = TestBrowser::new(RequestType::MakeCredential);
    let mut running = phone.serve(browser.qr_text());
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    let response = session.request(&make_credential(RP)).await.unwrap();
    session.shutdown().await.unwrap();
    let served = running.task.await.unwrap().unwrap();
    assert_eq!(
        served,
        Served {
            operation: Operation::MakeCredential,
            rp_id: RP.into(),
            status: 0
        }
    );
    running.radio.assert_started_and_stopped();
    check_registration(&response)
}

#[tokio::test]
async fn a_browser_registers_then_signs_in_with_that_passkey() {
    let phone = phone().await;
    let (credential_id, public) = register(&phone).await;

    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    // The post-handshake message offers CTAP with the hybrid getInfo: built-in UV, no PIN.
    let post = session.post_handshake.clone().unwrap();
    assert_eq!(post.features, Some(vec!["ctap".to_owned()]));
    let info_bytes = post.get_info.unwrap();
    let mut info = MapReader::new(cbor::decode(&info_bytes).unwrap()).unwrap();
    let options = info.map(4i64).unwrap().unwrap().into_entries();
    let option = |name: &str| {
        options
            .iter()
            .find(|(k, _)| *k == Value::from(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(option("uv"), Some(Value::Bool(true)));
    assert_eq!(option("clientPin"), None);
    assert_eq!(option("pinUvAuthToken"), None);
    // getInfo asked again over the tunnel gives the same answer.
    let again = session.request(&[0x04]).await.unwrap();
    assert_eq!(again[0], 0);
    assert_eq!(&again[1..], &info_bytes[..]);

    let response = session
        .request(&get_assertion(RP, &credential_id))
        .await
        .unwrap();
    check_assertion(&response, &public);
    session.shutdown().await.unwrap();
    let served = running.task.await.unwrap().unwrap();
    assert_eq!(served.operation, Operation::GetAssertion);
    assert_eq!(served.rp_id, RP);
    running.radio.assert_started_and_stopped();
    // One verification prompt per operation, naming the site.
    let prompts = phone.user.prompts();
    assert_eq!(prompts.len(), 2, "{prompts:?}");
    assert!(prompts.iter().all(|p| p.rp_id.as_deref() == Some(RP)));
}

#[tokio::test]
async fn a_browser_with_another_qr_secret_fails_the_handshake_and_gets_nothing() {
    let phone = phone().await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    let err = phone
        .join(&browser, &mut running, Bend::WrongSecret)
        .await
        .err()
        .unwrap();
    // The phone answered nothing: the browser's tunnel closed.
    assert!(err.contains("closed"), "{err}");
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::Handshake(super::handshake::HandshakeError::Authentication)
    );
    running.radio.assert_started_and_stopped();
    assert!(phone.user.prompts().is_empty());
}

#[tokio::test]
async fn a_tampered_handshake_message_fails_the_handshake() {
    let phone = phone().await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    assert!(
        phone
            .join(&browser, &mut running, Bend::TamperedMessage)
            .await
            .is_err()
    );
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::Handshake(super::handshake::HandshakeError::Authentication)
    );
    running.radio.assert_started_and_stopped();
}

#[tokio::test]
async fn a_command_after_the_shutdown_is_never_read() {
    let phone = phone().await;
    let (credential_id, _) = register(&phone).await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    let request = get_assertion(RP, &credential_id);
    assert_eq!(session.request(&request).await.unwrap()[0], 0);
    session.send(&Frame::Shutdown).await.unwrap();
    session.send(&Frame::Ctap(request)).await.unwrap();
    // No answer: the phone closed the tunnel after the shutdown.
    let after = session.recv().await.unwrap_err();
    assert!(after.contains("closed"), "{after}");
    assert_eq!(
        running.task.await.unwrap().unwrap().operation,
        Operation::GetAssertion
    );
    // One registration, one sign-in: the command after the shutdown prompted nobody.
    assert_eq!(phone.user.prompts().len(), 2);
}

#[tokio::test]
async fn a_second_operation_in_one_session_is_refused_and_ends_it() {
    let phone = phone().await;
    let (credential_id, _) = register(&phone).await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    let request = get_assertion(RP, &credential_id);
    assert_eq!(session.request(&request).await.unwrap()[0], 0);
    // CTAP2_ERR_NOT_ALLOWED, then the tunnel closes.
    assert_eq!(session.request(&request).await.unwrap(), vec![0x30]);
    assert!(session.recv().await.is_err());
    assert_eq!(
        running.task.await.unwrap().unwrap().operation,
        Operation::GetAssertion
    );
    assert_eq!(phone.user.prompts().len(), 2);
}

#[tokio::test]
async fn pin_and_management_commands_are_refused_over_hybrid() {
    let phone = phone().await;
    let (credential_id, _) = register(&phone).await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    let get_retries = {
        let mut r = vec![0x06];
        r.extend(cbor::encode(&Value::map([(k(1), k(1)), (k(2), k(1))])));
        r
    };
    // clientPin, reset, credentialManagement, selection: CTAP1_ERR_INVALID_COMMAND.
    for request in [get_retries, vec![0x07], vec![0x0A, 0xA0], vec![0x0B]] {
        assert_eq!(session.request(&request).await.unwrap(), vec![0x01]);
    }
    // An update frame is ignored; the passkey is still there to sign in with.
    session
        .send(&Frame::Update(cbor::encode(&Value::map([]))))
        .await
        .unwrap();
    let response = session
        .request(&get_assertion(RP, &credential_id))
        .await
        .unwrap();
    assert_eq!(response[0], 0);
    session.shutdown().await.unwrap();
    assert!(running.task.await.unwrap().is_ok());
}

#[tokio::test]
async fn the_user_declining_is_told_to_the_browser_and_named() {
    let phone = phone().await;
    phone.user.set_verification(Answer::No);
    phone
        .user
        .set_refused_verification(VerificationOutcome::Declined);
    let browser = TestBrowser::new(RequestType::MakeCredential);
    let mut running = phone.serve(browser.qr_text());
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    // CTAP2_ERR_OPERATION_DENIED reaches the browser.
    assert_eq!(
        session.request(&make_credential(RP)).await.unwrap(),
        vec![0x27]
    );
    session.shutdown().await.unwrap();
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::Declined
    );
    running.radio.assert_started_and_stopped();
}

#[tokio::test]
async fn a_browser_that_never_connects_times_out_and_the_advert_stops() {
    let phone = phone().await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    assert!(running.adverts.recv().await.is_some());
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::BrowserTimeout(2)
    );
    running.radio.assert_started_and_stopped();
}

#[tokio::test]
async fn cancelling_while_waiting_for_the_browser_stops_the_advert() {
    let phone = phone().await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    assert!(running.adverts.recv().await.is_some());
    running.signals.cancel();
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::Cancelled
    );
    running.radio.assert_started_and_stopped();
}

#[tokio::test]
async fn dropping_the_session_stops_the_advert() {
    let phone = phone().await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    assert!(running.adverts.recv().await.is_some());
    running.task.abort();
    let _ = running.task.await;
    running.radio.assert_started_and_stopped();
}

#[tokio::test]
async fn cancelling_during_the_prompt_withdraws_it_and_tells_the_browser() {
    let phone = phone().await;
    phone.user.set_verification(Answer::Never);
    let browser = TestBrowser::new(RequestType::MakeCredential);
    let mut running = phone.serve(browser.qr_text());
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    let signals = running.signals.clone();
    phone.user.on_prompt(move |_| signals.cancel());
    // CTAP2_ERR_KEEPALIVE_CANCEL reaches the browser, then the session ends.
    assert_eq!(
        session.request(&make_credential(RP)).await.unwrap(),
        vec![0x2D]
    );
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::Cancelled
    );
}

#[tokio::test]
async fn a_browser_that_shuts_down_during_the_prompt_ends_the_session() {
    let phone = phone().await;
    phone.user.set_verification(Answer::Never);
    let browser = TestBrowser::new(RequestType::MakeCredential);
    let mut running = phone.serve(browser.qr_text());
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    session
        .send(&Frame::Ctap(make_credential(RP)))
        .await
        .unwrap();
    while phone.user.prompts().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    session.shutdown().await.unwrap();
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::EndedDuringRequest
    );
}

#[tokio::test]
async fn a_browser_that_sends_no_request_times_out() {
    let phone = phone().await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    let _session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::RequestTimeout(2)
    );
}

#[tokio::test]
async fn a_browser_that_shuts_down_without_a_request_is_named() {
    let phone = phone().await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    let session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    session.shutdown().await.unwrap();
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::NoRequest
    );
}

#[tokio::test]
async fn a_forged_frame_ends_the_session_as_undecryptable() {
    let phone = phone().await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    session.send_raw(&[0u8; 48]).await.unwrap();
    assert!(matches!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::Decrypt(_)
    ));
}

#[tokio::test]
async fn the_tunnel_lifetime_running_out_ends_the_session() {
    let phone = phone_with(
        TunnelServer::start(tunnel_server::Limits {
            lifetime: Duration::from_millis(500),
            ..tunnel_server::Limits::default()
        })
        .await,
    );
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    let _session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::TunnelClosed("before a request")
    );
    running.radio.assert_started_and_stopped();
}

#[tokio::test]
async fn an_unreachable_tunnel_server_fails_before_any_advert() {
    let phone = phone().await;
    let mut config = phone.config();
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    config.tunnel_url_override = Some(format!("ws://127.0.0.1:{port}"));
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let running = phone.serve_with(browser.qr_text(), config, None);
    assert!(matches!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::Connect(_)
    ));
    assert!(running.radio.events().is_empty());
}

#[tokio::test]
async fn an_advertiser_that_fails_is_named_and_still_told_to_stop() {
    let phone = phone().await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let running = phone.serve_with(
        browser.qr_text(),
        phone.config(),
        Some("Bluetooth is off".into()),
    );
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::Advertise("Bluetooth is off".into())
    );
    running.radio.assert_started_and_stopped();
}

#[tokio::test]
async fn bad_qr_texts_get_their_own_error_before_any_connection() {
    let phone = phone().await;
    for (text, expected) in [
        ("https://example.com", QrError::NotFido),
        ("FIDO:/", QrError::Empty),
        ("FIDO:/12a", QrError::NonDigit),
        ("FIDO:/1234", QrError::BadLength),
        ("FIDO:/999", QrError::ChunkOutOfRange),
    ] {
        let running = phone.serve(text.into());
        assert_eq!(
            running.task.await.unwrap().unwrap_err(),
            HybridError::Qr(expected),
            "{text}"
        );
        assert!(running.radio.events().is_empty());
    }
}

#[tokio::test]
async fn a_reserved_tunnel_server_id_is_refused() {
    let phone = phone().await;
    let mut config = phone.config();
    config.tunnel_server_id = 2;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let running = phone.serve_with(browser.qr_text(), config, None);
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::TunnelServer(super::tunnel::TunnelError::ReservedId(2))
    );
}

#[test]
fn the_tunnel_url_names_the_server_or_its_override() {
    let mut config = HybridConfig {
        tunnel_server_id: 0,
        tunnel_url_override: None,
        allow_insecure_loopback: false,
        timeouts: Timeouts::DEFAULT,
    };
    let id = [0xAB; 16];
    assert_eq!(
        config.new_tunnel_url(&id).unwrap(),
        format!("wss://cable.ua5v.com/cable/new/{}", "AB".repeat(16))
    );
    config.tunnel_server_id = 266;
    assert!(
        config
            .new_tunnel_url(&id)
            .unwrap()
            .starts_with("wss://cable.wufkweyy3uaxb.com/cable/new/")
    );
    config.tunnel_url_override = Some("ws://127.0.0.1:9/".into());
    assert_eq!(
        config.new_tunnel_url(&id).unwrap(),
        format!("ws://127.0.0.1:9/cable/new/{}", "AB".repeat(16))
    );
}

#[tokio::test]
async fn the_engine_answers_a_hybrid_origin_with_the_hybrid_get_info() {
    let phone = phone().await;
    let ordinary = phone
        .engine
        .handle(&[0x04], &RequestSignals::new(Origin::app()))
        .await;
    let hybrid = phone.engine.handle(&[0x04], &new_signals()).await;
    let transports = |response: &[u8]| {
        let mut map = response_map(response);
        map.array(9i64).unwrap().unwrap()
    };
    let both = vec![Value::from("usb"), Value::from("hybrid")];
    assert_eq!(transports(&ordinary), both);
    assert_eq!(transports(&hybrid), both);
    // The hybrid form has no PIN/UV auth protocols (key 6); the ordinary one has.
    assert!(response_map(&ordinary).array(6i64).unwrap().is_some());
    assert!(response_map(&hybrid).array(6i64).unwrap().is_none());
    assert_eq!(&hybrid[1..], &phone.engine.hybrid_get_info().unwrap()[..]);
}

#[tokio::test]
async fn get_info_after_the_answer_does_not_keep_the_session_open() {
    let phone = phone().await;
    let (credential_id, _) = register(&phone).await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    let request = get_assertion(RP, &credential_id);
    assert_eq!(session.request(&request).await.unwrap()[0], 0);
    // A getInfo every 300 ms: the phone still closes once `after_reply` (2 s) has passed.
    let start = tokio::time::Instant::now();
    let mut answered = 0;
    while start.elapsed() < Duration::from_secs(10) {
        if session.request(&[0x04]).await.is_err() {
            break;
        }
        answered += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(start.elapsed() < Duration::from_secs(5), "{answered} answered");
    assert!(answered >= 1);
    assert!(running.task.await.unwrap().is_ok());
}

#[tokio::test]
async fn a_silent_assertion_is_refused_over_hybrid() {
    let phone = phone().await;
    let (credential_id, _) = register(&phone).await;
    let browser = TestBrowser::new(RequestType::GetAssertion);
    let mut running = phone.serve(browser.qr_text());
    let mut session = phone.join(&browser, &mut running, Bend::None).await.unwrap();
    let mut request = vec![0x02];
    request.extend(cbor::encode(&Value::map([
        (k(1), Value::from(RP)),
        (k(2), Value::Bytes(CDH.to_vec())),
        (
            k(3),
            Value::Array(vec![Value::map([
                (Value::from("id"), Value::Bytes(credential_id)),
                (Value::from("type"), Value::from("public-key")),
            ])]),
        ),
        (k(5), Value::map([(Value::from("up"), Value::Bool(false))])),
    ])));
    // CTAP2_ERR_UNSUPPORTED_OPTION, and no signature.
    assert_eq!(session.request(&request).await.unwrap(), vec![0x2B]);
    session.shutdown().await.unwrap();
    assert_eq!(
        running.task.await.unwrap().unwrap_err(),
        HybridError::RequestFailed(0x2B)
    );
    // Only the registration prompted.
    assert_eq!(phone.user.prompts().len(), 1);
}
