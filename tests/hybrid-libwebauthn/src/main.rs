//! A second independent browser side for issue 15's hybrid transport: libwebauthn 0.11.0 and
//! its PXP crate pxp 0.1.0 (linux-credentials, from crates.io; LGPL-2.1-or-later, linked into
//! this test binary only) register and sign in through the virtual phone.
//!
//! pxp is a real browser side with no test seams: it scans with btleplug 0.11 over BlueZ, and
//! its tunnel client only dials `wss://{domain}/cable/connect/...` on port 443, the domain
//! derived from the advert's server id (`cable.ua5v.com` for 0), trusting the system's roots
//! (rustls-native-certs, which reads `SSL_CERT_FILE`). So `run.sh` runs this binary inside a
//! private network and mount namespace where `/etc/hosts` maps the assigned domains to
//! 127.0.0.1, port 443 is free, and `SSL_CERT_FILE` holds a CA made at run time; this binary
//! puts a TLS front ([`tls_front`]) on 127.0.0.1:443 before the ws:// tunnel server. The phone
//! reaches the same tunnel server directly (`--tunnel-url ws://... --allow-insecure-loopback`).
//! The Bluetooth side is the hybrid-e2e suite's private bus and fake BlueZ (python-dbusmock's
//! bluez5 template), included from `tests/hybrid-e2e/src` rather than written twice.
//!
//! Per tunnel server (ours and `cable-tunnel-server-backend`): register (QR without key 6),
//! sign in with that passkey (QR key 6 as the CTAP 2.3 array), a second operation on one
//! tunnel, the user declining, and an advert made for another QR code.
//!
//! What each peer could do in bad faith here: the browser (libwebauthn) only gets a credential
//! when the phone's user approves (the declining case), and one operation per scan (a second
//! gets CTAP2_ERR_NOT_ALLOWED); a phone that scanned another browser's code cannot draw this
//! browser into a tunnel; the tunnel server and the TLS front see only the Noise handshake and
//! ciphertext; the relying party ([`rp`]) accepts nothing it did not verify itself. Prints
//! `N passed, N failed` and exits non-zero on any failure.

#[path = "../../hybrid-e2e/src/bus.rs"]
#[allow(dead_code)]
mod bus;
#[path = "../../hybrid-e2e/src/fake_bluez.rs"]
#[allow(dead_code)]
mod fake_bluez;
#[path = "../../hybrid-e2e/src/paths.rs"]
#[allow(dead_code)]
mod paths;
#[path = "../../hybrid-e2e/src/phone.rs"]
#[allow(dead_code)]
mod phone;
#[path = "../../hybrid-e2e/src/process.rs"]
#[allow(dead_code)]
mod process;
mod rp;
mod tls_front;
#[path = "../../hybrid-e2e/src/tunnels.rs"]
#[allow(dead_code)]
mod tunnels;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libwebauthn::ops::webauthn::{
    GetAssertionRequest, JsonFormat, MakeCredentialRequest, OriginValidation, RequestOrigin,
    RequestSettings, WebAuthnIDLResponse as _,
};
use libwebauthn::transport::hybrid::known_devices::{
    ClientPayloadHint, EphemeralDeviceInfoStore, PxpKnownDevice, PxpKnownDeviceInfo,
};
use libwebauthn::transport::hybrid::qr_code_device::{
    PxpQrCodeDevice, PxpTransports, QrCodeOperationHint,
};
use libwebauthn::transport::{Channel as _, ChannelSettings, Device as _};
use libwebauthn::webauthn::{CtapError, WebAuthn as _, WebAuthnError};

use fake_bluez::FakeBluez;
use phone::{PhoneProcess, PhoneRun, UserAnswers};
use rp::{Registered, RelyingParty};
use tunnels::{TunnelKind, TunnelServer};

const RP_ID: &str = "example.org";
const ORIGIN: &str = "https://example.org";
/// The user handle the relying party gives the account (base64url of "hybrid-libwebauthn-user").
const USER_ID: &[u8] = b"hybrid-libwebauthn-user";
/// Where the TLS front listens: the port pxp's `wss://` URLs imply (RFC 6455 §3).
const FRONT: &str = "127.0.0.1:443";
/// One ceremony, browser side, from the QR code to the response.
const CEREMONY_LIMIT: Duration = Duration::from_secs(90);
/// The name the phone's user gives the linked browser.
const LINKED_BROWSER_NAME: &str = "libwebauthn test browser";
/// How long the linked browser retries dialling while the phone starts listening.
const DIAL_RETRY: Duration = Duration::from_millis(500);
/// How long the browser may still run once the phone has ended.
const PHONE_GONE_GRACE: Duration = Duration::from_secs(10);

struct Args {
    work_dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut work_dir, mut cert, mut key) = (None, None, None);
    while let Some(arg) = args.next() {
        let value = args.next().map(PathBuf::from);
        match arg.as_str() {
            "--work-dir" => work_dir = value,
            "--tls-cert" => cert = value,
            "--tls-key" => key = value,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let usage = "usage: hybrid-libwebauthn --work-dir DIR --tls-cert PEM --tls-key PEM";
    Ok(Args {
        work_dir: work_dir.ok_or(usage)?,
        cert: cert.ok_or(usage)?,
        key: key.ok_or(usage)?,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    // btleplug finds the private bus only through this variable, read when it connects.
    // SAFETY: no other thread exists yet (the runtime is built below).
    unsafe {
        std::env::set_var(
            "DBUS_SYSTEM_BUS_ADDRESS",
            bus::bus_address_for(&args.work_dir),
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

/// One tunnel server with the TLS front before it, the fake BlueZ, and the phone's folder.
struct Context {
    bluez: Arc<FakeBluez>,
    tunnel: TunnelServer,
    phone_dir: PathBuf,
}

/// The TLS front's task, stopped (and port 443 freed) when dropped.
struct Front(tokio::task::JoinHandle<()>);

impl Drop for Front {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn start(
    args: &Args,
    bluez: &Arc<FakeBluez>,
    kind: TunnelKind,
) -> Result<(Context, Front), String> {
    let tunnel = TunnelServer::start(kind)?;
    let backend: SocketAddr = tunnel
        .base_url()
        .trim_start_matches("ws://")
        .parse()
        .map_err(|e| format!("tunnel server address {}: {e}", tunnel.base_url()))?;
    let listen = FRONT.parse().map_err(|e| format!("{FRONT}: {e}"))?;
    let front = Front(tls_front::start(listen, backend, &args.cert, &args.key).await?);
    // A phone per tunnel server, so each run registers its own passkey.
    let phone_dir = args.work_dir.join(format!("phone-{}", kind.name()));
    std::fs::create_dir_all(&phone_dir).map_err(|e| format!("{}: {e}", phone_dir.display()))?;
    let ctx = Context {
        bluez: bluez.clone(),
        tunnel,
        phone_dir,
    };
    Ok((ctx, front))
}

async fn run(args: Args) -> ExitCode {
    let mut passed = 0;
    let mut failed = 0;
    let mut report = |name: &str, result: &Result<String, String>| match result {
        Ok(detail) => {
            passed += 1;
            println!("ok   {name}: {detail}");
        }
        Err(e) => {
            failed += 1;
            println!("FAIL {name}: {e}");
        }
    };
    let bluez = bus::PrivateBus::start(&args.work_dir)
        .and_then(|bus| FakeBluez::start(&bus).map(|bluez| (bus, Arc::new(bluez))));
    let (_bus, bluez) = match bluez {
        Ok(started) => started,
        Err(e) => {
            report("starting the private bus and the fake BlueZ", &Err(e));
            println!("{passed} passed, {failed} failed");
            return ExitCode::FAILURE;
        }
    };
    let rp = RelyingParty {
        rp_id: RP_ID.into(),
        origin: ORIGIN.into(),
    };
    for &kind in TunnelKind::ALL {
        let name = kind.name();
        let (ctx, _front) = match start(&args, &bluez, kind).await {
            Ok(started) => started,
            Err(e) => {
                report(&format!("{name}: starting it and the TLS front"), &Err(e));
                continue;
            }
        };
        let registered = register(&ctx, &rp).await;
        report(
            &format!("{name}: libwebauthn registers a passkey through the phone"),
            &registered
                .as_ref()
                .map(|(r, detail, _)| {
                    format!(
                        "credential {}…, {detail}",
                        &hex::encode(&r.credential_id)[..16]
                    )
                })
                .map_err(Clone::clone),
        );
        let signed_in = match &registered {
            Ok((registered, _, _)) => sign_in(&ctx, &rp, registered).await,
            Err(_) => Err("skipped: no passkey was registered".into()),
        };
        report(
            &format!(
                "{name}: libwebauthn signs in with it (discoverable; QR key 6 as a CTAP 2.3 array)"
            ),
            &signed_in,
        );
        let second = match &registered {
            Ok((registered, _, _)) => second_operation(&ctx, &rp, registered).await,
            Err(_) => Err("skipped: no passkey was registered".into()),
        };
        report(
            &format!("{name}: a second operation on the same tunnel is not allowed"),
            &second,
        );
        if kind.has_contact_route() {
            let linked = match &registered {
                Ok((registered, _, device)) => linked_sign_in(&ctx, &rp, registered, device).await,
                Err(_) => Err("skipped: no passkey was registered".into()),
            };
            report(
                &format!(
                    "{name}: the linked libwebauthn signs in again without a QR code \
                     (PxpKnownDevice through /cable/contact/)"
                ),
                &linked,
            );
        } else {
            println!(
                "skip {name}: state-assisted reconnect (this server has no /cable/contact/ route)"
            );
        }
        report(
            &format!("{name}: the phone's user declines: operation denied, no assertion"),
            &declined(&ctx).await,
        );
        report(
            &format!("{name}: an advert for another QR code is ignored, nothing dialled"),
            &foreign_advert(&ctx).await,
        );
    }
    report(
        "libwebauthn scanned through the fake BlueZ adapter",
        &scanned(&bluez),
    );
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn settings() -> RequestSettings<'static> {
    // A browser checks the origin against rp.id before calling the authenticator; that check
    // is libwebauthn's, not the phone's, and needs a public suffix list: trusted here.
    RequestSettings {
        origin: OriginValidation::Trust,
    }
}

fn origin() -> Result<RequestOrigin, String> {
    ORIGIN
        .try_into()
        .map_err(|e| format!("origin {ORIGIN}: {e:?}"))
}

fn fresh_challenge() -> Vec<u8> {
    // Distinct per ceremony; its secrecy is not what these tests are about.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut challenge = b"hybrid-libwebauthn-".to_vec();
    challenge.extend_from_slice(&nanos.to_be_bytes());
    challenge
}

/// Runs one ceremony: the QR device's text goes to a new phone process, the phone's adverts
/// through the fake BlueZ, and `ceremony` on the libwebauthn channel; returns the ceremony's
/// result and what the phone did.
async fn with_phone<T, F>(
    ctx: &Context,
    hint: QrCodeOperationHint,
    transports: PxpTransports,
    answers: UserAnswers,
    link_as: Option<&str>,
    ceremony: F,
) -> Result<(Result<T, String>, PhoneRun, Vec<PxpKnownDeviceInfo>), String>
where
    F: AsyncFnOnce(
        &mut libwebauthn::transport::hybrid::channel::HybridChannel,
    ) -> Result<T, String>,
{
    let store = Arc::new(EphemeralDeviceInfoStore::default());
    let mut device = PxpQrCodeDevice::new_persistent(hint, store.clone(), transports)
        .map_err(|e| format!("making the QR code: {e}"))?;
    let qr = device.qr_code.to_string();
    let mut hybrid_args = vec![qr.as_str()];
    if let Some(name) = link_as {
        hybrid_args.extend(["--link-as", name]);
    }
    let phone = PhoneProcess::start_with(
        &ctx.phone_dir,
        &hybrid_args,
        &ctx.tunnel.base_url(),
        answers,
    )?;
    let bluez = ctx.bluez.clone();
    let mut phone = tokio::task::spawn_blocking(move || phone.serve(&bluez, CEREMONY_LIMIT));
    let started = Instant::now();
    let ceremony = async {
        let mut channel = device
            .channel(ChannelSettings::default())
            .await
            .map_err(|e| format!("opening the hybrid channel: {e}"))?;
        let result = tokio::time::timeout(CEREMONY_LIMIT, ceremony(&mut channel))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {CEREMONY_LIMIT:?}")));
        // Shutdown to the phone, as Chromium sends after the response.
        channel.close().await;
        result
    };
    tokio::pin!(ceremony);
    let (outcome, run) = tokio::select! {
        outcome = &mut ceremony => (outcome, phone.await),
        run = &mut phone => {
            // The phone ended first (served, failed, or never started): the browser has its
            // answer or the tunnel's close by then, or it would wait for nothing.
            let outcome = tokio::time::timeout(PHONE_GONE_GRACE, &mut ceremony)
                .await
                .unwrap_or_else(|_| Err(format!(
                    "libwebauthn was still waiting {PHONE_GONE_GRACE:?} after the phone ended"
                )));
            (outcome, run)
        }
    };
    let run = run.map_err(|e| format!("the phone's relay task: {e}"))??;
    let known: Vec<PxpKnownDeviceInfo> = store
        .list_all()
        .await
        .into_iter()
        .map(|(_, info)| info)
        .collect();
    eprintln!(
        "  ceremony took {:?}; known devices stored from the phone's linking info: {}",
        started.elapsed(),
        known.len()
    );
    Ok((outcome, run, known))
}

fn expect_phone_ok(run: &PhoneRun) -> Result<(), String> {
    if run.done != "hybrid done: OK" || !run.exit_ok {
        return Err(format!(
            "the phone said {:?} (exit ok: {})",
            run.done, run.exit_ok
        ));
    }
    Ok(())
}

async fn register(
    ctx: &Context,
    rp: &RelyingParty,
) -> Result<(Registered, String, PxpKnownDeviceInfo), String> {
    let challenge = fresh_challenge();
    let json = serde_json::json!({
        "rp": {"id": RP_ID, "name": "Example Relying Party"},
        "user": {
            "id": URL_SAFE_NO_PAD.encode(USER_ID),
            "name": "alice@example.org",
            "displayName": "Alice"
        },
        "challenge": URL_SAFE_NO_PAD.encode(&challenge),
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        "timeout": 60000,
        "excludeCredentials": [],
        "authenticatorSelection": {"residentKey": "required", "userVerification": "required"},
        "attestation": "none"
    })
    .to_string();
    let request = MakeCredentialRequest::prepare(&origin()?, &json, &settings())
        .await
        .map_err(|e| format!("libwebauthn refused the creation options: {e}"))?;
    let (outcome, run, known) = with_phone(
        ctx,
        QrCodeOperationHint::MakeCredential,
        PxpTransports::CloudAssistedOnly,
        UserAnswers::default(),
        Some(LINKED_BROWSER_NAME),
        async |channel| {
            let response = channel
                .webauthn_make_credential(&request)
                .await
                .map_err(|e| format!("makeCredential: {e}"))?;
            response
                .to_json_string(&request, JsonFormat::Minified)
                .map_err(|e| format!("serialising the registration: {e}"))
        },
    )
    .await?;
    let response_json = outcome?;
    expect_phone_ok(&run)?;
    let registered = rp.verify_registration(&response_json, &challenge, true)?;
    // The QR came from `new_persistent` (key 4 true) and the phone's user consented to link:
    // pxp checked the update frame's signature and stored the phone.
    let [device] = known.as_slice() else {
        return Err(format!(
            "known devices stored from the phone's linking info: {}, expected 1",
            known.len()
        ));
    };
    if run.linked_browsers != Some(1) || device.name != phone::PHONE_NAME {
        return Err(format!(
            "the phone lists {:?} linked browsers, pxp stored the phone as {:?}",
            run.linked_browsers, device.name
        ));
    }
    Ok((
        registered,
        format!(
            "verified by the relying party; the radio reported the advert {}x; \
             known devices stored from the phone's linking info: 1 ({:?})",
            run.reports, device.name
        ),
        device.clone(),
    ))
}

async fn sign_in(
    ctx: &Context,
    rp: &RelyingParty,
    registered: &Registered,
) -> Result<String, String> {
    let challenge = fresh_challenge();
    let json = serde_json::json!({
        "challenge": URL_SAFE_NO_PAD.encode(&challenge),
        "timeout": 60000,
        "rpId": RP_ID,
        "allowCredentials": [],
        "userVerification": "required"
    })
    .to_string();
    let request = GetAssertionRequest::prepare(&origin()?, &json, &settings())
        .await
        .map_err(|e| format!("libwebauthn refused the request options: {e}"))?;
    let (outcome, run, _) = with_phone(
        ctx,
        QrCodeOperationHint::GetAssertionRequest,
        // QR key 6 = [0, 1] (WebSocket, BLE L2CAP), the CTAP 2.3 array form Chromium's
        // boolean predates; the phone offers no L2CAP PSM, so pxp takes the tunnel.
        PxpTransports::CloudAssistedOrLocal,
        UserAnswers::default(),
        None,
        async |channel| {
            let response = channel
                .webauthn_get_assertion(&request)
                .await
                .map_err(|e| format!("getAssertion: {e}"))?;
            let [assertion] = response.assertions.as_slice() else {
                return Err(format!(
                    "{} assertions, expected the one passkey",
                    response.assertions.len()
                ));
            };
            assertion
                .to_json_string(&request, JsonFormat::Minified)
                .map_err(|e| format!("serialising the assertion: {e}"))
        },
    )
    .await?;
    let response_json = outcome?;
    expect_phone_ok(&run)?;
    let count = rp.verify_assertion(&response_json, &challenge, registered, true)?;
    let response: serde_json::Value =
        serde_json::from_str(&response_json).map_err(|e| e.to_string())?;
    let user_handle = response["response"]["userHandle"]
        .as_str()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok());
    if user_handle.as_deref() != Some(USER_ID) {
        return Err(format!(
            "user handle {user_handle:?} is not the registered account's"
        ));
    }
    Ok(format!(
        "signature verified with the registered key, counter {count}, user handle matches"
    ))
}

/// The session serves one operation per QR scan: a second one on the same tunnel (a browser
/// replaying the user's consent for another request) is refused with CTAP2_ERR_NOT_ALLOWED,
/// while the first is a valid sign-in.
async fn second_operation(
    ctx: &Context,
    rp: &RelyingParty,
    registered: &Registered,
) -> Result<String, String> {
    let challenge = fresh_challenge();
    let json = serde_json::json!({
        "challenge": URL_SAFE_NO_PAD.encode(&challenge),
        "timeout": 60000,
        "rpId": RP_ID,
        "allowCredentials": [],
        "userVerification": "required"
    })
    .to_string();
    let request = GetAssertionRequest::prepare(&origin()?, &json, &settings())
        .await
        .map_err(|e| format!("libwebauthn refused the request options: {e}"))?;
    let (outcome, run, _) = with_phone(
        ctx,
        QrCodeOperationHint::GetAssertionRequest,
        PxpTransports::CloudAssistedOnly,
        UserAnswers::default(),
        None,
        async |channel| {
            let first = channel
                .webauthn_get_assertion(&request)
                .await
                .map_err(|e| format!("the first getAssertion: {e}"))?;
            let [assertion] = first.assertions.as_slice() else {
                return Err(format!("{} assertions", first.assertions.len()));
            };
            let json = assertion
                .to_json_string(&request, JsonFormat::Minified)
                .map_err(|e| format!("serialising the assertion: {e}"))?;
            match channel.webauthn_get_assertion(&request).await {
                Err(WebAuthnError::Ctap(CtapError::NotAllowed)) => Ok(json),
                Ok(_) => Err("the phone served a second operation on one scan".into()),
                Err(e) => Err(format!(
                    "the second getAssertion: expected not allowed, got {e}"
                )),
            }
        },
    )
    .await?;
    let response_json = outcome?;
    // It served the operation the user scanned for: that is a success on the phone.
    expect_phone_ok(&run)?;
    rp.verify_assertion(&response_json, &challenge, registered, true)?;
    Ok("first verified, second refused, phone done: OK".into())
}

async fn declined(ctx: &Context) -> Result<String, String> {
    let challenge = fresh_challenge();
    let json = serde_json::json!({
        "challenge": URL_SAFE_NO_PAD.encode(&challenge),
        "timeout": 60000,
        "rpId": RP_ID,
        "allowCredentials": [],
        "userVerification": "required"
    })
    .to_string();
    let request = GetAssertionRequest::prepare(&origin()?, &json, &settings())
        .await
        .map_err(|e| format!("libwebauthn refused the request options: {e}"))?;
    let answers = UserAnswers {
        presence: "decline",
        uv: "decline",
    };
    let (outcome, run, _) = with_phone(
        ctx,
        QrCodeOperationHint::GetAssertionRequest,
        PxpTransports::CloudAssistedOnly,
        answers,
        None,
        async |channel| match channel.webauthn_get_assertion(&request).await {
            Ok(response) => Err(format!(
                "got {} assertions although the user declined",
                response.assertions.len()
            )),
            Err(WebAuthnError::Ctap(CtapError::OperationDenied)) => Ok(()),
            Err(e) => Err(format!("expected operation denied, got: {e}")),
        },
    )
    .await?;
    outcome?;
    if !run.done.starts_with("hybrid done: ERROR") || run.exit_ok {
        return Err(format!(
            "the phone said {:?} (exit ok: {}) after its user declined",
            run.done, run.exit_ok
        ));
    }
    Ok(format!("phone said {:?}", run.done))
}

/// A phone that scanned another browser's QR code advertises under that code's secret: the
/// waiting browser must fail to trial-decrypt it (HMAC over the EID key) and never dial a
/// tunnel, however often the radio reports it.
async fn foreign_advert(ctx: &Context) -> Result<String, String> {
    use libwebauthn::transport::hybrid::channel::{HybridUxUpdate, PxpUpdate};
    let hint = QrCodeOperationHint::GetAssertionRequest;
    let transports = PxpTransports::CloudAssistedOnly;
    let mut waiting = PxpQrCodeDevice::new_transient(hint, transports)
        .map_err(|e| format!("making the QR code: {e}"))?;
    let other = PxpQrCodeDevice::new_transient(hint, transports)
        .map_err(|e| format!("making the other QR code: {e}"))?;
    let phone = PhoneProcess::start(
        &ctx.phone_dir,
        &other.qr_code.to_string(),
        &ctx.tunnel.base_url(),
        UserAnswers::default(),
    )?;
    let channel = waiting
        .channel(ChannelSettings::default())
        .await
        .map_err(|e| format!("opening the hybrid channel: {e}"))?;
    let mut updates = channel.get_ux_update_receiver();
    let bluez = ctx.bluez.clone();
    // The phone advertises and waits for a browser that never comes; it is stopped after
    // the window (its serve() then fails by design: no `hybrid done:` line in time).
    let window = Duration::from_secs(6);
    let phone = tokio::task::spawn_blocking(move || phone.serve(&bluez, window));
    let watched = tokio::time::timeout(window, async {
        loop {
            match updates.recv().await {
                Ok(HybridUxUpdate::PxpUpdate(
                    update @ (PxpUpdate::Connecting
                    | PxpUpdate::Authenticating
                    | PxpUpdate::Connected),
                )) => return Err::<(), String>(format!("libwebauthn went on to {update:?}")),
                Ok(_) => continue,
                Err(e) => return Err(format!("the channel's updates ended: {e}")),
            }
        }
    })
    .await;
    drop(channel);
    let served = phone
        .await
        .map_err(|e| format!("the phone's relay task: {e}"))?;
    if let Ok(Err(e)) = watched {
        return Err(e);
    }
    match served {
        Err(e) if e.contains("no line within") => {}
        other => {
            return Err(format!(
                "the phone was expected to wait unserved, got {other:?}"
            ));
        }
    }
    Ok(format!("no connection attempt in {window:?} of adverts"))
}

/// A linked browser comes back: pxp's known-device path dials `/cable/contact/{contact id}`
/// with its client payload, reads the phone's advert under the link secret and runs NKpsk0
/// against the phone's identity key; the phone (`hybrid --linked`) prompts its user and signs.
async fn linked_sign_in(
    ctx: &Context,
    rp: &RelyingParty,
    registered: &Registered,
    device_info: &PxpKnownDeviceInfo,
) -> Result<String, String> {
    let challenge = fresh_challenge();
    let json = serde_json::json!({
        "challenge": URL_SAFE_NO_PAD.encode(&challenge),
        "timeout": 60000,
        "rpId": RP_ID,
        "allowCredentials": [],
        "userVerification": "required"
    })
    .to_string();
    let request = GetAssertionRequest::prepare(&origin()?, &json, &settings())
        .await
        .map_err(|e| format!("libwebauthn refused the request options: {e}"))?;
    let phone = PhoneProcess::start_with(
        &ctx.phone_dir,
        &["--linked"],
        &ctx.tunnel.base_url(),
        UserAnswers::default(),
    )?;
    let bluez = ctx.bluez.clone();
    let mut phone = tokio::task::spawn_blocking(move || phone.serve(&bluez, CEREMONY_LIMIT));
    let store = Arc::new(EphemeralDeviceInfoStore::default());
    let ceremony = async {
        let deadline = Instant::now() + CEREMONY_LIMIT;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut device =
                PxpKnownDevice::new(ClientPayloadHint::GetAssertion, device_info, store.clone())
                    .await
                    .map_err(|e| format!("the known device: {e}"))?;
            let mut channel = device
                .channel(ChannelSettings::default())
                .await
                .map_err(|e| format!("opening the hybrid channel: {e}"))?;
            let result =
                tokio::time::timeout(CEREMONY_LIMIT, channel.webauthn_get_assertion(&request))
                    .await
                    .map_err(|_| format!("no answer within {CEREMONY_LIMIT:?}"))?;
            channel.close().await;
            match result {
                Ok(response) => {
                    let [assertion] = response.assertions.as_slice() else {
                        return Err(format!("{} assertions", response.assertions.len()));
                    };
                    let json = assertion
                        .to_json_string(&request, JsonFormat::Minified)
                        .map_err(|e| format!("serialising the assertion: {e}"))?;
                    return Ok((json, attempts));
                }
                // The phone may not hold its listening socket yet (the server answers 404).
                Err(e) if Instant::now() < deadline && attempts < 20 => {
                    eprintln!("  linked attempt {attempts}: {e}; retrying");
                    tokio::time::sleep(DIAL_RETRY).await;
                }
                Err(e) => return Err(format!("getAssertion as a known device: {e}")),
            }
        }
    };
    tokio::pin!(ceremony);
    let (outcome, run) = tokio::select! {
        outcome = &mut ceremony => (outcome, phone.await),
        run = &mut phone => {
            let outcome = tokio::time::timeout(PHONE_GONE_GRACE, &mut ceremony)
                .await
                .unwrap_or_else(|_| Err("libwebauthn still waiting after the phone ended".into()));
            (outcome, run)
        }
    };
    let run = run.map_err(|e| format!("the phone's relay task: {e}"))??;
    let (response_json, attempts) = outcome?;
    expect_phone_ok(&run)?;
    let count = rp.verify_assertion(&response_json, &challenge, registered, true)?;
    if run.adverts.len() != 1 {
        return Err(format!("the phone advertised {} times", run.adverts.len()));
    }
    Ok(format!(
        "signature verified, counter {count}, dialled {attempts}x, one advert under the link secret"
    ))
}

fn scanned(bluez: &FakeBluez) -> Result<String, String> {
    let calls = bluez.adapter_calls()?;
    for needed in ["StartDiscovery"] {
        if !calls.iter().any(|c| c == needed) {
            return Err(format!("libwebauthn never called {needed}: {calls:?}"));
        }
    }
    Ok(format!("adapter calls: {calls:?}"))
}
