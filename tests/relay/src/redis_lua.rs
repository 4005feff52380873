//! The Lua steps of the Redis store (`redis_store`), one function per operation of link.md
//! §5.4, in one Redis function library (`FUNCTION LOAD`, Redis 7). Redis runs a function
//! atomically, so each step sees and leaves the invariants below whole, whichever instance
//! runs it. Time is the calling instance's wall clock in ms, the last argument of every
//! step (instances keep their clocks in step, as NTP does, to well under a second; every
//! deadline here is seconds long, and an idle deadline only ever moves later). Redis's own
//! `TIME` was one more command per step, and the steps' cost is mostly per command.
//!
//! A library rather than `EVALSHA` scripts: the shared helpers are defined once, when Redis
//! loads the library, instead of on every call (a script re-runs its whole prelude, a dozen
//! closures, each time). The library's name carries a hash of its code, so relays of
//! different versions on one Redis never replace each other's functions; an instance loads
//! it when Redis answers that a function is missing (first use, or Redis restarted).
//! `batch` runs several steps in one call (`redis_batch`), each as it runs alone.
//!
//! Keys under the prefix `P` (ARGV[1] of every function):
//! - `P:s:<session>` hash: `inc` (incarnation), `t` (its idle deadline as written in
//!   `P:sessions`, ms), `x` (when its keys expire, ms), and per direction `u`/`d`: `<d>b`
//!   (base: the first unacknowledged number), `<d>n` (next number), `<d>bytes` (bytes held),
//!   `<d>w` (the instances whose GET found nothing there since the last frame stored: names
//!   joined by `,`, or `*` for "too many, tell everyone"), and the frames `<d>:<number>` →
//!   bytes, exactly `base..next`. One hash per session: a step reads what it needs with one
//!   `HMGET` and writes all it changed with one `HSET` (`put`, `finish`), frames included.
//! - `P:k:<session>` set: doors the session knocked on (to withdraw its knocks).
//! - `P:d:<door>` list: knocks `order:session:inc`, oldest first.
//! - `P:sessions` sorted set: session → idle deadline (ms); its size is the open sessions.
//! - `P:knocks` sorted set: `door|knock` → time knocked; its size is the pending knocks.
//! - `P:lease` hash: instance → long-poll slots granted to it; `P:lease_end` sorted set:
//!   instance → when that grant lapses unless renewed; `P:lease_used` hash: instance → its
//!   long-polls at its last renewal (stats only). The grants never sum past the relay-wide
//!   limit, and an instance lets at most its grant wait at once, so the limit holds across
//!   instances; a dead instance's grant lapses with its end (`LEASE`).
//! - `P:n` hash: relay-wide counters: `bytes` (held in all queues, the relay-wide budget),
//!   `doors`, the sessions' and knocks' stats, and `stored_gone` (frames stored by removed
//!   sessions). A call (a step, or a batch of steps) gathers its changes and writes each
//!   counter once when it ends; within the call `bytes_held` is the budget's count as the
//!   call has changed it, so a batch of POSTs costs one read and one write of it. A
//!   session's frames stored are its next numbers (`un + dn`) and its frames queued
//!   `un - ub + dn - db`, so the frame stats are sums over the sessions (`STATS`, when
//!   asked for them) and no step counts frames.
//! - channels: `P:wake:<instance>` carries `g:<session>:<d>:<inc>:<seq>:<frame>` (frame
//!   `seq` stored, with its bytes) and `x:<session>` (session gone) to the instances named
//!   in `<d>w` only; `P:wake`, which every instance hears, carries `d:<door>` (a knock) and
//!   the wakes of a `*` session. Published by the call (step or batch) that made the
//!   change, as it ends, one message per channel: a call with several wakes for one channel
//!   sends `b:` followed by each as `<length>:<message>`. Never to the instance that ran
//!   the step: `POST` tells its caller instead, which wakes its own GETs (a third of the
//!   wakes behind a round-robin over three instances).
//!
//! Wake addressing: a frame GET that finds nothing writes its instance into `<d>w` in the
//! same step (it has armed its local wake before), and the step that stores the next frame
//! in `<d>` publishes to exactly those instances and clears the list. So no wake is lost
//! (whoever looked before the store is named; whoever looks after it finds the frame), each
//! instance hears only the wakes of its own waiters, and a stale name costs one message.
//! The wake carries the frame, so a GET woken for the frame it waits for answers without
//! another step (the bytes under a number never change: a different body is a `409`);
//! a GET woken for another number looks again (`TAKE`), which names it again.
//!
//! Invariants: `P:n bytes` and the frames queued are the sums over all sessions' queues;
//! every knock in a door list is in `P:knocks` and the reverse; a session's idle deadline
//! in `P:sessions` is `t`, at least what its last step asked and at most an eighth of that
//! (and at most a second) later, so a busy session writes it about once a second; its keys
//! expire (Redis TTL) at `x`, at least `t` plus `GRACE`, so Redis frees them by itself even
//! if no instance is left to sweep (the sweep, on every instance, normally removes them
//! first and keeps the counters exact). `x` moves a further `GRACE` ahead when it is
//! renewed, so most steps renew no TTL. Numbers above 2^53 lose precision in Lua; they can
//! never be the next number, so they are refused as "not the next frame number", as before.
//! The key layout is part of the library's version: relays whose layouts differ must not
//! share a prefix (give a new version its own `--redis-prefix`, or drain the old first).

/// Shared helpers, defined once when the library loads. `open_call` sets a call's prefix and
/// time and `close_call` writes its counter changes; within a call, `begin` empties a step's
/// pending session writes and `finish` makes them (every function but `noop` is wrapped in
/// all four, a batch's steps in `begin` and `finish` each; a function runs alone, so calls
/// cannot mix).
const PRELUDE: &str = r#"
local P, NOW, SESS, KN, N, CH, LH, LE, LU
local SK_H, SK
-- Changes to the relay-wide counters (`P:n`) of this call, a step or a batch of them:
-- name -> change, written by one HINCRBY each when the call ends (`close_call`); BYTES:
-- `P:n bytes` as read at the call's first need of it, before the changes in CN.
local CN, BYTES = {}, nil
-- Wake messages of this call: channel -> its messages, and the channels in the order first
-- used; `close_call` publishes each channel's once (one message, or `b:` and them all).
local OUT, OUTC = {}, {}
-- The step's pending session writes: session PH, fields and values PSET[1..PN] (the table
-- is reused; entries past PN are stale), key expiry PX.
local PH, PSET, PN, PX = nil, {}, 0, nil
local GRACE = 60000
-- A direction's field names, made once: F[d].b, .n, .bytes, .w.
local F = {
  u = {b = 'ub', n = 'un', bytes = 'ubytes', w = 'uw'},
  d = {b = 'db', n = 'dn', bytes = 'dbytes', w = 'dw'},
}
-- A call (a step, or a batch of steps) starts: its prefix and clock, and no counter change
-- yet (a call that failed half-way left its own behind).
local function open_call(prefix, now)
  if prefix ~= P then
    P = prefix
    SESS, KN, N, CH = P..':sessions', P..':knocks', P..':n', P..':wake'
    LH, LE, LU = P..':lease', P..':lease_end', P..':lease_used'
    SK = nil
  end
  NOW = tonumber(now)
  CN, BYTES = {}, nil
  OUT, OUTC = {}, {}
end
-- A step starts: no session write pending.
local function begin()
  PH, PN, PX = nil, 0, nil
end
-- The session's key, kept for the session a step last named (a step names one or two).
local function skey(h)
  if h ~= SK_H or not SK then SK_H, SK = h, P..':s:'..h end
  return SK
end
local function kkey(h) return P..':k:'..h end
local function dkey(door) return P..':d:'..door end
-- Frame `seq` of direction d, a field of the session's hash.
local function frame_field(d, seq) return d..':'..seq end
local function num(v) return tonumber(v) or 0 end
local function count(name, by) CN[name] = (CN[name] or 0) + by end
-- The relay-wide bytes held now, this call's changes included.
local function bytes_held()
  if not BYTES then BYTES = num(redis.call('HGET', N, 'bytes')) end
  return BYTES + (CN.bytes or 0)
end
local function publish(ch, msg)
  local l = OUT[ch]
  if not l then
    l = {}
    OUT[ch] = l
    OUTC[#OUTC + 1] = ch
  end
  l[#l + 1] = msg
end
local function close_call()
  for _, ch in ipairs(OUTC) do
    local l = OUT[ch]
    if #l == 1 then
      redis.call('PUBLISH', ch, l[1])
    else
      -- Several messages for one channel: `b:` then each as `<length>:<message>`.
      local parts = {'b:'}
      for _, msg in ipairs(l) do
        parts[#parts + 1] = #msg..':'
        parts[#parts + 1] = msg
      end
      redis.call('PUBLISH', ch, table.concat(parts))
    end
  end
  for name, by in pairs(CN) do
    -- Lua's -0 is spelled "-0", which HINCRBY refuses; a zero change is no change anyway.
    if by ~= 0 then redis.call('HINCRBY', N, name, by) end
  end
end
-- Field writes to session h, made by one HSET when the step ends (a step writes one session).
local function put(h, k, v)
  PH = h
  PSET[PN + 1], PSET[PN + 2] = k, v
  PN = PN + 2
end
local function finish()
  if not PH then return end
  redis.call('HSET', skey(PH), unpack(PSET, 1, PN))
  if PX then
    redis.call('PEXPIREAT', skey(PH), PX)
    redis.call('PEXPIREAT', kkey(PH), PX)
  end
end
-- HDEL of many fields, in slices that fit Lua's stack.
local function hdel(key, fields)
  for i = 1, #fields, 1000 do
    redis.call('HDEL', key, unpack(fields, i, math.min(i + 999, #fields)))
  end
end
-- Keeps session h open until at least `deadline`; `t` and `x` are its idle deadline and
-- key expiry as read from its hash (nil for none). A deadline already covered writes
-- nothing; a later one is written a little ahead (an eighth of what the step keeps, at most
-- a second), so a busy session renews it about once a second, not on every step. Returns
-- the expiry in force.
local function touch(h, deadline, t, x)
  t, x = num(t), num(x)
  if deadline <= t then return x end
  t = deadline + math.min(math.floor((deadline - NOW) / 8), 1000)
  redis.call('ZADD', SESS, 'GT', t, h)
  put(h, 't', t)
  if x >= t + GRACE then return x end
  x = t + 2 * GRACE
  put(h, 'x', x)
  PX = x
  return x
end
-- Publishes msg (when the call ends) to the instances of a `<d>w` list but `me`; true when
-- `me` is named (its caller wakes its own waiters without a message).
local function wake(names, msg, me)
  if not names or names == '' then return false end
  if names == '*' then publish(CH, msg) return false end
  local mine = false
  for inst in string.gmatch(names, '[^,]+') do
    if inst == me then mine = true else publish(CH..':'..inst, msg) end
  end
  return mine
end
-- Names instance `inst` in h's `<d>w` (`names`: its value as read); at most 8 names, then `*`.
local function register(h, d, names, inst)
  if names == '*' then return end
  names = names or ''
  if string.find(names, inst, 1, true) then return end
  if #names >= 8 * (#inst + 1) then names = '*' else names = names..inst..',' end
  put(h, F[d].w, names)
end
-- Acknowledges h's frames in d before seq (base, nxt, bytes: as read) and looks for seq
-- (`frame`, `following`: frames seq and seq + 1 as read with them, false when not there):
-- -2 dropped, false not there, or {frame} / {frame, following} (want_following '1').
local function take(h, d, seq, base, nxt, bytes, frame, following, want_following)
  local sk = skey(h)
  local freed, gone = 0, {}
  if seq >= nxt and base < nxt then
    -- Every stored frame is acknowledged (the usual case: a GET for the next number acks
    -- the one before): their bytes are all freed.
    for i = base, nxt - 1 do gone[#gone + 1] = frame_field(d, i) end
    freed, base = bytes, nxt
  elseif base < seq and seq < nxt then
    -- When frame seq is the last one held, the bytes freed are all but its own (no length
    -- read per acknowledged frame).
    for i = base, seq - 1 do gone[#gone + 1] = frame_field(d, i) end
    if frame and nxt == seq + 1 then
      freed = bytes - #frame
    else
      for _, f in ipairs(gone) do freed = freed + redis.call('HSTRLEN', sk, f) end
    end
    base = seq
  end
  if #gone > 0 then
    hdel(sk, gone)
    put(h, F[d].b, base)
    put(h, F[d].bytes, bytes - freed)
    count('bytes', -freed)
  end
  if seq < base then return -2 end
  -- Number `nxt` and above are not stored yet.
  if seq >= nxt or not frame then return false end
  if want_following == '1' then return {frame, following} end
  return {frame}
end
-- The fields of frame seq of d (as the argument spells it) and, when the following frame is
-- wanted ('1'), of seq + 1: a look reads them with its session's own (`take`).
local function look_fields(d, arg, seq, want_following)
  if want_following == '1' then return frame_field(d, arg), frame_field(d, seq + 1) end
  return frame_field(d, arg)
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
  local s = redis.call('HMGET', skey(h), 'ub', 'un', 'ubytes', 'db', 'dn', 'dbytes', 'uw', 'dw')
  count('bytes', -(num(s[3]) + num(s[6])))
  count('stored_gone', num(s[2]) + num(s[5]))
  withdraw(h)
  redis.call('DEL', skey(h))
  redis.call('ZREM', SESS, h)
  -- Every GET waiting on h looked and found nothing, so it is named in uw or dw.
  wake(s[7], 'x:'..h)
  if s[8] ~= s[7] then wake(s[8], 'x:'..h) end
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
put(h, 'inc', inc)
for _, f in ipairs({'ub', 'un', 'ubytes', 'db', 'dn', 'dbytes'}) do put(h, f, 0) end
touch(h, NOW + idle, nil, nil)
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
local s = redis.call('HMGET', skey(h), 'inc', 't', 'x')
local inc = s[1]
if not inc then return -1 end
local x = touch(h, NOW + idle, s[2], s[3])
if redis.call('LLEN', dkey(door)) >= per_door then return -2 end
if redis.call('ZCARD', KN) >= max then return -3 end
local e = redis.call('HINCRBY', N, 'knock_order', 1)..':'..h..':'..inc
if redis.call('RPUSH', dkey(door), e) == 1 then count('doors', 1) end
redis.call('PEXPIRE', dkey(door), ttl + GRACE)
redis.call('ZADD', KN, NOW, door..'|'..e)
redis.call('SADD', kkey(h), door)
redis.call('PEXPIREAT', kkey(h), x)
count('knocks_received', 1)
publish(CH, 'd:'..door)
return 1
"#;

/// ARGV: P, ttl_ms, doors..., now → {door, session} of the oldest live knock, or nil.
const TAKE_KNOCK: &str = r#"
expire_knocks(tonumber(ARGV[2]), 100)
while true do
  local best, best_order = nil, nil
  for i = 3, #ARGV - 1 do
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

/// ARGV: P, session, dir, seq, frame, queue_frames, queue_bytes, total_bytes, idle_ms,
/// instance → 1 stored, {1, incarnation} stored and a GET of this instance waits for it
/// (the caller wakes it: no message to itself), 2 a retry, -1 unknown session, -2 other
/// bytes under seq, -3 not the next number, -4 too many frames, -5 too many bytes, -6
/// relay's bytes full.
const POST: &str = r#"
local h, d, seq, frame = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local max_frames, max_bytes, total, idle = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local f = F[d]
local s = redis.call('HMGET', skey(h), 'inc', f.b, f.n, f.bytes, 't', 'x', f.w)
if not s[1] then return -1 end
-- Every answer to a known session keeps it open.
touch(h, NOW + idle, s[5], s[6])
local base, nxt, bytes = num(s[2]), num(s[3]), num(s[4])
local field = frame_field(d, ARGV[4])
if seq < base then return 2 end
if seq < nxt then
  if redis.call('HGET', skey(h), field) == frame then return 2 end
  return -2
end
if seq ~= nxt then return -3 end
if nxt - base >= max_frames then return -4 end
if bytes + #frame > max_bytes then return -5 end
if bytes_held() + #frame > total then return -6 end
count('bytes', #frame)
put(h, field, frame)
put(h, f.n, nxt + 1)
put(h, f.bytes, bytes + #frame)
if s[7] and s[7] ~= '' then
  put(h, f.w, '')
  -- It goes to the waiting GETs with the wake.
  if wake(s[7], 'g:'..h..':'..d..':'..s[1]..':'..ARGV[4]..':'..frame, ARGV[10]) then
    return {1, tonumber(s[1])}
  end
  return 1
end
return 1
"#;

/// ARGV: P, session, keep_ms → incarnation, or nil if unknown. The session stays open at
/// least `keep_ms` (the request's wait plus the idle time).
const OPEN: &str = r#"
local h = ARGV[2]
local s = redis.call('HMGET', skey(h), 'inc', 't', 'x')
if not s[1] then return false end
touch(h, NOW + tonumber(ARGV[3]), s[2], s[3])
return tonumber(s[1])
"#;

/// A frame GET's first step: `OPEN`, the first look (`take`) and, when the GET will wait
/// (it holds a long-poll slot of its instance's lease, and found nothing, or test faults
/// are armed that may hold the frame), this instance's name in `<d>w`. ARGV: P, session,
/// keep_ms, dir, seq, want_following, waits ('1': the GET holds a slot), instance, now
/// → {incarnation, -2 dropped / 0 not there / frame[, following]}, or nil if the session is
/// unknown.
const START_GET: &str = r#"
local h, d, seq = ARGV[2], ARGV[4], tonumber(ARGV[5])
local f = F[d]
local s = redis.call('HMGET', skey(h), 'inc', f.b, f.n, f.bytes, 't', 'x', f.w, look_fields(d, ARGV[5], seq, ARGV[6]))
if not s[1] then return false end
local inc = tonumber(s[1])
touch(h, NOW + tonumber(ARGV[3]), s[5], s[6])
local got = take(h, d, seq, num(s[2]), num(s[3]), num(s[4]), s[8], s[9], ARGV[6])
if got == -2 then return {inc, -2} end
if ARGV[7] == '1' and (not got or ARGV[6] == '1') then register(h, d, s[7], ARGV[8]) end
if not got then return {inc, 0} end
local out = {inc}
for _, v in ipairs(got) do out[#out + 1] = v end
return out
"#;

/// A look after a wake. ARGV: P, session, inc, dir, seq, want_following, instance, now
/// → {frame} or {frame, following}, 0 not there yet (instance named in `<d>w`), -1 unknown
/// session, -2 dropped.
const TAKE: &str = r#"
local h, inc, d, seq = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local f = F[d]
local s = redis.call('HMGET', skey(h), 'inc', f.b, f.n, f.bytes, f.w, look_fields(d, ARGV[5], seq, ARGV[6]))
if s[1] ~= inc then return -1 end
local got = take(h, d, seq, num(s[2]), num(s[3]), num(s[4]), s[6], s[7], ARGV[6])
if got == -2 then return -2 end
if not got or ARGV[6] == '1' then
  -- Waits again (or may be held by a test fault): the next frame stored must wake it.
  register(h, d, s[5], ARGV[7])
  if not got then return 0 end
end
return got
"#;

/// ARGV: P, session, dir, seq, now → {frame} or {} (not stored yet), -1 unknown, -2 dropped.
const PEEK: &str = r#"
local h, d, seq = ARGV[2], ARGV[3], tonumber(ARGV[4])
local s = redis.call('HMGET', skey(h), 'inc', F[d].b)
if not s[1] then return -1 end
if seq < num(s[2]) then return -2 end
local frame = redis.call('HGET', skey(h), frame_field(d, ARGV[4]))
if frame then return {frame} end
return {}
"#;

/// Renews the calling instance's long-poll lease: grants it up to `want` slots, as many as
/// the relay-wide limit leaves beside the other instances' live grants, until `until_ms`.
/// Lapsed grants (of instances that died or lost Redis) are dropped first.
/// ARGV: P, instance, want, used (its long-polls now), max, until_ms, now → slots granted.
const LEASE: &str = r#"
local inst, want, max = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[5])
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', LE, '-inf', NOW)) do
  redis.call('HDEL', LH, dead)
  redis.call('HDEL', LU, dead)
  redis.call('ZREM', LE, dead)
end
local others = 0
local all = redis.call('HGETALL', LH)
for i = 1, #all, 2 do
  if all[i] ~= inst then others = others + tonumber(all[i + 1]) end
end
local grant = math.max(0, math.min(want, max - others))
redis.call('HSET', LH, inst, grant)
redis.call('HSET', LU, inst, ARGV[4])
redis.call('ZADD', LE, ARGV[6], inst)
return grant
"#;

/// ARGV: P, knock_ttl_ms, limit, now → {knocks removed, sessions expired...}.
const SWEEP: &str = r#"
local knocks = expire_knocks(tonumber(ARGV[2]), tonumber(ARGV[3]))
local gone = expire_sessions(tonumber(ARGV[3]))
local out = {knocks}
for _, h in ipairs(gone) do out[#out + 1] = h end
return out
"#;

/// ARGV: P, frames ('1': sum the sessions' frames, one read per open session), now
/// → {sessions, knocks, long-polls (the live leases' last reports), frames stored by the
/// open sessions, frames queued, counter name, value, ...}.
const STATS: &str = r#"
local polls = 0
for _, inst in ipairs(redis.call('ZRANGEBYSCORE', LE, NOW, '+inf')) do
  polls = polls + num(redis.call('HGET', LU, inst))
end
local stored, queued = 0, 0
if ARGV[2] == '1' then
  for _, h in ipairs(redis.call('ZRANGE', SESS, 0, -1)) do
    local s = redis.call('HMGET', skey(h), 'ub', 'un', 'db', 'dn')
    stored = stored + num(s[2]) + num(s[4])
    queued = queued + num(s[2]) - num(s[1]) + num(s[4]) - num(s[3])
  end
end
local out = {redis.call('ZCARD', SESS), redis.call('ZCARD', KN), polls, stored, queued}
for _, v in ipairs(redis.call('HGETALL', N)) do out[#out + 1] = v end
return out
"#;

/// The smallest step there is: no key, no clock, no write (ARGV ignored). Not a relay
/// operation: `relay redis-floor` calls it to measure what one Redis round trip costs on
/// the relay's own client path (`relay_load`'s floor phase).
const NOOP: &str = "return 1";

/// Runs several steps in one `FCALL` (`redis_batch`), in order, each between its own `begin`
/// and `finish` exactly as if called alone. ARGV: P, now, then per step its index in
/// `STEPS` (1-based; `noop` after them), its argument count and its arguments (P and now
/// left out) → one answer per step, in order (a step answering nothing answers `false`, so
/// a Lua table keeps its place). A step that raises an error answers the status
/// `STEP FAILED` (an error reply would fail the client's reading of the whole batch; no step
/// answers a status) and the others run on, so no request can fail the steps of the
/// requests batched with it (what it wrote before the error stays written, as when a step
/// alone fails). The batch's counter changes and wakes are written once, at its end.
const BATCH: &str = r#"
local out, i, n = {}, 3, #A
open_call(A[1], A[2])
-- One ARGV table for all the steps, as long as each step's: P, its arguments, now.
local argv, len = {A[1]}, 1
while i <= n do
  local f, c = BATCHED[tonumber(A[i])], tonumber(A[i + 1])
  for j = 1, c do argv[j + 1] = A[i + 1 + j] end
  argv[c + 2] = A[2]
  for j = c + 3, len do argv[j] = nil end
  len = c + 2
  local ok, r = pcall(run_step, f, argv)
  if not ok then r = redis.status_reply('STEP FAILED') elseif r == nil then r = false end
  out[#out + 1] = r
  i = i + 2 + c
end
close_call()
return out
"#;

/// One function of the library, by its place in a batch (`Scripts::by_index` names it).
pub struct Step {
    pub index: usize,
}

/// The library's code and its functions.
pub struct Scripts {
    pub library: String,
    pub create: Step,
    pub delete: Step,
    pub knock: Step,
    pub take_knock: Step,
    pub post: Step,
    pub open: Step,
    pub start_get: Step,
    pub take: Step,
    pub peek: Step,
    pub lease: Step,
    pub sweep: Step,
    pub stats: Step,
    pub noop: Step,
    /// Function names by batch index: `batch`, then `STEPS`, then `noop`
    /// (`redis_batch::Link::names`).
    pub by_index: Vec<String>,
}

const STEPS: [(&str, &str); 12] = [
    ("create", CREATE),
    ("delete", DELETE),
    ("knock", KNOCK),
    ("take_knock", TAKE_KNOCK),
    ("post", POST),
    ("open", OPEN),
    ("start_get", START_GET),
    ("take", TAKE),
    ("peek", PEEK),
    ("lease", LEASE),
    ("sweep", SWEEP),
    ("stats", STATS),
];

/// FNV-1a, 64 bits: names the library after its code (not a security property).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Scripts {
    pub fn new() -> Self {
        let mut code = format!("#!lua name=@LIB@\n{PRELUDE}");
        // Each body once as a local function (no closure made per call), then registered
        // within `open_call`, `begin`, `finish` and `close_call`.
        for (name, body) in STEPS {
            code.push_str(&format!(
                "local function step_{name}(ARGV)\n{body}\nend\n\
                 redis.register_function('@LIB@_{name}', function(KEYS, ARGV)\n\
                 open_call(ARGV[1], ARGV[#ARGV])\nbegin()\nlocal r = step_{name}(ARGV)\n\
                 finish()\nclose_call()\n\
                 return r\nend)\n"
            ));
        }
        code.push_str(&format!(
            "local function step_noop(ARGV) {NOOP} end\n\
             redis.register_function('@LIB@_noop', function(KEYS, ARGV) {NOOP} end)\n"
        ));
        let batched: Vec<String> = STEPS
            .iter()
            .map(|(name, _)| format!("step_{name}"))
            .chain(["step_noop".to_string()])
            .collect();
        code.push_str(&format!(
            "local BATCHED = {{{}}}\n\
             local function run_step(f, argv)\n\
             begin()\nlocal r = f(argv)\nfinish()\nreturn r\nend\n\
             redis.register_function('@LIB@_batch', function(KEYS, A)\n{BATCH}\nend)\n",
            batched.join(", ")
        ));
        let library = format!("relay_{:016x}", fnv1a(&code));
        let step = |name: &str| Step {
            // 1-based as in `BATCHED`, where `noop` follows `STEPS`.
            index: STEPS
                .iter()
                .position(|(n, _)| *n == name)
                .map_or(STEPS.len() + 1, |at| at + 1),
        };
        Self {
            create: step("create"),
            delete: step("delete"),
            knock: step("knock"),
            take_knock: step("take_knock"),
            post: step("post"),
            open: step("open"),
            start_get: step("start_get"),
            take: step("take"),
            peek: step("peek"),
            lease: step("lease"),
            sweep: step("sweep"),
            stats: step("stats"),
            noop: step("noop"),
            by_index: std::iter::once("batch")
                .chain(STEPS.iter().map(|(name, _)| *name))
                .chain(["noop"])
                .map(|name| format!("{library}_{name}"))
                .collect(),
            library: code.replace("@LIB@", &library),
        }
    }
}
