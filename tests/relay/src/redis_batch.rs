//! Group commit of the Redis store's steps (`redis_store`): the steps this instance's
//! requests ask for while a batch is out go to Redis together, as one `FCALL` of the
//! library's `batch` function (`redis_lua`), which runs them in order, each exactly as it
//! runs alone (a step alone is sent as its own `FCALL`, as before).
//!
//! Why: under load a Redis round trip costs both sides more than most steps' own work. The
//! relay pays a write and a read on the socket, the client's bookkeeping and two task
//! wake-ups; Redis pays a read, a reply and the call's set-up. A batch pays them once for
//! all its steps. What it adds to a request's wait is at most the round trip of the batch
//! already out (one is out at a time), never a timer: the flusher only yields once, so the
//! requests already runnable can add their steps.
//!
//! Invariants: every step queued gets exactly one answer, its own or its batch's failure
//! (the caller answers `503`); steps run in the order they were queued; an answer is given
//! only once Redis answered, so a POST's `204` still follows its write. A step whose
//! request went away meanwhile still runs, as a step already sent would (a retried POST is
//! then recognised by its number). A batch is as atomic as one step: Redis runs a function
//! alone, so no other instance's step comes between two steps of a batch.

use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use redis::Value as Rv;
use redis::aio::ConnectionManager;
use tokio::sync::{Notify, oneshot};

/// Steps in one batch at most, and their arguments' bytes at most (a step alone may be
/// larger: a frame is at most 64 KiB); the rest go in the next batch.
const MAX_BATCH: usize = 256;
const MAX_BATCH_BYTES: usize = 1 << 20;

/// A step's answer, or `Err` when Redis did not answer its batch (already logged).
pub type Answer = Result<Rv, ()>;

struct Queued {
    index: usize,
    args: Vec<Vec<u8>>,
    answer: oneshot::Sender<Answer>,
}

/// How a batch reaches Redis: the connection, the library (loaded again when Redis has
/// forgotten it) and the names `FCALL` takes.
#[derive(Clone)]
pub struct Link {
    pub conn: ConnectionManager,
    pub prefix: Arc<[u8]>,
    pub library: Arc<str>,
    /// Function names by batch index (`redis_lua::Step::index`); `names[0]`: `batch`.
    pub names: Arc<[String]>,
}

pub struct Batcher {
    queue: Mutex<Vec<Queued>>,
    ready: Arc<Notify>,
}

impl Batcher {
    /// The batcher and its flusher task (which ends when the batcher is dropped).
    pub fn start(link: Link) -> Arc<Self> {
        let ready = Arc::new(Notify::new());
        let batcher = Arc::new(Self {
            queue: Mutex::new(Vec::new()),
            ready: ready.clone(),
        });
        tokio::spawn(flush(Arc::downgrade(&batcher), ready, link));
        batcher
    }

    /// Runs step `index` with `args` (the prefix and the clock are added) in the next batch.
    pub async fn call(&self, index: usize, args: Vec<Vec<u8>>) -> Answer {
        let (answer, answered) = oneshot::channel();
        self.lock().push(Queued {
            index,
            args,
            answer,
        });
        self.ready.notify_one();
        answered.await.unwrap_or(Err(()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Queued>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        // The flusher wakes, finds the batcher gone and ends.
        self.ready.notify_one();
    }
}

/// Sends the queued steps, one batch at a time: the steps queued while a batch is out go
/// in the next.
async fn flush(batcher: Weak<Batcher>, ready: Arc<Notify>, link: Link) {
    loop {
        ready.notified().await;
        // The requests already runnable queue their steps first.
        tokio::task::yield_now().await;
        let Some(batcher) = batcher.upgrade() else {
            return;
        };
        let batch: Vec<Queued> = {
            let mut queue = batcher.lock();
            let take = batch_len(&queue);
            let batch = queue.drain(..take).collect();
            if !queue.is_empty() {
                ready.notify_one();
            }
            batch
        };
        drop(batcher);
        if !batch.is_empty() {
            send(&link, batch).await;
        }
    }
}

/// How many of the queued steps, from the first, the next batch takes: at least one, at
/// most `MAX_BATCH`, within `MAX_BATCH_BYTES` of arguments.
fn batch_len(queue: &[Queued]) -> usize {
    let mut bytes = 0;
    let fits = queue.iter().take(MAX_BATCH).position(|step| {
        bytes += step.args.iter().map(Vec::len).sum::<usize>();
        bytes > MAX_BATCH_BYTES
    });
    match fits {
        Some(0) => 1,
        Some(n) => n,
        None => queue.len().min(MAX_BATCH),
    }
}

/// The `FCALL` of step `index` alone: its function, the prefix, `args` and the clock;
/// `None` for an index the library does not have.
pub fn alone<'a>(
    link: &Link,
    index: usize,
    args: impl IntoIterator<Item = &'a [u8]>,
) -> Option<redis::Cmd> {
    let mut call = redis::cmd("FCALL");
    call.arg(link.names.get(index)?).arg(0).arg(&*link.prefix);
    for arg in args {
        call.arg(arg);
    }
    call.arg(crate::redis_store::now_ms());
    Some(call)
}

/// Sends one batch and gives each step its answer.
async fn send(link: &Link, batch: Vec<Queued>) {
    let call = if let [one] = batch.as_slice() {
        alone(link, one.index, one.args.iter().map(Vec::as_slice))
    } else {
        let mut call = redis::cmd("FCALL");
        call.arg(&link.names[0]).arg(0).arg(&*link.prefix);
        call.arg(crate::redis_store::now_ms());
        for step in &batch {
            call.arg(step.index).arg(step.args.len());
            for arg in &step.args {
                call.arg(arg.as_slice());
            }
        }
        Some(call)
    };
    let answer = match call {
        Some(call) => fcall(link, &call, batch.len()).await,
        None => {
            log!("redis: no such step");
            Err(())
        }
    };
    let answers = match answer {
        Ok(answer) if batch.len() == 1 => vec![Ok(answer)],
        Ok(Rv::Array(answers)) if answers.len() == batch.len() => {
            answers.into_iter().map(own_answer).collect()
        }
        Ok(_) => {
            log!("redis: a batch's answer does not match its steps");
            Vec::new()
        }
        Err(()) => Vec::new(),
    };
    let mut answers = answers.into_iter();
    for step in batch {
        // A request that went away dropped its receiver: nothing to tell it.
        let _ = step.answer.send(answers.next().unwrap_or(Err(())));
    }
}

/// A step's answer within its batch's: a step that failed alone (`redis_lua`'s `batch`
/// answers the status `STEP FAILED` in its place) fails only its own request.
fn own_answer(answer: Rv) -> Answer {
    match answer {
        Rv::SimpleString(status) if status == "STEP FAILED" => {
            log!("redis: a batched step failed");
            Err(())
        }
        answer => Ok(answer),
    }
}

/// One `FCALL` carrying `steps` steps, and when Redis does not have the library (first use,
/// or Redis restarted) `FUNCTION LOAD` and the call again. A failure is logged by its kind
/// only (a script error could quote its arguments).
pub async fn fcall(link: &Link, call: &redis::Cmd, steps: usize) -> Result<Rv, ()> {
    let mut conn = link.conn.clone();
    let started = Instant::now();
    let mut result = call.query_async(&mut conn).await;
    if result.as_ref().is_err_and(function_missing) {
        let loaded: Result<String, _> = redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg("REPLACE")
            .arg(&*link.library)
            .query_async(&mut conn)
            .await;
        result = match loaded {
            Ok(_) => call.query_async(&mut conn).await,
            Err(e) => Err(e),
        };
    }
    crate::metrics::redis_round_trip(started.elapsed());
    crate::metrics::redis_steps(steps);
    result.map_err(|e| log!("redis: {:?} error", e.kind()))
}

/// Redis's answer to an `FCALL` of a function it does not have.
fn function_missing(e: &redis::RedisError) -> bool {
    e.detail()
        .is_some_and(|d| d.starts_with("Function not found"))
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use futures_util::StreamExt;

    use super::*;
    use crate::redis_lua::Scripts;

    /// A private `redis-server` on a free loopback port, killed by its pid when dropped.
    struct Server {
        child: Child,
        port: u16,
    }

    impl Server {
        fn start() -> Self {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server (tests/setup.sh installs it)");
            let started = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "no redis-server"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            Self { child, port }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn link(port: u16, scripts: &Scripts) -> Link {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("a URL");
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(0);
        Link {
            conn: ConnectionManager::new_lazy_with_config(client, config).expect("a manager"),
            prefix: b"t".as_slice().into(),
            library: scripts.library.as_str().into(),
            names: scripts.by_index.clone().into(),
        }
    }

    /// A private Redis, the library, and a batcher on it.
    fn started() -> (Server, Scripts, Arc<Batcher>) {
        let server = Server::start();
        let scripts = Scripts::new();
        let batcher = Batcher::start(link(server.port, &scripts));
        (server, scripts, batcher)
    }

    fn create(batcher: &Batcher, scripts: &Scripts, session: u8) -> impl Future<Output = Answer> {
        let args = vec![
            format!("{session:032x}").into_bytes(),
            b"100".to_vec(),
            b"60000".to_vec(),
        ];
        batcher.call(scripts.create.index, args)
    }

    fn fcalls(port: u16) -> u64 {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .and_then(|c| c.get_connection())
            .expect("a connection");
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut c)
            .expect("INFO");
        info.lines()
            .find_map(|l| l.strip_prefix("cmdstat_fcall:calls="))
            .and_then(|l| l.split(',').next()?.parse().ok())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn steps_queued_together_run_in_one_call_in_their_order() {
        let (server, scripts, batcher) = started();
        // The library is loaded by a first step alone.
        assert_eq!(create(&batcher, &scripts, 0).await, Ok(Rv::Int(1)));
        let before = fcalls(server.port);
        // Twenty sessions queued at once, then the first again: one FCALL, each step its own
        // answer, in the order queued (incarnations 2..=21, then "exists").
        let mut steps: Vec<_> = (1..=20).map(|s| create(&batcher, &scripts, s)).collect();
        steps.push(create(&batcher, &scripts, 1));
        let answers = futures_util::future::join_all(steps).await;
        let mut expected: Vec<Answer> = (2..=21).map(|inc| Ok(Rv::Int(inc))).collect();
        expected.push(Ok(Rv::Int(-1)));
        assert_eq!(answers, expected);
        assert_eq!(fcalls(server.port) - before, 1, "one FCALL for 21 steps");
    }

    #[tokio::test]
    async fn a_step_that_fails_fails_alone() {
        let (_server, scripts, batcher) = started();
        assert_eq!(create(&batcher, &scripts, 0).await, Ok(Rv::Int(1)));
        // A step Redis cannot run (no such function in the batch) between two good ones.
        let answers = futures_util::future::join_all([
            Box::pin(create(&batcher, &scripts, 1)) as std::pin::Pin<Box<dyn Future<Output = _>>>,
            Box::pin(batcher.call(999, vec![b"x".to_vec()])),
            Box::pin(create(&batcher, &scripts, 2)),
        ])
        .await;
        assert_eq!(answers, [Ok(Rv::Int(2)), Err(()), Ok(Rv::Int(3))]);
        // Alone, it fails alone too.
        assert_eq!(batcher.call(999, vec![]).await, Err(()));
        assert_eq!(create(&batcher, &scripts, 3).await, Ok(Rv::Int(4)));
    }

    #[tokio::test]
    async fn a_batch_sends_one_message_per_instance_it_wakes() {
        let (server, scripts, batcher) = started();
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port)).unwrap();
        let mut pubsub = client.get_async_pubsub().await.expect("a subscriber");
        pubsub.subscribe("t:wake:a").await.expect("subscribed");
        pubsub.subscribe("t:wake").await.expect("subscribed");
        let mut messages = pubsub.into_on_message();
        // Two sessions, each with a GET of instance `a` waiting on `up` 0.
        for s in 1..=2u8 {
            assert_eq!(
                create(&batcher, &scripts, s).await,
                Ok(Rv::Int(i64::from(s)))
            );
            let get = [&format!("{s:032x}"), "60000", "u", "0", "0", "1", "a"]
                .map(|a| a.as_bytes().to_vec());
            let answer = batcher.call(scripts.start_get.index, get.to_vec()).await;
            assert_eq!(
                answer,
                Ok(Rv::Array(vec![Rv::Int(i64::from(s)), Rv::Int(0)]))
            );
        }
        // Instance `b` stores both frames in one batch: one message to `a`, with both.
        let post = |s: u8, frame: &str| {
            let args = [
                &format!("{s:032x}"),
                "u",
                "0",
                frame,
                "8",
                "1000",
                "100000",
                "60000",
                "b",
            ]
            .map(|a| a.as_bytes().to_vec());
            batcher.call(scripts.post.index, args.to_vec())
        };
        let answers = futures_util::future::join_all([post(1, "one:1"), post(2, "two")]).await;
        assert_eq!(answers, [Ok(Rv::Int(1)), Ok(Rv::Int(1))]);
        let message = tokio::time::timeout(Duration::from_secs(5), messages.next())
            .await
            .expect("a wake")
            .expect("the subscription");
        assert_eq!(message.get_channel_name(), "t:wake:a");
        let first = format!("g:{:032x}:u:1:0:one:1", 1);
        let second = format!("g:{:032x}:u:2:0:two", 2);
        let expected = format!("b:{}:{first}{}:{second}", first.len(), second.len());
        assert_eq!(message.get_payload_bytes(), expected.as_bytes());
    }

    /// Redis's CPU time so far (ns, `/proc/<pid>/schedstat`).
    fn cpu_ns(pid: u32) -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
            .ok()
            .and_then(|s| s.split(' ').next()?.parse().ok())
            .unwrap_or(0)
    }

    /// Not a test: Redis's CPU per step of ping-pong round trips (`START_GET` and `POST` each
    /// way, the GETs waiting on instance `a`, the POSTs from `b`) on a private `redis-server`
    /// with 4,000 sessions, each step alone (pipelined: the baseline) and batched, two passes
    /// in turn; and a batched no-op step, the batch's own cost per step:
    /// `cargo test --release -p relay --bin relay step_costs -- --ignored --nocapture`.
    #[tokio::test(flavor = "current_thread")]
    #[ignore]
    async fn step_costs() {
        let server = Server::start();
        let pid = server.child.id();
        let scripts = Scripts::new();
        let link = link(server.port, &scripts);
        let batcher = Batcher::start(link.clone());
        let sessions: Vec<String> = (0..4000u32).map(|s| format!("{s:032x}")).collect();
        let frame = vec![b'f'; 130];
        let step =
            |index: usize, args: &[&[u8]]| (index, args.iter().map(|a| a.to_vec()).collect());
        for chunk in sessions.chunks(500) {
            let calls = chunk.iter().map(|h| {
                let (i, a) = step(scripts.create.index, &[h.as_bytes(), b"100000", b"60000"]);
                batcher.call(i, a)
            });
            futures_util::future::join_all(calls).await;
        }
        let round = |seq: u64| -> Vec<(usize, Vec<Vec<u8>>)> {
            let seq = seq.to_string();
            let seq = seq.as_bytes();
            let mut steps = Vec::new();
            for h in &sessions {
                let h = h.as_bytes();
                let get = |d: &[u8], inst: &[u8]| {
                    step(
                        scripts.start_get.index,
                        &[h, b"90000", d, seq, b"0", b"1", inst],
                    )
                };
                let post = |d: &[u8], inst: &[u8]| {
                    let limits: [&[u8]; 4] = [b"32", b"1048576", b"536870912", b"60000"];
                    let mut args = vec![h, d, seq, &frame];
                    args.extend(limits);
                    args.push(inst);
                    step(scripts.post.index, &args)
                };
                steps.extend([
                    get(b"u", b"a"),
                    post(b"u", b"b"),
                    get(b"d", b"b"),
                    post(b"d", b"a"),
                ]);
            }
            steps
        };
        let mut seq = 0;
        let mut per_step = |batched: bool| {
            let steps = round(seq);
            seq += 1;
            let (batcher, link) = (&batcher, &link);
            async move {
                let start = cpu_ns(pid);
                for chunk in steps.chunks(1024) {
                    let answers = if batched {
                        let calls = chunk.iter().cloned().map(|(i, a)| batcher.call(i, a));
                        futures_util::future::join_all(calls).await
                    } else {
                        let calls = chunk.iter().map(|(i, a)| {
                            let call = alone(link, *i, a.iter().map(Vec::as_slice));
                            async move { fcall(link, &call.expect("a step"), 1).await }
                        });
                        futures_util::future::join_all(calls).await
                    };
                    assert!(answers.iter().all(Result::is_ok));
                }
                (cpu_ns(pid) - start) as f64 / steps.len() as f64 / 1000.0
            }
        };
        let (mut alone, mut batched) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            for _ in 0..5 {
                alone.push(per_step(false).await);
            }
            for _ in 0..5 {
                batched.push(per_step(true).await);
            }
        }
        let noops: Vec<_> = (0..16_000)
            .map(|_| (scripts.noop.index, vec![b"x".to_vec(); 7]))
            .collect();
        let start = cpu_ns(pid);
        for chunk in noops.chunks(1024) {
            let calls = chunk.iter().cloned().map(|(i, a)| batcher.call(i, a));
            futures_util::future::join_all(calls).await;
        }
        let noop = (cpu_ns(pid) - start) as f64 / 16_000.0 / 1000.0;
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (alone, batched) = (median(alone), median(batched));
        println!(
            "Redis CPU per step (medians of 10 rounds of 16,000 steps): alone {alone:.2} µs, batched {batched:.2} µs ({:.2}x); a batched no-op step {noop:.2} µs",
            batched / alone
        );
    }

    #[test]
    fn a_batch_is_bounded_in_steps_and_bytes() {
        let queued = |n: usize, len: usize| -> Vec<Queued> {
            (0..n)
                .map(|_| Queued {
                    index: 1,
                    args: vec![vec![0; len]],
                    answer: oneshot::channel().0,
                })
                .collect()
        };
        assert_eq!(batch_len(&queued(0, 10)), 0);
        assert_eq!(batch_len(&queued(3, 10)), 3);
        assert_eq!(batch_len(&queued(300, 10)), MAX_BATCH);
        // 64 KiB frames: 16 fit in 1 MiB; one alone is sent even when larger.
        assert_eq!(batch_len(&queued(40, 65_536)), 16);
        assert_eq!(batch_len(&queued(2, MAX_BATCH_BYTES + 1)), 1);
    }

    #[tokio::test]
    async fn every_step_is_answered_when_redis_is_away() {
        let server = Server::start();
        let port = server.port;
        drop(server);
        let scripts = Scripts::new();
        let batcher = Batcher::start(link(port, &scripts));
        let answers =
            futures_util::future::join_all((1..=5).map(|s| create(&batcher, &scripts, s))).await;
        assert_eq!(answers, vec![Err(()); 5]);
    }
}
