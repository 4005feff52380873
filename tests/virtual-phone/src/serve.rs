//! `virtual-phone serve [--ctaphid HOST:PORT] [--link]`: the phone serving. `--ctaphid` puts
//! the authenticator on a TCP socket that carries raw 64-byte CTAPHID reports both ways, one
//! connection per client (`proto/ctaphid-socket.md`), and prints exactly one line
//! `ctaphid listening on HOST:PORT` on stdout once ready; `--link` runs the API's link
//! service. Either way the workspace watcher runs, and the phone serves until killed.
//!
//! Each CTAPHID channel is one of the API's `CtapChannel`s: the core's CTAPHID framing
//! (`ctaphid::serve`) calls [`Channels`], which runs each request on its channel's
//! conversation, passes CANCEL on, mirrors the channel's request state for keepalives, and
//! closes the channel when the connection ends. The requests' activity drives the idle
//! upkeep (`upkeep`), which runs the core's idle maintenance when the socket is quiet.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authenticator_core::api::{Authenticator, CtapChannel, CtapRequestState};
use authenticator_core::ctaphid::{self, CtapHandler, Origin, RequestSignals};
use tokio::net::TcpListener;

use crate::upkeep::Upkeep;

/// How often a running request's state is copied for the keepalives (sent every 80 ms).
const STATE_POLL: Duration = Duration::from_millis(5);

/// CTAP1_ERR_OTHER (CTAP 2.1 §8.2), for a channel the core refused to run a request on.
const CTAP1_ERR_OTHER: u8 = 0x7F;

pub async fn run(
    phone: Arc<Authenticator>,
    ctaphid: Option<String>,
    link: bool,
) -> Result<(), String> {
    phone.set_approval_observer(Some(Arc::new(crate::obr::Printer)));
    tokio::spawn(crate::enrollment::watch(phone.clone()));
    match ctaphid {
        Some(address) => {
            if link {
                crate::link::start(&phone, false)?;
            }
            let upkeep = Arc::new(Upkeep::default());
            tokio::spawn(upkeep.clone().watch(phone.clone()));
            listen(phone, &address, upkeep).await
        }
        None => {
            crate::link::start(&phone, true)?;
            std::future::pending::<Result<(), String>>().await
        }
    }
}

async fn listen(
    phone: Arc<Authenticator>,
    address: &str,
    upkeep: Arc<Upkeep>,
) -> Result<(), String> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ctaphid listening on {local}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    loop {
        let (stream, peer) = listener
            .accept()
            .await
            .map_err(|e| format!("accept failed: {e}"))?;
        let _ = stream.set_nodelay(true);
        let channels = Arc::new(Channels {
            phone: phone.clone(),
            open: Mutex::new(HashMap::new()),
            upkeep: upkeep.clone(),
        });
        tokio::spawn(async move {
            if let Err(e) = ctaphid::serve(stream, channels).await {
                eprintln!("ctaphid connection from {peer} ended: {e}");
            }
        });
    }
}

/// The API's CTAP channels of one connection, one per CTAPHID channel.
struct Channels {
    phone: Arc<Authenticator>,
    open: Mutex<HashMap<Origin, Arc<CtapChannel>>>,
    upkeep: Arc<Upkeep>,
}

impl Channels {
    fn channel(&self, origin: &Origin) -> Result<Arc<CtapChannel>, String> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| "the channel table is unusable")?;
        if let Some(channel) = open.get(origin) {
            return Ok(channel.clone());
        }
        let channel = self
            .phone
            .clone()
            .open_ctap_channel()
            .map_err(|e| e.to_string())?;
        open.insert(origin.clone(), channel.clone());
        Ok(channel)
    }

    async fn handle(&self, request: Vec<u8>, signals: RequestSignals) -> Vec<u8> {
        let _busy = self.upkeep.begin();
        let channel = match self.channel(signals.origin()) {
            Ok(channel) => channel,
            Err(e) => {
                eprintln!("ctaphid: {e}");
                return vec![CTAP1_ERR_OTHER];
            }
        };
        let answer = channel.handle(request);
        tokio::pin!(answer);
        let mut poll = tokio::time::interval(STATE_POLL);
        let mut cancel_passed = false;
        loop {
            tokio::select! {
                answer = &mut answer => {
                    return answer.unwrap_or_else(|e| {
                        eprintln!("ctaphid: {e}");
                        vec![CTAP1_ERR_OTHER]
                    });
                }
                () = signals.cancelled(), if !cancel_passed => {
                    cancel_passed = true;
                    channel.cancel();
                }
                _ = poll.tick() => signals.set_waiting_for_user(
                    channel.request_state() == CtapRequestState::WaitingForUser,
                ),
            }
        }
    }
}

impl CtapHandler for Channels {
    fn handle_cbor<'a>(
        &'a self,
        request: Vec<u8>,
        signals: RequestSignals,
    ) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send + 'a>> {
        Box::pin(self.handle(request, signals))
    }

    fn origin_ended<'a>(
        &'a self,
        origin: &'a Origin,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let channel = self.open.lock().ok().and_then(|mut o| o.remove(origin));
            if let Some(channel) = channel {
                channel.end().await;
            }
        })
    }
}
