//! [`serve`]: CTAPHID over any byte stream, each 64 bytes read one report and each 64 bytes
//! written one report (how the virtual phone exposes its authenticator over TCP).
//!
//! One task reads reports, runs the CBOR request and sends keepalives, so that while the
//! engine works (or waits for the user) the loop still answers INIT, refuses other requests as
//! busy, applies CANCEL and sends a keepalive every 80 ms on the request's channel. The engine
//! is a [`CtapHandler`]; the state machine is [`CtapHid`].
//!
//! Invariants: every `select!` branch is cancel-safe (a read into the report buffer, a boxed
//! future, an interval, a sleep), so no input is lost or duplicated; when the stream ends or
//! fails, a running request is cancelled and given `CANCEL_GRACE` to return.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::{
    Action, CtapHid, DeviceVersion, HidError, KEEPALIVE_INTERVAL, KeepaliveStatus, MESSAGE_TIMEOUT,
    Message, REPORT_LEN,
};
use crate::request::{CtapHandler, RequestSignals};

/// After the client goes away, how long a cancelled request may take to wind down (close its
/// prompt, for instance) before it is dropped.
const CANCEL_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    /// Reported in the INIT response.
    pub version: DeviceVersion,
    /// How long a message may take from its init packet to its last packet (§11.2.5.2).
    pub message_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            version: DeviceVersion::default(),
            message_timeout: MESSAGE_TIMEOUT,
        }
    }
}

/// Serves CTAPHID on `stream` until it closes.
///
/// # Errors
/// The stream's read or write error; a running request is cancelled first.
pub async fn serve<S>(stream: S, handler: Arc<dyn CtapHandler>) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    serve_with(stream, handler, ServerConfig::default()).await
}

/// [`serve`] with a chosen device version and message timeout.
///
/// # Errors
/// As [`serve`].
pub async fn serve_with<S>(
    mut stream: S,
    handler: Arc<dyn CtapHandler>,
    config: ServerConfig,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut running = None;
    let mut hid = CtapHid::with_timeout(config.version, config.message_timeout);
    let result = run(&mut stream, handler.as_ref(), &mut hid, &mut running).await;
    if let Some(request) = running.take() {
        request.signals.cancel();
        let _ = tokio::time::timeout(CANCEL_GRACE, request.future).await;
    }
    // The connection's channels are gone, and with them their follow-up state.
    for origin in hid.origins() {
        handler.origin_ended(&origin).await;
    }
    result
}

type CborFuture<'h> = Pin<Box<dyn Future<Output = Vec<u8>> + Send + 'h>>;

struct Running<'h> {
    future: CborFuture<'h>,
    signals: RequestSignals,
    keepalive: Interval,
}

enum RunningEvent {
    Done(Vec<u8>),
    Keepalive(KeepaliveStatus),
}

async fn run<'h, S>(
    stream: &mut S,
    handler: &'h dyn CtapHandler,
    hid: &mut CtapHid,
    running: &mut Option<Running<'h>>,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut report = [0u8; REPORT_LEN];
    let mut filled = 0;
    loop {
        let deadline = hid.next_deadline();
        tokio::select! {
            read = stream.read(&mut report[filled..]) => {
                let n = read?;
                if n == 0 {
                    // Closed; a partial report is dropped.
                    return Ok(());
                }
                filled += n;
                if filled < REPORT_LEN {
                    continue;
                }
                filled = 0;
                for action in hid.receive(&report, Instant::now()) {
                    match action {
                        Action::Send(message) => send(stream, &message).await?,
                        Action::StartCbor { request, origin, .. } => {
                            let signals = RequestSignals::new(origin);
                            *running = Some(Running {
                                future: handler.handle_cbor(request, signals.clone()),
                                signals,
                                keepalive: keepalive_timer(),
                            });
                        }
                        Action::CancelCbor => {
                            if let Some(request) = running.as_ref() {
                                request.signals.cancel();
                            }
                        }
                        Action::Wink => handler.wink(),
                    }
                }
            }
            event = next_event(running) => match event {
                RunningEvent::Done(response) => {
                    *running = None;
                    if let Some(message) = hid.finish_cbor(response) {
                        send(stream, &message).await?;
                    }
                }
                RunningEvent::Keepalive(status) => {
                    if let Some(message) = hid.keepalive(status) {
                        send(stream, &message).await?;
                    }
                }
            },
            () = sleep_until(deadline) => {
                if let Some(message) = hid.poll_timeout(Instant::now()) {
                    send(stream, &message).await?;
                }
            }
        }
    }
}

fn keepalive_timer() -> Interval {
    let mut timer =
        tokio::time::interval_at(Instant::now() + KEEPALIVE_INTERVAL, KEEPALIVE_INTERVAL);
    // After a stall, one keepalive, not a burst.
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}

/// The running request's next event; never resolves when nothing runs.
async fn next_event(running: &mut Option<Running<'_>>) -> RunningEvent {
    let Some(request) = running.as_mut() else {
        return std::future::pending().await;
    };
    tokio::select! {
        biased;
        response = request.future.as_mut() => RunningEvent::Done(response),
        _ = request.keepalive.tick() => RunningEvent::Keepalive(
            if request.signals.is_waiting_for_user() {
                KeepaliveStatus::UpNeeded
            } else {
                KeepaliveStatus::Processing
            },
        ),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, message: &Message) -> io::Result<()> {
    // CtapHid only produces messages that fit (it replaces oversized CBOR responses, and PING
    // echoes what was received), so the fallback is for a bug, not for input.
    let reports = message.to_reports().unwrap_or_else(|_| {
        Message::error(message.cid, HidError::Other)
            .to_reports()
            .unwrap_or_default()
    });
    stream.write_all(reports.as_flattened()).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::DuplexStream;
    use tokio::sync::Notify;
    use tokio::task::JoinHandle;

    use super::super::{
        BROADCAST_CID, CTAPHID_CANCEL, CTAPHID_CBOR, CTAPHID_ERROR, CTAPHID_INIT,
        CTAPHID_KEEPALIVE, CTAPHID_PING, CTAPHID_WINK, Report,
    };
    use super::*;
    use crate::request::{Origin, OriginKind};

    /// Generous bound so that a bug fails a test instead of hanging it.
    const PATIENCE: Duration = Duration::from_secs(10);

    #[derive(Clone, Copy)]
    enum Script {
        /// Returns the request as the response.
        Echo,
        /// Waits for CANCEL, then answers CTAP2_ERR_KEEPALIVE_CANCEL.
        UntilCancelled,
        /// Marks "waiting for the user" until the test releases it.
        WaitForUser,
        /// Works (without the user) until the test releases it.
        UntilReleased,
    }

    struct ScriptedEngine {
        script: Script,
        release: Notify,
        signals: Mutex<Option<RequestSignals>>,
        /// The origin of every request, in order, and every origin reported ended.
        origins: Mutex<Vec<Origin>>,
        ended: Mutex<Vec<Origin>>,
        winks: AtomicUsize,
    }

    impl ScriptedEngine {
        fn new(script: Script) -> Arc<Self> {
            Arc::new(Self {
                script,
                release: Notify::new(),
                signals: Mutex::new(None),
                origins: Mutex::new(Vec::new()),
                ended: Mutex::new(Vec::new()),
                winks: AtomicUsize::new(0),
            })
        }

        fn last_signals(&self) -> RequestSignals {
            self.signals.lock().unwrap().clone().unwrap()
        }
    }

    impl CtapHandler for ScriptedEngine {
        fn handle_cbor<'a>(
            &'a self,
            request: Vec<u8>,
            signals: RequestSignals,
        ) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send + 'a>> {
            Box::pin(async move {
                *self.signals.lock().unwrap() = Some(signals.clone());
                self.origins.lock().unwrap().push(signals.origin().clone());
                match self.script {
                    Script::Echo => request,
                    Script::UntilCancelled => {
                        signals.cancelled().await;
                        vec![0x2D]
                    }
                    Script::WaitForUser => {
                        signals.set_waiting_for_user(true);
                        self.release.notified().await;
                        signals.set_waiting_for_user(false);
                        vec![0x00, 0xA0]
                    }
                    Script::UntilReleased => {
                        self.release.notified().await;
                        vec![0x00, 0xA0]
                    }
                }
            })
        }

        fn wink(&self) {
            self.winks.fetch_add(1, Ordering::SeqCst);
        }

        fn origin_ended<'a>(
            &'a self,
            origin: &'a Origin,
        ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
            self.ended.lock().unwrap().push(origin.clone());
            Box::pin(std::future::ready(()))
        }
    }

    /// A host speaking raw reports, decoding them independently of the code under test.
    struct Host {
        io: DuplexStream,
    }

    fn start(
        engine: Arc<ScriptedEngine>,
        config: ServerConfig,
    ) -> (Host, JoinHandle<io::Result<()>>) {
        let (host, device) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(serve_with(device, engine, config));
        (Host { io: host }, server)
    }

    impl Host {
        async fn write_report(&mut self, report: &Report) {
            self.io.write_all(report).await.unwrap();
        }

        async fn send(&mut self, cid: u32, cmd: u8, payload: &[u8]) {
            let reports = Message::new(cid, cmd, payload.to_vec())
                .to_reports()
                .unwrap();
            self.io.write_all(reports.as_flattened()).await.unwrap();
        }

        async fn read_report(&mut self) -> Report {
            let mut report = [0u8; REPORT_LEN];
            tokio::time::timeout(PATIENCE, self.io.read_exact(&mut report))
                .await
                .expect("the device answers in time")
                .unwrap();
            report
        }

        async fn recv(&mut self) -> Message {
            let first = self.read_report().await;
            assert_ne!(first[4] & 0x80, 0, "a message starts with an init packet");
            let cid = u32::from_be_bytes(first[..4].try_into().unwrap());
            let len = usize::from(u16::from_be_bytes([first[5], first[6]]));
            let mut payload = first[7..].to_vec();
            let mut seq = 0;
            while payload.len() < len {
                let cont = self.read_report().await;
                assert_eq!(&cont[..4], &cid.to_be_bytes());
                assert_eq!(cont[4], seq);
                seq += 1;
                payload.extend_from_slice(&cont[5..]);
            }
            payload.truncate(len);
            Message::new(cid, first[4] & 0x7F, payload)
        }

        /// The next message other than a keepalive, and the keepalive statuses before it.
        async fn recv_after_keepalives(&mut self) -> (Vec<u8>, Message) {
            let mut statuses = Vec::new();
            loop {
                let message = self.recv().await;
                if message.cmd != CTAPHID_KEEPALIVE {
                    return (statuses, message);
                }
                assert_eq!(message.payload.len(), 1);
                statuses.push(message.payload[0]);
            }
        }

        async fn open_channel(&mut self) -> u32 {
            let nonce = [9, 8, 7, 6, 5, 4, 3, 2];
            self.send(BROADCAST_CID, CTAPHID_INIT, &nonce).await;
            let reply = self.recv().await;
            assert_eq!((reply.cid, reply.cmd), (BROADCAST_CID, CTAPHID_INIT));
            assert_eq!(&reply.payload[..8], &nonce);
            u32::from_be_bytes(reply.payload[8..12].try_into().unwrap())
        }
    }

    async fn finish(host: Host, server: JoinHandle<io::Result<()>>) {
        drop(host);
        tokio::time::timeout(PATIENCE, server)
            .await
            .expect("serve returns when the stream closes")
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn init_ping_and_wink_over_a_stream() {
        let engine = ScriptedEngine::new(Script::Echo);
        let (mut host, server) = start(engine.clone(), ServerConfig::default());
        let a = host.open_channel().await;
        let b = host.open_channel().await;
        assert_ne!(a, b);

        let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        host.send(a, CTAPHID_PING, &payload).await;
        assert_eq!(host.recv().await, Message::new(a, CTAPHID_PING, payload));

        host.send(b, CTAPHID_WINK, &[]).await;
        assert_eq!(host.recv().await, Message::new(b, CTAPHID_WINK, vec![]));
        assert_eq!(engine.winks.load(Ordering::SeqCst), 1);

        host.send(0, CTAPHID_PING, &[1]).await;
        assert_eq!(
            host.recv().await,
            Message::new(0, CTAPHID_ERROR, vec![0x0B])
        );
        finish(host, server).await;
    }

    #[tokio::test]
    async fn each_channel_is_one_origin_of_its_own_and_ends_with_the_connection() {
        let engine = ScriptedEngine::new(Script::Echo);
        let (mut host, server) = start(engine.clone(), ServerConfig::default());
        let a = host.open_channel().await;
        let b = host.open_channel().await;
        for cid in [a, b, a] {
            host.send(cid, CTAPHID_CBOR, &[0x04]).await;
            assert_eq!(host.recv().await.cid, cid);
        }
        let origins = engine.origins.lock().unwrap().clone();
        assert_eq!(origins.len(), 3);
        assert_eq!(origins[0], origins[2], "one channel, one origin");
        assert_ne!(origins[0], origins[1], "two channels, two origins");
        assert!(
            origins
                .iter()
                .all(|o| *o.kind() == OriginKind::CtapHidChannel)
        );
        // A second connection's channel is another origin again.
        let (mut other, other_server) = start(engine.clone(), ServerConfig::default());
        let c = other.open_channel().await;
        other.send(c, CTAPHID_CBOR, &[0x04]).await;
        other.recv().await;
        let third = engine.origins.lock().unwrap()[3].clone();
        assert!(!origins.contains(&third));
        // Closing a connection ends its channels' origins, and only those.
        finish(host, server).await;
        let ended = engine.ended.lock().unwrap().clone();
        assert!(ended.contains(&origins[0]) && ended.contains(&origins[1]));
        assert!(!ended.contains(&third));
        finish(other, other_server).await;
        assert!(engine.ended.lock().unwrap().contains(&third));
    }

    #[tokio::test]
    async fn a_cbor_request_gets_its_response() {
        let (mut host, server) = start(ScriptedEngine::new(Script::Echo), ServerConfig::default());
        let a = host.open_channel().await;
        let request: Vec<u8> = std::iter::once(0x01).chain([0xA5; 300]).collect();
        host.send(a, CTAPHID_CBOR, &request).await;
        let (_, response) = host.recv_after_keepalives().await;
        assert_eq!(response, Message::new(a, CTAPHID_CBOR, request));
        finish(host, server).await;
    }

    #[tokio::test]
    async fn keepalives_say_up_needed_while_the_engine_waits_for_the_user() {
        let engine = ScriptedEngine::new(Script::WaitForUser);
        let (mut host, server) = start(engine.clone(), ServerConfig::default());
        let a = host.open_channel().await;
        host.send(a, CTAPHID_CBOR, &[0x01]).await;
        for _ in 0..3 {
            let keepalive = host.recv().await;
            assert_eq!(keepalive, Message::new(a, CTAPHID_KEEPALIVE, vec![2]));
        }
        engine.release.notify_one();
        let (statuses, response) = host.recv_after_keepalives().await;
        assert!(statuses.iter().all(|s| *s == 2), "{statuses:?}");
        assert_eq!(response, Message::new(a, CTAPHID_CBOR, vec![0x00, 0xA0]));
        finish(host, server).await;
    }

    #[tokio::test]
    async fn keepalives_say_processing_while_the_engine_works() {
        let engine = ScriptedEngine::new(Script::UntilReleased);
        let (mut host, server) = start(engine.clone(), ServerConfig::default());
        let a = host.open_channel().await;
        let sent = Instant::now();
        host.send(a, CTAPHID_CBOR, &[0x01]).await;
        for _ in 0..2 {
            assert_eq!(
                host.recv().await,
                Message::new(a, CTAPHID_KEEPALIVE, vec![1])
            );
        }
        // Two keepalives 80 ms apart: at least 160 ms went by.
        assert!(sent.elapsed() >= 2 * KEEPALIVE_INTERVAL);
        engine.release.notify_one();
        let (_, response) = host.recv_after_keepalives().await;
        assert_eq!(response.cmd, CTAPHID_CBOR);
        finish(host, server).await;
    }

    #[tokio::test]
    async fn cancel_ends_the_request_with_keepalive_cancel_and_is_not_answered() {
        let engine = ScriptedEngine::new(Script::UntilCancelled);
        let (mut host, server) = start(engine.clone(), ServerConfig::default());
        let a = host.open_channel().await;
        host.send(a, CTAPHID_CBOR, &[0x02]).await;
        host.send(a, CTAPHID_CANCEL, &[]).await;
        let (_, response) = host.recv_after_keepalives().await;
        assert_eq!(response, Message::new(a, CTAPHID_CBOR, vec![0x2D]));
        assert!(engine.last_signals().is_cancelled());
        // The next message is the PING's echo: nothing was sent for the CANCEL.
        host.send(a, CTAPHID_PING, &[5]).await;
        assert_eq!(host.recv().await, Message::new(a, CTAPHID_PING, vec![5]));
        finish(host, server).await;
    }

    #[tokio::test]
    async fn another_channel_is_busy_during_a_request_and_served_after_it() {
        let engine = ScriptedEngine::new(Script::UntilReleased);
        let (mut host, server) = start(engine.clone(), ServerConfig::default());
        let a = host.open_channel().await;
        let b = host.open_channel().await;
        host.send(a, CTAPHID_CBOR, &[0x01]).await;
        host.send(b, CTAPHID_PING, &[1, 2, 3]).await;
        let (_, busy) = host.recv_after_keepalives().await;
        assert_eq!(busy, Message::new(b, CTAPHID_ERROR, vec![0x06]));
        // A CANCEL from b does not touch a's request.
        host.send(b, CTAPHID_CANCEL, &[]).await;
        engine.release.notify_one();
        let (_, response) = host.recv_after_keepalives().await;
        assert_eq!(response, Message::new(a, CTAPHID_CBOR, vec![0x00, 0xA0]));
        assert!(!engine.last_signals().is_cancelled());
        host.send(b, CTAPHID_PING, &[1, 2, 3]).await;
        assert_eq!(
            host.recv().await,
            Message::new(b, CTAPHID_PING, vec![1, 2, 3])
        );
        finish(host, server).await;
    }

    #[tokio::test(start_paused = true)]
    async fn init_on_the_busy_channel_drops_its_request() {
        let engine = ScriptedEngine::new(Script::UntilCancelled);
        let (mut host, server) = start(engine.clone(), ServerConfig::default());
        let a = host.open_channel().await;
        host.send(a, CTAPHID_CBOR, &[0x02]).await;
        host.send(a, CTAPHID_INIT, &[1; 8]).await;
        let (_, reply) = host.recv_after_keepalives().await;
        assert_eq!((reply.cid, reply.cmd), (a, CTAPHID_INIT));
        assert_eq!(&reply.payload[8..12], &a.to_be_bytes());
        assert!(engine.last_signals().is_cancelled());
        // Once the engine has returned, the channel is served again, and the dropped
        // request's answer never shows up.
        tokio::time::sleep(Duration::from_millis(50)).await;
        host.send(a, CTAPHID_PING, &[4]).await;
        assert_eq!(host.recv().await, Message::new(a, CTAPHID_PING, vec![4]));
        finish(host, server).await;
    }

    #[tokio::test]
    async fn closing_the_stream_cancels_the_running_request() {
        let engine = ScriptedEngine::new(Script::UntilCancelled);
        let (mut host, server) = start(engine.clone(), ServerConfig::default());
        let a = host.open_channel().await;
        host.send(a, CTAPHID_CBOR, &[0x02]).await;
        // A keepalive proves the request is running.
        assert_eq!(host.recv().await.cmd, CTAPHID_KEEPALIVE);
        finish(host, server).await;
        assert!(engine.last_signals().is_cancelled());
    }

    #[tokio::test]
    async fn an_unfinished_message_times_out() {
        let config = ServerConfig {
            message_timeout: Duration::from_millis(100),
            ..ServerConfig::default()
        };
        let (mut host, server) = start(ScriptedEngine::new(Script::Echo), config);
        let a = host.open_channel().await;
        let reports = Message::new(a, CTAPHID_PING, vec![0; 100])
            .to_reports()
            .unwrap();
        let sent = Instant::now();
        host.write_report(&reports[0]).await;
        assert_eq!(
            host.recv().await,
            Message::new(a, CTAPHID_ERROR, vec![0x05])
        );
        assert!(sent.elapsed() >= Duration::from_millis(100));
        // The late continuation is ignored; the channel works again.
        host.write_report(&reports[1]).await;
        host.send(a, CTAPHID_PING, &[6]).await;
        assert_eq!(host.recv().await, Message::new(a, CTAPHID_PING, vec![6]));
        finish(host, server).await;
    }

    #[tokio::test]
    async fn a_report_split_across_reads_and_a_partial_one_at_the_end() {
        let (mut host, server) = start(ScriptedEngine::new(Script::Echo), ServerConfig::default());
        let a = host.open_channel().await;
        let reports = Message::new(a, CTAPHID_PING, vec![3; 10])
            .to_reports()
            .unwrap();
        for piece in reports[0].chunks(10) {
            host.io.write_all(piece).await.unwrap();
            tokio::task::yield_now().await;
        }
        assert_eq!(
            host.recv().await,
            Message::new(a, CTAPHID_PING, vec![3; 10])
        );
        host.io.write_all(&reports[0][..30]).await.unwrap();
        finish(host, server).await;
    }
}
