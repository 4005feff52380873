//! `relay serve --floor-redis URL` (hidden; `relay-load --compare-redis` runs it): the
//! physical floor of a Redis-backed relay, measured in the same run as the real one.
//!
//! Whatever its design, a relay whose instances share their state in Redis takes at least
//! one atomic step in Redis for every HTTP request that reads or changes that state: a POST
//! must be in Redis before its `204`, a GET must look there (a GET woken by another
//! instance needs at least the message that wakes it, which this floor leaves out). So an
//! ideal Redis-backed relay is the in-memory relay plus one Redis step per request, and
//! that is what this mode serves: the in-memory store, with one step of the Redis
//! library's `noop` function (no key, no clock, an integer answer) before each request is
//! handled, on the Redis store's own client path (`RedisStore::floor_step`: the batching
//! of concurrent requests' steps into one `FCALL`, the multiplexed connection, its idle
//! subscriber beside it, the same runtime, threads and allocator). A ping-pong round trip
//! is four requests, so four steps.
//!
//! Measured under the same load as the other two (same sessions, concurrency and flows),
//! its CPU per round trip (this process plus its `redis-server`) is what the load costs
//! when the shared store costs nothing but its steps; the Redis mode's excess over
//! it is what the real steps (their Lua work, the cross-instance wakes, the bookkeeping)
//! add. A step that fails answers `503`, as the Redis store would.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};

use crate::redis_store::RedisStore;

/// Every request of `router` first takes one no-op Redis step.
pub fn layer(router: Router, store: Arc<RedisStore>) -> Router {
    router.layer(from_fn_with_state(store, one_step))
}

async fn one_step(State(store): State<Arc<RedisStore>>, request: Request, next: Next) -> Response {
    if let Err(e) = store.floor_step().await {
        return e.into_response();
    }
    next.run(request).await
}
