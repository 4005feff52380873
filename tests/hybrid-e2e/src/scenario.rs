//! The scenarios, shared by the test (`tests/e2e.rs`) and the demo binary. Each starts its
//! own tunnel server and phone, uses the run's bus and fake BlueZ, and stops what it started.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authenticator_core::hybrid::keys::QrKeys;
use authenticator_core::hybrid::qr::RequestType;
use webauthn_authenticator_rs::error::CtapError;
use webauthn_authenticator_rs::prelude::WebauthnCError;
use webauthn_rs_core::proto::{AuthenticationResult, Credential};

use crate::browser::{self, Ceremony, Outcome, tunnel_override};
use crate::bus::PrivateBus;
use crate::fake_bluez::FakeBluez;
use crate::phone::{PhoneProcess, PhoneRun, UserAnswers};
use crate::rp::RelyingParty;
use crate::standin::{FIRST_HANDSHAKE_LEN, StandIn, TunnelEvent};
use crate::tamper::{Tamper, TamperingProxy};
use crate::tunnels::{TunnelKind, TunnelServer};

const QR_WAIT: Duration = Duration::from_secs(30);
const SESSION_LIMIT: Duration = Duration::from_secs(90);

/// What a whole run shares: the private bus and the fake BlueZ on it (started in this order,
/// stopped in the reverse one when dropped).
pub struct Context {
    pub bluez: Arc<FakeBluez>,
    pub bus: PrivateBus,
}

impl Context {
    /// `dir` must be the folder whose socket `DBUS_SYSTEM_BUS_ADDRESS` names (see
    /// [`crate::bus::bus_address_for`]).
    pub fn start(dir: &Path) -> Result<Self, String> {
        let bus = PrivateBus::start(dir)?;
        let bluez = Arc::new(FakeBluez::start(&bus)?);
        Ok(Self { bluez, bus })
    }
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

/// Phase 1: the browser's QR, the advert through the fake BlueZ, and the browser at the
/// tunnel. A stand-in phone (the core's test kit) opens the tunnel and builds the advert; the
/// browser's first Noise message arriving there proves it decrypted the advert, derived the
/// same tunnel id and connected to `/cable/connect/{routing id}/{tunnel id}`.
pub async fn chain_to_tunnel(ctx: &Context, kind: TunnelKind) -> Result<String, String> {
    let tunnel = TunnelServer::start(kind)?;
    let rp = RelyingParty::new();
    let (challenge, _) = rp.start_registration("phase1@hybrid.e2e.example")?;
    let running = browser::start(
        rp.origin(),
        Ceremony::Register(challenge),
        tunnel_override(&tunnel.base_url())?,
    );
    let qr = tokio::task::block_in_place(|| running.qr(QR_WAIT))?;
    check(qr.starts_with("FIDO:/"), || {
        format!("QR text {qr:?} is not a FIDO:/ URL")
    })?;
    let mut phone = StandIn::open(&qr, &tunnel.base_url()).await?;
    check(phone.qr.request_type == RequestType::MakeCredential, || {
        format!(
            "QR request type {:?}, the browser asked to register",
            phone.qr.request_type
        )
    })?;
    let advert = ctx.bluez.advertise(&phone.advert)?;
    let first = phone.first_message(Duration::from_secs(30)).await;
    let reports = advert.reports();
    advert.stop()?;
    let first = first?;
    check(
        first.len() == FIRST_HANDSHAKE_LEN && first[0] == 0x04,
        || {
            format!(
                "the browser's first message is {} bytes starting {:02x?}, not a KNpsk0 \"e\"",
                first.len(),
                first.first()
            )
        },
    )?;
    let calls = ctx.bluez.adapter_calls()?;
    for needed in ["SetDiscoveryFilter", "StartDiscovery"] {
        check(calls.iter().any(|c| c == needed), || {
            format!("the browser never called {needed} on the fake adapter: {calls:?}")
        })?;
    }
    let routing_id = phone.routing_id;
    phone.close().await;
    // The stand-in never answers the handshake: the browser must give up with an error.
    let outcome = tokio::time::timeout(Duration::from_secs(30), running.task)
        .await
        .map_err(|_| "the browser did not give up after the tunnel closed".to_string())?
        .map_err(|e| format!("browser task: {e}"))?;
    check(outcome.is_err(), || {
        format!("the browser succeeded without a phone: {outcome:?}")
    })?;
    Ok(format!(
        "{}: advert reported {reports}x, the browser's handshake ({} bytes) relayed for routing id {}; adapter calls so far {:?}",
        kind.name(),
        first.len(),
        hex::encode(routing_id),
        {
            let mut distinct = calls.clone();
            distinct.sort();
            distinct.dedup();
            distinct
        },
    ))
}

/// Phase 1, negative: an advert sealed with another QR secret (what a phone that scanned a
/// different code, or a stranger nearby, sends). The browser must ignore it: nothing reaches
/// the tunnel while the fake radio reports it again and again.
pub async fn wrong_secret_ignored(ctx: &Context, kind: TunnelKind) -> Result<String, String> {
    let tunnel = TunnelServer::start(kind)?;
    let rp = RelyingParty::new();
    let (challenge, _) = rp.start_registration("stranger@hybrid.e2e.example")?;
    let running = browser::start(
        rp.origin(),
        Ceremony::Register(challenge),
        tunnel_override(&tunnel.base_url())?,
    );
    let qr = tokio::task::block_in_place(|| running.qr(QR_WAIT))?;
    let mut phone = StandIn::open(&qr, &tunnel.base_url()).await?;
    let mut other_secret = phone.qr.secret;
    other_secret[0] ^= 0x01;
    let eid = QrKeys::new(phone.qr.secret)
        .decrypt_advert(&phone.advert)
        .map_err(|e| format!("{e}"))?;
    let stranger = QrKeys::new(other_secret).encrypt_advert(&eid);
    let advert = ctx.bluez.advertise(&stranger)?;
    let heard = phone.first_message(Duration::from_secs(4)).await;
    let reports = advert.reports();
    advert.stop()?;
    running.task.abort();
    phone.close().await;
    check(heard.is_err(), || {
        format!("the browser connected on an advert sealed with another secret: {heard:?}")
    })?;
    check(reports >= 10, || {
        format!("the fake radio reported the advert only {reports}x")
    })?;
    Ok(format!(
        "{}: advert under a wrong secret reported {reports}x, ignored",
        kind.name()
    ))
}

/// Negative: the tunnel's lifetime runs out before the browser arrives. The phone's side is
/// closed by the server, and the browser, arriving late with a valid advert, gets an error
/// (not a hang, not someone else's tunnel).
pub async fn tunnel_lifetime_expires(ctx: &Context, kind: TunnelKind) -> Result<String, String> {
    let lifetime = Duration::from_secs(1);
    let tunnel = TunnelServer::start_with_lifetime(kind, lifetime)?;
    let rp = RelyingParty::new();
    let (challenge, _) = rp.start_registration("late@hybrid.e2e.example")?;
    let running = browser::start(
        rp.origin(),
        Ceremony::Register(challenge),
        tunnel_override(&tunnel.base_url())?,
    );
    let qr = tokio::task::block_in_place(|| running.qr(QR_WAIT))?;
    let opened = Instant::now();
    let mut phone = StandIn::open(&qr, &tunnel.base_url()).await?;
    // The server must close the phone's side once the lifetime is over, not before.
    let why = match phone.next_event(lifetime + Duration::from_secs(5)).await? {
        TunnelEvent::Closed(why) => why,
        other => return Err(format!("the tunnel relayed {other:?} with no browser")),
    };
    let after = opened.elapsed();
    check(after >= lifetime, || {
        format!("the tunnel closed after {after:?}, before its lifetime")
    })?;
    let advert = ctx.bluez.advertise(&phone.advert)?;
    let outcome = tokio::time::timeout(Duration::from_secs(30), running.task).await;
    advert.stop()?;
    phone.close().await;
    let outcome = outcome
        .map_err(|_| "the browser hung at an expired tunnel".to_string())?
        .map_err(|e| format!("browser task: {e}"))?;
    check(outcome.is_err(), || {
        format!("the browser got {outcome:?} from an expired tunnel")
    })?;
    Ok(format!(
        "{}: phone's side closed after {after:?} ({why}); the late browser got {:?}",
        kind.name(),
        outcome.err(),
    ))
}

/// One hybrid session with the virtual phone: the browser shows its QR, the phone "scans" it
/// (the text is its argument), advertises through the fake BlueZ, and both meet at `tunnel`.
/// Returns the browser's outcome (or its error) and what the phone did.
pub async fn session(
    ctx: &Context,
    tunnel: &TunnelServer,
    data_dir: &Path,
    ceremony: Ceremony,
    answers: UserAnswers,
    on_qr: impl FnOnce(&str),
) -> Result<(Result<Outcome, WebauthnCError>, PhoneRun), String> {
    let base = tunnel.base_url();
    session_via(ctx, &base, &base, data_dir, ceremony, answers, on_qr).await
}

/// [`session`] where the browser reaches the tunnel at `browser_base` and the phone at
/// `phone_base` (a proxy in between, for tampering).
pub async fn session_via(
    ctx: &Context,
    browser_base: &str,
    phone_base: &str,
    data_dir: &Path,
    ceremony: Ceremony,
    answers: UserAnswers,
    on_qr: impl FnOnce(&str),
) -> Result<(Result<Outcome, WebauthnCError>, PhoneRun), String> {
    let rp_origin = RelyingParty::new().origin();
    let running = browser::start(rp_origin, ceremony, tunnel_override(browser_base)?);
    let qr = tokio::task::block_in_place(|| running.qr(QR_WAIT))?;
    on_qr(&qr);
    let phone = PhoneProcess::start(data_dir, &qr, phone_base, answers)?;
    let bluez = ctx.bluez.clone();
    let phone_run = tokio::task::spawn_blocking(move || phone.serve(&bluez, SESSION_LIMIT));
    let outcome = tokio::time::timeout(SESSION_LIMIT, running.task)
        .await
        .map_err(|_| format!("the browser had no answer within {SESSION_LIMIT:?}"))?
        .map_err(|e| format!("browser task: {e}"))?;
    let phone_run = phone_run
        .await
        .map_err(|e| format!("phone thread: {e}"))??;
    Ok((outcome, phone_run))
}

/// What a registration followed by a sign-in showed.
pub struct SignInReport {
    pub credential: Credential,
    pub result: AuthenticationResult,
    pub register_run: PhoneRun,
    pub sign_in_run: PhoneRun,
}

fn served(run: &PhoneRun, what: &str) -> Result<(), String> {
    check(run.done == "hybrid done: OK" && run.exit_ok, || {
        format!(
            "the phone did not serve the {what}: {:?}, exit ok {}",
            run.done, run.exit_ok
        )
    })?;
    check(!run.adverts.is_empty(), || {
        format!("the phone printed no advert for the {what}")
    })
}

/// What [`register_and_sign_in`] reports as it goes (the demo prints it).
pub enum Step<'a> {
    /// The browser shows a QR code (`purpose`: "register" or "sign in").
    Qr { purpose: &'a str, text: &'a str },
    /// The relying party verified the registration.
    Registered {
        credential: &'a Credential,
        run: &'a PhoneRun,
    },
}

/// Phase 2: register a passkey through the tunnel, verify it as the relying party, then sign
/// in with it in a second session (a second QR), verifying the assertion, the user
/// verification flag and the signature counter.
pub async fn register_and_sign_in(
    ctx: &Context,
    kind: TunnelKind,
    data_dir: &Path,
    mut on_step: impl FnMut(Step<'_>),
) -> Result<SignInReport, String> {
    let tunnel = TunnelServer::start(kind)?;
    let rp = RelyingParty::new();
    let (challenge, state) = rp.start_registration("alice@hybrid.e2e.example")?;
    let (outcome, register_run) = session(
        ctx,
        &tunnel,
        data_dir,
        Ceremony::Register(challenge),
        UserAnswers::default(),
        |qr| {
            on_step(Step::Qr {
                purpose: "register",
                text: qr,
            })
        },
    )
    .await?;
    let reply = match outcome {
        Ok(Outcome::Registered(r)) => r,
        other => return Err(format!("registration: the browser got {other:?}")),
    };
    served(&register_run, "registration")?;
    let credential = rp.finish_registration(&reply, &state)?;
    check(credential.user_verified, || {
        "the registration was not user-verified".into()
    })?;
    on_step(Step::Registered {
        credential: &credential,
        run: &register_run,
    });

    let (challenge, state) = rp.start_sign_in(&credential)?;
    let (outcome, sign_in_run) = session(
        ctx,
        &tunnel,
        data_dir,
        Ceremony::SignIn(challenge),
        UserAnswers::default(),
        |qr| {
            on_step(Step::Qr {
                purpose: "sign in",
                text: qr,
            })
        },
    )
    .await?;
    let reply = match outcome {
        Ok(Outcome::SignedIn(r)) => r,
        other => return Err(format!("sign-in: the browser got {other:?}")),
    };
    served(&sign_in_run, "sign-in")?;
    let result = rp.finish_sign_in(&reply, &state)?;
    check(result.user_verified(), || {
        "the sign-in was not user-verified".into()
    })?;
    check(result.cred_id() == &credential.cred_id, || {
        "signed in with another credential".into()
    })?;
    // webauthn-rs-core already refused a counter that did not grow (unless both are 0, the
    // "no counter" case); say which one the phone keeps.
    check(
        result.counter() > credential.counter || (result.counter() == 0 && credential.counter == 0),
        || {
            format!(
                "counter {} after {} at registration",
                result.counter(),
                credential.counter
            )
        },
    )?;
    Ok(SignInReport {
        credential,
        result,
        register_run,
        sign_in_run,
    })
}

/// Negative: the phone's user refuses (`answers`). The browser gets the phone's CTAP error
/// `expected` (not a credential, not a hang), the phone prints `expected_done` and exits
/// non-zero.
pub async fn user_refuses(
    ctx: &Context,
    kind: TunnelKind,
    data_dir: &Path,
    answers: UserAnswers,
    expected: CtapError,
    expected_done: &str,
) -> Result<String, String> {
    let tunnel = TunnelServer::start(kind)?;
    let rp = RelyingParty::new();
    let (challenge, _) = rp.start_registration("bob@hybrid.e2e.example")?;
    let (outcome, run) = session(
        ctx,
        &tunnel,
        data_dir,
        Ceremony::Register(challenge),
        answers,
        |_| {},
    )
    .await?;
    match outcome {
        Err(WebauthnCError::Ctap(ref e)) if *e == expected => {}
        other => {
            return Err(format!(
                "the browser got {other:?}, expected {expected:?} from the phone"
            ));
        }
    }
    check(run.done == expected_done && !run.exit_ok, || {
        format!(
            "the phone said {:?} (exit ok {}), expected {expected_done:?} and a failure",
            run.done, run.exit_ok
        )
    })?;
    Ok(format!(
        "{}: browser got {expected:?}; phone said {:?}",
        kind.name(),
        run.done
    ))
}

/// The user declines (cancels the verification): CTAP 2.1 §6.1.2 step 11,
/// CTAP2_ERR_OPERATION_DENIED (0x27).
pub async fn user_declines(
    ctx: &Context,
    kind: TunnelKind,
    data_dir: &Path,
) -> Result<String, String> {
    let answers = UserAnswers {
        presence: "deny",
        uv: "decline",
    };
    let done = "hybrid done: ERROR the user declined";
    user_refuses(
        ctx,
        kind,
        data_dir,
        answers,
        CtapError::Ctap2OperationDenied,
        done,
    )
    .await
}

/// The built-in verification fails (a wrong fingerprint): CTAP 2.1 §6.1.2 step 11,
/// CTAP2_ERR_UV_INVALID (0x3F), and the browser learns nothing else.
pub async fn verification_fails(
    ctx: &Context,
    kind: TunnelKind,
    data_dir: &Path,
) -> Result<String, String> {
    let answers = UserAnswers {
        presence: "approve",
        uv: "deny",
    };
    let done = "hybrid done: ERROR the request failed with CTAP status 0x3f";
    user_refuses(
        ctx,
        kind,
        data_dir,
        answers,
        CtapError::Ctap2UserVerificationInvalid,
        done,
    )
    .await
}

/// Negative, a tunnel server in bad faith: one bit of the browser's Noise handshake flipped on
/// the way (`tamper` says where). The phone refuses the handshake (its done line says why, it
/// exits non-zero), serves nothing, and the browser gets an error rather than a credential.
pub async fn tampered_handshake(
    ctx: &Context,
    kind: TunnelKind,
    data_dir: &Path,
    tamper: Tamper,
) -> Result<String, String> {
    let expected_done = match tamper {
        Tamper::EphemeralKey => TAMPERED_KEY_DONE,
        Tamper::Tag => TAMPERED_TAG_DONE,
        Tamper::Nothing => return Err("tampered_handshake needs something to tamper with".into()),
    };
    let tunnel = TunnelServer::start(kind)?;
    let proxy = TamperingProxy::start(tunnel.base_url(), tamper).await?;
    let rp = RelyingParty::new();
    let (challenge, _) = rp.start_registration("mallory@hybrid.e2e.example")?;
    let (outcome, run) = session_via(
        ctx,
        &proxy.base_url(),
        &tunnel.base_url(),
        data_dir,
        Ceremony::Register(challenge),
        UserAnswers::default(),
        |_| {},
    )
    .await?;
    let error = match outcome {
        Err(e) => e,
        Ok(o) => {
            return Err(format!(
                "the browser got {o:?} through a tampered handshake"
            ));
        }
    };
    check(run.done == expected_done && !run.exit_ok, || {
        format!(
            "the phone said {:?} (exit ok {}), expected {expected_done:?} and a failure",
            run.done, run.exit_ok
        )
    })?;
    Ok(format!(
        "{}: browser got {error:?}; phone said {:?}",
        kind.name(),
        run.done
    ))
}

/// What the phone says when the browser's ephemeral key is not a point.
const TAMPERED_KEY_DONE: &str = "hybrid done: ERROR the browser's handshake failed (not the browser that showed this QR code?): handshake message does not start with a valid uncompressed P-256 point";
/// What the phone says when the browser's handshake does not authenticate.
const TAMPERED_TAG_DONE: &str = "hybrid done: ERROR the browser's handshake failed (not the browser that showed this QR code?): handshake message failed authentication (wrong QR secret, wrong identity key, or altered message)";

/// A tunnel operator's view: a registration relayed by a recording proxy. It must succeed, and
/// no relayed message may hold the relying party id, the user's name (also their id here) or
/// the credential id in the clear (each message is Noise or AES-GCM ciphertext).
pub async fn tunnel_sees_only_ciphertext(
    ctx: &Context,
    kind: TunnelKind,
    data_dir: &Path,
) -> Result<String, String> {
    let tunnel = TunnelServer::start(kind)?;
    let proxy = TamperingProxy::start(tunnel.base_url(), Tamper::Nothing).await?;
    let rp = RelyingParty::new();
    let user = "carol@hybrid.e2e.example";
    let (challenge, state) = rp.start_registration(user)?;
    let (outcome, run) = session_via(
        ctx,
        &proxy.base_url(),
        &tunnel.base_url(),
        data_dir,
        Ceremony::Register(challenge),
        UserAnswers::default(),
        |_| {},
    )
    .await?;
    let reply = match outcome {
        Ok(Outcome::Registered(r)) => r,
        other => {
            return Err(format!(
                "registration through the recording proxy: {other:?}"
            ));
        }
    };
    served(&run, "registration")?;
    let credential = rp.finish_registration(&reply, &state)?;
    let seen = proxy.seen();
    check(seen.len() >= 4, || {
        format!("the proxy relayed only {} messages", seen.len())
    })?;
    let secrets: [(&str, &[u8]); 3] = [
        ("the relying party id", crate::rp::RP_ID.as_bytes()),
        ("the user's name and id", user.as_bytes()),
        ("the credential id", credential.cred_id.as_ref()),
    ];
    for (what, needle) in secrets {
        let found = seen
            .iter()
            .any(|m| m.windows(needle.len()).any(|w| w == needle));
        check(!found, || format!("{what} crossed the tunnel in the clear"))?;
    }
    Ok(format!(
        "{}: {} messages ({} bytes) relayed, none holding the rp id, user or credential id",
        kind.name(),
        seen.len(),
        seen.iter().map(Vec::len).sum::<usize>()
    ))
}
