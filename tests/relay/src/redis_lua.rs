//! The Lua steps of the Redis store (`redis_store`), one script per operation of link.md §5.4.
//! Redis runs a script atomically, so each step sees and leaves the invariants below whole,
//! whichever instance runs it. Time is Redis's own (`TIME`), one clock for every instance.
//!
//! Keys under the prefix `P` (ARGV[1] of every script):
//! - `P:s:<session>` hash: `inc` (incarnation), and per direction `u`/`d`: `<d>b` (base: the
//!   first unacknowledged number), `<d>n` (next number), `<d>bytes` (bytes held).
//! - `P:f:<session>:<d>` hash: number → frame bytes, exactly `base..next`.
//! - `P:k:<session>` set: doors the session knocked on (to withdraw its knocks).
//! - `P:d:<door>` list: knocks `order:session:inc`, oldest first.
//! - `P:sessions` sorted set: session → idle deadline (ms); its size is the open sessions.
//! - `P:knocks` sorted set: `door|knock` → time knocked; its size is the pending knocks.
//! - `P:waiters` sorted set: `instance:waiter` → end of that long-poll; its live size is the
//!   relay-wide number of long-polls (a dead instance's entries lapse at their end).
//! - `P:n` hash: relay-wide counters (`bytes`, `frames`, `doors`, and the stats).
//! - channel `P:wake`: `f:<session>:<d>` (a frame stored), `x:<session>` (session gone),
//!   `d:<door>` (a knock), published inside the step that made the change.
//!
//! Invariants: `P:n bytes`/`frames` are the sums over all sessions' frame hashes; every
//! knock in a door list is in `P:knocks` and the reverse; a session's keys carry a Redis TTL
//! of its deadline plus `GRACE`, so Redis frees them by itself even if no instance is left
//! to sweep (the sweep, on every instance, normally removes them first and keeps the
//! counters exact). Numbers above 2^53 lose precision in Lua; they can never be the next
//! number, so they are refused as "not the next frame number", as before.

/// Shared helpers, prepended to every script.
const PRELUDE: &str = r#"
local P = ARGV[1]
local T = redis.call('TIME')
local NOW = tonumber(T[1]) * 1000 + math.floor(tonumber(T[2]) / 1000)
local SESS, KN, N, CH, W = P..':sessions', P..':knocks', P..':n', P..':wake', P..':waiters'
local GRACE = 60000
local function skey(h) return P..':s:'..h end
local function fkey(h, d) return P..':f:'..h..':'..d end
local function kkey(h) return P..':k:'..h end
local function dkey(door) return P..':d:'..door end
local function num(v) return tonumber(v) or 0 end
-- Lua's -0 is spelled "-0", which HINCRBY refuses; a zero change is no change anyway.
local function count(name, by) if by ~= 0 then redis.call('HINCRBY', N, name, by) end end
local function touch(h, deadline)
  redis.call('ZADD', SESS, 'GT', deadline, h)
  local d = num(redis.call('ZSCORE', SESS, h))
  local ttl = math.max(d - NOW, 0) + GRACE
  for _, k in ipairs({skey(h), fkey(h, 'u'), fkey(h, 'd'), kkey(h)}) do
    redis.call('PEXPIRE', k, ttl)
  end
end
local function parse_knock(e)
  local order, h, inc = string.match(e, '^(%d+):(%x+):(%d+)$')
  return tonumber(order), h, inc
end
local function drop_knock(door, e)
  local removed = redis.call('LREM', dkey(door), 1, e)
  redis.call('ZREM', KN, door..'|'..e)
  if removed > 0 and redis.call('LLEN', dkey(door)) == 0 then count('doors', -1) end
  return removed
end
local function withdraw(h)
  local n = 0
  for _, door in ipairs(redis.call('SMEMBERS', kkey(h))) do
    for _, e in ipairs(redis.call('LRANGE', dkey(door), 0, -1)) do
      local _, who = parse_knock(e)
      if who == h then n = n + drop_knock(door, e) end
    end
  end
  redis.call('DEL', kkey(h))
  if n > 0 then count('knocks_withdrawn', n) end
end
local function remove_session(h)
  local s = redis.call('HMGET', skey(h), 'ub', 'un', 'ubytes', 'db', 'dn', 'dbytes')
  count('bytes', -(num(s[3]) + num(s[6])))
  count('frames', -((num(s[2]) - num(s[1])) + (num(s[5]) - num(s[4]))))
  withdraw(h)
  redis.call('DEL', skey(h), fkey(h, 'u'), fkey(h, 'd'))
  redis.call('ZREM', SESS, h)
  redis.call('PUBLISH', CH, 'x:'..h)
end
local function expire_sessions(limit)
  local gone = redis.call('ZRANGEBYSCORE', SESS, '-inf', NOW, 'LIMIT', 0, limit)
  for _, h in ipairs(gone) do remove_session(h) end
  if #gone > 0 then count('sessions_expired', #gone) end
  return gone
end
local function expire_knocks(ttl, limit)
  local old = redis.call('ZRANGEBYSCORE', KN, '-inf', NOW - ttl, 'LIMIT', 0, limit)
  for _, m in ipairs(old) do
    local door, e = string.match(m, '^(%x+)|(.+)$')
    drop_knock(door, e)
    redis.call('ZREM', KN, m)
  end
  if #old > 0 then count('knocks_dropped', #old) end
  return #old
end
"#;

/// ARGV: P, session, max_sessions, idle_ms → incarnation, -1 exists, -2 full.
const CREATE: &str = r#"
local h, max, idle = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
expire_sessions(100)
if redis.call('EXISTS', skey(h)) == 1 then return -1 end
if redis.call('ZCARD', SESS) >= max then return -2 end
local inc = redis.call('HINCRBY', N, 'incarnations', 1)
redis.call('HSET', skey(h), 'inc', inc, 'ub', 0, 'un', 0, 'ubytes', 0, 'db', 0, 'dn', 0, 'dbytes', 0)
redis.call('ZADD', SESS, NOW + idle, h)
touch(h, NOW + idle)
count('sessions_created', 1)
return inc
"#;

/// ARGV: P, session → 1 deleted, 0 unknown.
const DELETE: &str = r#"
local h = ARGV[2]
if redis.call('EXISTS', skey(h)) == 0 then return 0 end
remove_session(h)
count('sessions_deleted', 1)
return 1
"#;

/// ARGV: P, door, session, door_knocks, max_knocks, ttl_ms, idle_ms
/// → 1, -1 unknown session, -2 door full, -3 relay's knocks full.
const KNOCK: &str = r#"
local door, h = ARGV[2], ARGV[3]
local per_door, max, ttl, idle = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
expire_knocks(ttl, 100)
local inc = redis.call('HGET', skey(h), 'inc')
if not inc then return -1 end
touch(h, NOW + idle)
if redis.call('LLEN', dkey(door)) >= per_door then return -2 end
if redis.call('ZCARD', KN) >= max then return -3 end
local e = redis.call('HINCRBY', N, 'knock_order', 1)..':'..h..':'..inc
if redis.call('RPUSH', dkey(door), e) == 1 then count('doors', 1) end
redis.call('PEXPIRE', dkey(door), ttl + GRACE)
redis.call('ZADD', KN, NOW, door..'|'..e)
redis.call('SADD', kkey(h), door)
touch(h, NOW + idle)
count('knocks_received', 1)
redis.call('PUBLISH', CH, 'd:'..door)
return 1
"#;

/// ARGV: P, ttl_ms, doors... → {door, session} of the oldest live knock, or nil.
const TAKE_KNOCK: &str = r#"
expire_knocks(tonumber(ARGV[2]), 100)
while true do
  local best, best_order = nil, nil
  for i = 3, #ARGV do
    local e = redis.call('LINDEX', dkey(ARGV[i]), 0)
    if e then
      local order = parse_knock(e)
      if best == nil or order < best_order then best, best_order = ARGV[i], order end
    end
  end
  if best == nil then return false end
  local e = redis.call('LINDEX', dkey(best), 0)
  drop_knock(best, e)
  local _, h, inc = parse_knock(e)
  if redis.call('HGET', skey(h), 'inc') == inc then
    count('knocks_delivered', 1)
    return {best, h}
  end
  count('knocks_dropped', 1)
end
"#;

/// ARGV: P, session, dir, seq, frame, queue_frames, queue_bytes, total_bytes, idle_ms
/// → 1 stored, 2 a retry, -1 unknown session, -2 other bytes under seq, -3 not the next
/// number, -4 too many frames, -5 too many bytes, -6 relay's bytes full.
const POST: &str = r#"
local h, d, seq, frame = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local max_frames, max_bytes, total, idle = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local s = redis.call('HMGET', skey(h), 'inc', d..'b', d..'n', d..'bytes')
if not s[1] then return -1 end
-- Every answer to a known session keeps it open; touched once, after any new frame hash
-- exists, so its TTL is set too (one touch is six commands).
local function done(r) touch(h, NOW + idle) return r end
local base, nxt, bytes = num(s[2]), num(s[3]), num(s[4])
if seq < base then return done(2) end
if seq < nxt then
  if redis.call('HGET', fkey(h, d), ARGV[4]) == frame then return done(2) end
  return done(-2)
end
if seq ~= nxt then return done(-3) end
if nxt - base >= max_frames then return done(-4) end
if bytes + #frame > max_bytes then return done(-5) end
if num(redis.call('HGET', N, 'bytes')) + #frame > total then return done(-6) end
redis.call('HSET', fkey(h, d), ARGV[4], frame)
redis.call('HINCRBY', skey(h), d..'n', 1)
redis.call('HINCRBY', skey(h), d..'bytes', #frame)
count('bytes', #frame)
count('frames', 1)
count('frames_stored', 1)
redis.call('PUBLISH', CH, 'f:'..h..':'..d)
return done(1)
"#;

/// ARGV: P, session, keep_ms → incarnation, or nil if unknown. The session stays open at
/// least `keep_ms` (the request's wait plus the idle time).
const OPEN: &str = r#"
local h = ARGV[2]
local inc = redis.call('HGET', skey(h), 'inc')
if not inc then return false end
touch(h, NOW + tonumber(ARGV[3]))
return tonumber(inc)
"#;

/// `OPEN` and `ADD_WAITER` in one step (a frame GET that may wait; one Redis round trip
/// fewer per GET). ARGV: P, session, keep_ms, member, wait_ms, max → {incarnation, 1 slot
/// claimed / 0 too many long-polls}, or nil if the session is unknown (no slot claimed).
const OPEN_WAIT: &str = r#"
local h = ARGV[2]
local inc = redis.call('HGET', skey(h), 'inc')
if not inc then return false end
touch(h, NOW + tonumber(ARGV[3]))
redis.call('ZREMRANGEBYSCORE', W, '-inf', NOW)
if redis.call('ZCARD', W) >= tonumber(ARGV[6]) then return {tonumber(inc), 0} end
redis.call('ZADD', W, NOW + tonumber(ARGV[5]), ARGV[4])
return {tonumber(inc), 1}
"#;

/// ARGV: P, session, inc, dir, seq, want_following
/// → {frame} or {frame, following}, 0 not there yet, -1 unknown session, -2 dropped.
const TAKE: &str = r#"
local h, inc, d, seq = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local s = redis.call('HMGET', skey(h), 'inc', d..'b', d..'n')
if s[1] ~= inc then return -1 end
local base, nxt = num(s[2]), num(s[3])
local freed, n = 0, 0
while base < seq and base < nxt do
  local field = tostring(base)
  freed = freed + redis.call('HSTRLEN', fkey(h, d), field)
  redis.call('HDEL', fkey(h, d), field)
  base = base + 1
  n = n + 1
end
if n > 0 then
  redis.call('HSET', skey(h), d..'b', base)
  redis.call('HINCRBY', skey(h), d..'bytes', -freed)
  count('bytes', -freed)
  count('frames', -n)
end
if seq < base then return -2 end
local frame = redis.call('HGET', fkey(h, d), ARGV[5])
if not frame then return 0 end
count('frames_served', 1)
if ARGV[6] == '1' then
  return {frame, redis.call('HGET', fkey(h, d), tostring(seq + 1))}
end
return {frame}
"#;

/// ARGV: P, session, dir, seq → {frame} or {} (not stored yet), -1 unknown, -2 dropped.
const PEEK: &str = r#"
local h, d, seq = ARGV[2], ARGV[3], tonumber(ARGV[4])
local s = redis.call('HMGET', skey(h), 'inc', d..'b')
if not s[1] then return -1 end
if seq < num(s[2]) then return -2 end
local frame = redis.call('HGET', fkey(h, d), ARGV[4])
if frame then return {frame} end
return {}
"#;

/// ARGV: P, member, wait_ms, max → 1 registered, 0 too many long-polls relay-wide.
const ADD_WAITER: &str = r#"
redis.call('ZREMRANGEBYSCORE', W, '-inf', NOW)
if redis.call('ZCARD', W) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', W, NOW + tonumber(ARGV[3]), ARGV[2])
return 1
"#;

/// ARGV: P, knock_ttl_ms, limit → {knocks removed, sessions expired...}.
const SWEEP: &str = r#"
local knocks = expire_knocks(tonumber(ARGV[2]), tonumber(ARGV[3]))
local gone = expire_sessions(tonumber(ARGV[3]))
local out = {knocks}
for _, h in ipairs(gone) do out[#out + 1] = h end
return out
"#;

/// ARGV: P → {sessions, knocks, waiters, counter name, value, ...}.
const STATS: &str = r#"
local out = {redis.call('ZCARD', SESS), redis.call('ZCARD', KN), redis.call('ZCOUNT', W, NOW, '+inf')}
for _, v in ipairs(redis.call('HGETALL', N)) do out[#out + 1] = v end
return out
"#;

pub struct Scripts {
    pub create: redis::Script,
    pub delete: redis::Script,
    pub knock: redis::Script,
    pub take_knock: redis::Script,
    pub post: redis::Script,
    pub open: redis::Script,
    pub open_wait: redis::Script,
    pub take: redis::Script,
    pub peek: redis::Script,
    pub add_waiter: redis::Script,
    pub sweep: redis::Script,
    pub stats: redis::Script,
}

fn script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{PRELUDE}{body}"))
}

impl Scripts {
    pub fn new() -> Self {
        Self {
            create: script(CREATE),
            delete: script(DELETE),
            knock: script(KNOCK),
            take_knock: script(TAKE_KNOCK),
            post: script(POST),
            open: script(OPEN),
            open_wait: script(OPEN_WAIT),
            take: script(TAKE),
            peek: script(PEEK),
            add_waiter: script(ADD_WAITER),
            sweep: script(SWEEP),
            stats: script(STATS),
        }
    }
}
