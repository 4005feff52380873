//! OBR mode: the administrator's pairing tool carries an on-behalf registration grant to the
//! user's phone and exposes the phone on its CTAPHID socket (proto/obr-grant.md §6).
//!
//! Invariants:
//! - The grant is bound to this tool's static key; it is handed over only on a session whose
//!   Noise initiator authenticated with the phone's OBR key the workspace reported (§6 step
//!   3; not the device key, which only signs the receipts).
//!   A phone with another key, or a failed handshake, gets its session deleted and the tool
//!   keeps waiting on its door until the grant expires.
//! - One grant per run. The OBR is over once the phone refused, the accepted session ended,
//!   or the grant expired; it is then stopped at the workspace (best effort) and every CTAP
//!   request is answered `0x27` (CTAP2_ERR_OPERATION_DENIED) until the tool is stopped.
//! - CTAP requests before the phone accepted wait for it (at most until the grant expires).
//! - Receipts (type 5) are verified with the device key and printed as they come, whether or
//!   not a request runs.
//! - A status frame after acceptance is the phone refusing a registration in a way that ends
//!   the grant (`passkey_exists`: it would have replaced the user's own passkey); it is printed
//!   `registration refused: CODE`, and the phone then ends the session.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use authenticator_core::ctaphid;
use authenticator_core::link::LinkError;
use authenticator_core::link::channel::MessageType;
use authenticator_core::link::noise::{KeyPair, NoiseError};
use authenticator_core::link::relay::{RelayClient, RelayConfig, RelayId, SessionEnd, hex, new_id};
use authenticator_core::link::session::{LinkSession, SessionError, obr_psk, pc_obr_handshake};
use authenticator_core::obr::Receipt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::forward::{Forwarder, NO_PAIRING, Refusal, SessionHooks, SessionSource};
use crate::store::{DataDir, printable};
use crate::workspace::{StartObr, Started, Workspace, WorkspaceError};
use crate::{accept, say};

/// One wait for a knock on the door at the relay.
const DOOR_POLL_WAIT: Duration = Duration::from_secs(1);
/// Longest pause between retries when the relay cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The longest refusal code printed (the phone's status frame is free text).
const MAX_CODE_CHARS: usize = 64;
/// How long stopping the grant at the workspace may take on the way out.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the workspace's grant record is read for a refusal while no phone accepted.
const REFUSAL_POLL: Duration = Duration::from_secs(1);

/// Everything `obr` was told on the command line.
pub struct ObrOptions {
    pub data_dir: PathBuf,
    pub relay: String,
    pub config: RelayConfig,
    pub workspace: reqwest::Url,
    pub user: String,
    pub rp_ids: Vec<String>,
    pub count: u8,
    pub duration_secs: u64,
    pub admin_id: String,
    pub admin_name: String,
    pub ctaphid: SocketAddr,
    /// Test setting: an OBR grant fault armed at the workspace before starting.
    pub test_grant_fault: Option<String>,
    /// Test setting: the grant handed to the phone on the link is not the announced one
    /// (`malleate` or `other`, see `main.rs`).
    pub test_link_grant: Option<String>,
    /// Test setting: expect the phone's device key in the handshake instead of its OBR key
    /// (what the tool did before the phone had an OBR key).
    pub test_expect_device_key: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// The grant is out; no phone accepted it yet.
    Waiting,
    /// The phone accepted: requests go to its session.
    Accepted,
    /// Refused, ended or expired: every request gets `0x27`.
    Ended,
}

/// The state of the one OBR of this run, shared by the door driver, the forwarder and the
/// session's reader.
struct Obr {
    grant_id: [u8; 16],
    /// The grant sent on the link (the announced one, unless a test swaps it).
    grant: Vec<u8>,
    /// Verifies receipts.
    device_key: Vec<u8>,
    /// The phone's static key the handshake must show.
    obr_key: Vec<u8>,
    rp_ids: Vec<String>,
    max_registrations: u8,
    /// When the grant expires (measured from before the start request, so never late).
    deadline: Instant,
    phase: watch::Sender<Phase>,
    /// The accepted session until the forwarder takes it.
    handover: StdMutex<Option<Arc<LinkSession>>>,
    /// The accepted session, to end it when the OBR ends.
    current: StdMutex<Option<Arc<LinkSession>>>,
}

impl Obr {
    /// The phone accepted: false (and nothing changes) if the OBR already ended meanwhile.
    fn accept(&self, session: Arc<LinkSession>) -> bool {
        if *self.phase.borrow() != Phase::Waiting {
            return false;
        }
        if let Ok(mut slot) = self.handover.lock() {
            *slot = Some(session.clone());
        }
        if let Ok(mut slot) = self.current.lock() {
            *slot = Some(session);
        }
        let accepted = self.phase.send_if_modified(|phase| {
            if *phase == Phase::Waiting {
                *phase = Phase::Accepted;
                true
            } else {
                false
            }
        });
        if !accepted {
            if let Ok(mut slot) = self.handover.lock() {
                slot.take();
            }
            if let Ok(mut slot) = self.current.lock() {
                slot.take();
            }
        }
        accepted
    }

    /// The workspace reports that the phone refused the grant before connecting: prints
    /// `obr refused: CODE` and ends the OBR, unless a phone accepted or it already ended.
    fn refused_at_workspace(&self, code: &str) -> bool {
        let changed = self.phase.send_if_modified(|phase| {
            if *phase == Phase::Waiting {
                *phase = Phase::Ended;
                true
            } else {
                false
            }
        });
        if !changed {
            return false;
        }
        let code: String = printable(code).chars().take(MAX_CODE_CHARS).collect();
        say(&format!("obr refused: {code}"));
        if let Ok(mut slot) = self.handover.lock() {
            slot.take();
        }
        if let Some(session) = self.current.lock().ok().and_then(|mut slot| slot.take()) {
            tokio::spawn(async move { session.close().await });
        }
        true
    }

    /// Ends the OBR (once): prints `obr ended: WHY` if given, and returns the accepted
    /// session for the caller to close.
    fn finish(&self, why: Option<&str>) -> Option<Arc<LinkSession>> {
        let changed = self.phase.send_if_modified(|phase| {
            if *phase == Phase::Ended {
                false
            } else {
                *phase = Phase::Ended;
                true
            }
        });
        if !changed {
            return None;
        }
        if let Some(why) = why {
            say(&format!("obr ended: {why}"));
        }
        if let Ok(mut slot) = self.handover.lock() {
            slot.take();
        }
        self.current.lock().ok().and_then(|mut slot| slot.take())
    }

    /// [`finish`](Self::finish), closing the session in the background.
    fn end(&self, why: Option<&str>) {
        if let Some(session) = self.finish(why) {
            tokio::spawn(async move { session.close().await });
        }
    }

    /// A receipt frame: verified with the device key and checked against the grant.
    fn receipt(&self, bytes: &[u8]) {
        let receipt = match Receipt::verify(bytes, &self.device_key) {
            Ok(receipt) => receipt,
            Err(e) => {
                say(&format!("bad receipt: {}", e.code()));
                return;
            }
        };
        // The workspace's codes for the same checks (contract, obr-receipts).
        let problem = if receipt.grant_id != self.grant_id {
            Some("unknown_grant")
        } else if !self.rp_ids.contains(&receipt.rp_id) {
            Some("rp_out_of_scope")
        } else if receipt.index > self.max_registrations {
            Some("count_exceeded")
        } else {
            None
        };
        match problem {
            Some(code) => say(&format!("bad receipt: {code}")),
            // The RP id passed Receipt::verify's rp-id check: letters, digits, '-' and '.'.
            None => say(&format!(
                "receipt {} {} {}",
                receipt.index,
                receipt.rp_id,
                to_hex(&receipt.credential_id)
            )),
        }
    }
}

/// The forwarder's source in OBR mode: the one session the phone opened on the door.
struct ObrSource(Arc<Obr>);

impl SessionSource for ObrSource {
    type Tag = [u8; 16];

    async fn target(&self) -> Result<[u8; 16], Refusal> {
        let obr = &self.0;
        let mut phase = obr.phase.subscribe();
        loop {
            match *phase.borrow_and_update() {
                Phase::Accepted => return Ok(obr.grant_id),
                Phase::Ended => {
                    return Err(Refusal {
                        status: NO_PAIRING,
                        close: Some("the OBR is over".into()),
                    });
                }
                Phase::Waiting => {}
            }
            tokio::select! {
                changed = phase.changed() => {
                    if changed.is_err() {
                        return Err(Refusal { status: NO_PAIRING, close: None });
                    }
                }
                () = tokio::time::sleep_until(obr.deadline) => {
                    return Err(Refusal { status: NO_PAIRING, close: None });
                }
            }
        }
    }

    async fn open(&self, _tag: &[u8; 16]) -> Result<Arc<LinkSession>, String> {
        self.0
            .handover
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .ok_or_else(|| "the OBR session is over".to_owned())
    }

    /// An OBR session cannot be reopened: the phone connects once per grant.
    fn reconnects(&self) -> bool {
        false
    }

    /// The phone ends the session when the grant expires or its count is used up.
    fn idle_limit(&self) -> Option<Duration> {
        None
    }

    fn hooks(&self) -> Option<Arc<dyn SessionHooks>> {
        Some(self.0.clone())
    }

    fn closed(&self, why: &str) {
        self.0
            .end(Some(&format!("the session to the phone was closed: {why}")));
    }
}

impl SessionHooks for Obr {
    fn side_frame(&self, message_type: MessageType, payload: &[u8]) -> bool {
        match message_type {
            MessageType::Receipt => {
                self.receipt(payload);
                true
            }
            MessageType::ObrStatus => {
                // After acceptance a status frame is the phone refusing one registration in a
                // way that ends the grant (e.g. `passkey_exists`); the session ends next.
                if *self.phase.borrow() == Phase::Accepted {
                    let code = String::from_utf8_lossy(payload);
                    let code: String = printable(&code).chars().take(MAX_CODE_CHARS).collect();
                    say(&format!("registration refused: {code}"));
                } else {
                    eprintln!("pairing-tool: ignored a second OBR status from the phone");
                }
                true
            }
            _ => false,
        }
    }

    fn ended(&self, why: &SessionError) {
        let why = match why {
            SessionError::PeerShutdown => "the phone ended the session".to_owned(),
            other => format!("the session broke: {other}"),
        };
        self.end(Some(&why));
    }
}

/// Runs OBR mode until SIGTERM / ctrl-c. Errors before the grant is issued are returned
/// (exit 1); later ones are printed and end the OBR.
pub async fn run(options: ObrOptions) -> Result<(), String> {
    let store = DataDir::create(&options.data_dir).map_err(|e| e.to_string())?;
    let scalar: Zeroizing<[u8; 32]> = store
        .load_or_create_key()
        .map_err(|e| e.to_string())?
        .scalar_bytes();
    let public = *KeyPair::from_scalar_bytes(&scalar)
        .map_err(|e| e.to_string())?
        .public_key();
    let workspace = Workspace::new(options.workspace.clone())?;
    let door_client = RelayClient::new(
        &options.relay,
        RelayConfig {
            poll_wait: DOOR_POLL_WAIT,
            ..options.config
        },
    )
    .map_err(|e| e.to_string())?;
    let door = new_id().map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(options.ctaphid)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.ctaphid))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    say(&format!("ctaphid listening on {local}"));

    let user_id = workspace
        .user_id(&options.user)
        .await
        .map_err(|e| workspace_failure("find the user", &e))?
        .ok_or_else(|| {
            format!(
                "the workspace has no user with the email {}",
                printable(&options.user)
            )
        })?;
    if let Some(fault) = &options.test_grant_fault {
        workspace
            .arm_grant_fault(fault)
            .await
            .map_err(|e| workspace_failure("arm the OBR grant fault", &e))?;
    }
    let requested = Instant::now();
    let start = StartObr {
        admin_id: &options.admin_id,
        admin_name: &options.admin_name,
        admin_static_key: &public,
        rp_ids: &options.rp_ids,
        max_registrations: options.count,
        duration_secs: options.duration_secs,
        relay_url: &options.relay,
        admin_door: &door,
    };
    // Test setting `other`: a grant issued to this tool just before (and stopped, as the
    // workspace runs one OBR per user) is what the phone gets on the link.
    let other = match options.test_link_grant.as_deref() {
        Some("other") => {
            let other = workspace
                .start_obr(&user_id, &start)
                .await
                .map_err(|e| workspace_failure("start the earlier OBR", &e))?;
            workspace
                .stop_obr(&other.grant_id)
                .await
                .map_err(|e| workspace_failure("stop the earlier OBR", &e))?;
            eprintln!(
                "pairing-tool: test: the phone gets grant {} on the link",
                hex(&other.grant_id)
            );
            Some(other.grant)
        }
        _ => None,
    };
    let started: Started = workspace
        .start_obr(&user_id, &start)
        .await
        .map_err(|e| workspace_failure("start OBR", &e))?;
    let link_grant = match (options.test_link_grant.as_deref(), other) {
        (_, Some(other)) => other,
        (Some("malleate"), None) => malleated(&started.grant)?,
        _ => started.grant.clone(),
    };
    // Installed before the tool says it started: a SIGTERM right after that line is not lost.
    let signal = harness::stop_signal();
    eprintln!(
        "pairing-tool: OBR started for {} (security key {}, until {})",
        printable(&options.user),
        printable(&started.security_key_id),
        printable(&started.expires_at)
    );
    say(&format!("grant {}", hex(&started.grant_id)));

    let (phase, _) = watch::channel(Phase::Waiting);
    let obr = Arc::new(Obr {
        grant_id: started.grant_id,
        grant: link_grant,
        obr_key: if options.test_expect_device_key {
            started.device_public_key.clone()
        } else {
            started.obr_public_key
        },
        device_key: started.device_public_key,
        rp_ids: options.rp_ids,
        max_registrations: options.count,
        deadline: requested + Duration::from_secs(options.duration_secs),
        phase,
        handover: StdMutex::new(None),
        current: StdMutex::new(None),
    });
    let stopped = AtomicBool::new(false);
    let stop = || async {
        if stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        match tokio::time::timeout(STOP_TIMEOUT, workspace.stop_obr(&obr.grant_id)).await {
            Ok(Ok(())) => eprintln!("pairing-tool: OBR stopped at the workspace"),
            Ok(Err(e)) => eprintln!("pairing-tool: stopping OBR at the workspace: {e}"),
            Err(_) => eprintln!("pairing-tool: stopping OBR at the workspace timed out"),
        }
    };

    let forwarder: Arc<dyn ctaphid::CtapHandler> =
        Arc::new(Forwarder::new(Arc::new(ObrSource(obr.clone()))));
    let serving = tokio::spawn(accept(listener, forwarder));
    let mut driver = tokio::spawn(drive(obr.clone(), door_client, door, scalar));
    let watcher = tokio::spawn(watch_refusal(obr.clone(), workspace.clone()));
    let mut driving = true;
    tokio::pin!(serving, signal);

    let result = loop {
        tokio::select! {
            done = &mut driver, if driving => {
                driving = false;
                if let Err(e) = done {
                    obr.end(Some(&format!("internal error: {e}")));
                }
                stop().await;
            }
            served = &mut serving => {
                break match served {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e),
                    Err(e) => Err(format!("the CTAPHID server stopped: {e}")),
                };
            }
            () = &mut signal => break Ok(()),
        }
    };
    driver.abort();
    watcher.abort();
    if let Some(session) = obr.finish(Some("the tool was stopped")) {
        session.close().await;
    }
    stop().await;
    result
}

fn workspace_failure(what: &str, e: &WorkspaceError) -> String {
    match e {
        WorkspaceError::Refused { code, message, .. } => format!(
            "the workspace refused to {what}: {}: {}",
            printable(code),
            printable(message)
        ),
        other => format!("cannot {what}: {}", printable(&other.to_string())),
    }
}

/// Reads the grant's record at the workspace every second until a phone accepted or the OBR
/// ended: a phone that refuses the grant from its `obr_request` event never knocks on the
/// door, it reports the refusal to the workspace (phone endpoint `obr-refusals`).
async fn watch_refusal(obr: Arc<Obr>, workspace: Workspace) {
    let mut phase = obr.phase.subscribe();
    let mut complained = false;
    loop {
        if *phase.borrow_and_update() != Phase::Waiting {
            return;
        }
        match workspace.refusal(&obr.grant_id).await {
            Ok(Some(code)) => {
                obr.refused_at_workspace(&code);
                return;
            }
            Ok(None) => {}
            Err(e) if !complained => {
                complained = true;
                eprintln!("pairing-tool: cannot read the grant at the workspace: {e}");
            }
            Err(_) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(REFUSAL_POLL) => {}
            changed = phase.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// What one knock on the door came to.
enum Knock {
    Accepted,
    /// Not the user's phone, or no handshake: keep waiting on the door.
    Retry,
    /// The grant reached the phone and the OBR is over.
    Over,
}

/// Waits on the door until the phone accepts, then until the OBR ends or the grant expires.
async fn drive(obr: Arc<Obr>, client: RelayClient, door: RelayId, key: Zeroizing<[u8; 32]>) {
    let mut over = obr.phase.subscribe();
    let accepted = tokio::select! {
        accepted = wait_on_door(&obr, &client, door, &key) => accepted,
        // Ended elsewhere (the workspace reported the phone's refusal).
        _ = over.wait_for(|p| *p == Phase::Ended) => false,
    };
    if !accepted {
        return;
    }
    let mut phase = obr.phase.subscribe();
    let ended = async move {
        let _ = phase.wait_for(|p| *p == Phase::Ended).await.map(|_| ());
    };
    tokio::select! {
        () = ended => {}
        () = tokio::time::sleep_until(obr.deadline) => {
            if let Some(session) = obr.finish(Some("the grant expired")) {
                session.close().await;
            }
        }
    }
}

/// Waits on the door until the phone accepts (true) or the OBR is over (false).
async fn wait_on_door(obr: &Obr, client: &RelayClient, door: RelayId, key: &[u8; 32]) -> bool {
    let mut backoff = Duration::from_millis(250);
    let doors = [door];
    loop {
        if Instant::now() >= obr.deadline {
            obr.end(Some("the grant expired before the phone connected"));
            return false;
        }
        let knock = tokio::select! {
            knock = client.wait_for_knock(&doors) => knock,
            () = tokio::time::sleep_until(obr.deadline) => continue,
        };
        let session = match knock {
            Ok(Some((_, session))) => session,
            Ok(None) => {
                backoff = Duration::from_millis(250);
                continue;
            }
            Err(e) => {
                eprintln!("pairing-tool: relay trouble while waiting for the phone: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(250);
        match offer(obr, client, session, key).await {
            Knock::Accepted => return true,
            Knock::Retry => {}
            Knock::Over => {
                obr.end(None);
                return false;
            }
        }
    }
}

/// The OBR handshake on a knocked session, the device key check, the grant, the status.
async fn offer(obr: &Obr, client: &RelayClient, session: RelayId, key: &[u8; 32]) -> Knock {
    let failed = |reason: &str| say(&format!("obr failed: {reason}"));
    let keypair = match KeyPair::from_scalar_bytes(key) {
        Ok(keypair) => keypair,
        Err(e) => {
            failed(&format!("the tool's static key: {e}"));
            return Knock::Over;
        }
    };
    let link = Box::new(client.link(session, SessionEnd::Pc));
    let psk = obr_psk(&obr.grant_id);
    let channel = match pc_obr_handshake(link, keypair, &psk).await {
        Ok(channel) => channel,
        Err(e) => {
            let _ = client.delete_session(&session).await;
            failed(&describe(&e));
            return Knock::Retry;
        }
    };
    if channel.peer_static().as_slice() != obr.obr_key.as_slice() {
        let _ = client.delete_session(&session).await;
        failed("the phone is not the user's security key");
        return Knock::Retry;
    }
    eprintln!(
        "pairing-tool: the user's phone connected (relay session {})",
        hex(&session)
    );
    // Held where the end of the OBR (SIGTERM) finds it while the user decides.
    let channel = Arc::new(channel);
    if let Ok(mut slot) = obr.current.lock() {
        *slot = Some(channel.clone());
    }
    if let Err(e) = channel.send(MessageType::ObrGrant, &obr.grant).await {
        if let Ok(mut slot) = obr.current.lock() {
            slot.take();
        }
        let _ = client.delete_session(&session).await;
        failed(&format!("cannot send the grant: {e}"));
        return Knock::Retry;
    }
    // The user reads the request and passes user verification: up to the grant's lifetime.
    let status = tokio::time::timeout_at(obr.deadline, channel.recv()).await;
    let over = |line: String| {
        say(&line);
        Knock::Over
    };
    let knock = match status {
        Ok(Ok((MessageType::ObrStatus, payload))) => {
            let code = String::from_utf8_lossy(&payload);
            if code == "accepted" {
                if obr.accept(channel.clone()) {
                    say("obr accepted");
                    return Knock::Accepted;
                }
                channel.close().await;
                return Knock::Over;
            }
            let code: String = printable(&code).chars().take(MAX_CODE_CHARS).collect();
            over(format!("obr refused: {code}"))
        }
        Ok(Ok((other, _))) => over(format!(
            "obr failed: the phone sent {other:?} instead of its OBR status"
        )),
        Ok(Err(SessionError::PeerShutdown)) => {
            over("obr failed: the phone ended the session without an OBR status".into())
        }
        Ok(Err(e)) => over(format!(
            "obr failed: the session broke before the OBR status: {e}"
        )),
        Err(_) => over("obr failed: the phone did not answer before the grant expired".into()),
    };
    channel.close().await;
    knock
}

/// A handshake error in words for the `obr failed:` line.
fn describe(e: &SessionError) -> String {
    match e {
        SessionError::Handshake(NoiseError::Authentication) => {
            "the phone's handshake did not authenticate (wrong grant id)".into()
        }
        SessionError::HandshakeTimeout(secs) => {
            format!("the phone did not send its handshake within {secs} s")
        }
        SessionError::Link(LinkError::Closed(_)) => "the phone left the session".into(),
        other => format!("handshake: {other}"),
    }
}

/// Test setting `malleate`: the COSE_Sign1 grant with its ECDSA signature's `s` replaced by
/// `n - s`. The result still verifies (P-256 ECDSA accepts either `s`) and carries the same id
/// and payload, but its bytes differ from the grant the phone was announced.
fn malleated(grant: &[u8]) -> Result<Vec<u8>, String> {
    use authenticator_core::cbor::{self, Value};
    use p256::ecdsa::Signature;
    let bad = || "the workspace's grant is not a COSE_Sign1".to_owned();
    let (&tag, body) = grant.split_first().ok_or_else(bad)?;
    let Ok(Value::Array(mut items)) = cbor::decode(body) else {
        return Err(bad());
    };
    let signature = items
        .get(3)
        .and_then(Value::as_bytes)
        .and_then(|raw| Signature::from_slice(raw).ok())
        .ok_or_else(bad)?;
    let (r, s) = signature.split_scalars();
    let flipped = Signature::from_scalars(r.to_bytes(), (-s).to_bytes()).map_err(|_| bad())?;
    items[3] = Value::Bytes(flipped.to_bytes().to_vec());
    let mut out = vec![tag];
    out.extend(cbor::encode(&Value::Array(items)));
    Ok(out)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
