package redisq

import "github.com/redis/go-redis/v9"

// Every state change of a task is one of the Lua scripts below, so it is
// atomic. Each task script gets the same four leading KEYS: the lease set,
// the delayed set, the task hash prefix and the queue key prefix; keys of
// one task or queue are built from those prefixes (all under the one hash
// tag, so the scripts are safe on Redis Cluster) or passed after them.
// Times come from Redis's TIME, in microseconds, so that every machine
// agrees on leases and delays.
//
// Each redis.call costs about a microsecond of the single Redis thread, so
// the scripts on the path of every task (enqueue, claim, complete) make as
// few as they can: 4, 7 and 6. Scripts read what they need before their
// first write, so that a task hash holding unexpected data cannot make one
// fail halfway (Redis does not roll back a script that errors).

// The Lua helpers below are pasted into the scripts that need them, and
// expect these locals: LEASES, DELAYED (sets), TP, QP (task hash and queue
// key prefixes). Scripts on the hot path define no helper they do not
// call: creating a closure costs time on every call.

// luaNow defines now(): the time in µs, as a number and as a decimal
// string.
const luaNow = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2]), t[1] .. string.sub(t[2] + 1000000, 2)
end
`

// luaQueue defines wake(q), ready(q, id, front) and delay(q, id, at).
const luaQueue = `
-- wake leaves one token in queue q's wake list, on which idle claimers block.
local function wake(q)
  local w = QP .. q .. ':wake'
  if redis.call('LLEN', w) == 0 then redis.call('RPUSH', w, '1') end
end

-- ready queues task id at the back (or the front) of queue q.
local function ready(q, id, front)
  redis.call(front and 'LPUSH' or 'RPUSH', QP .. q .. ':ready', id)
  wake(q)
end

-- delay parks task id until at (µs); a new earliest delay wakes a claimer
-- of its queue, so that it shortens its wait.
local function delay(q, id, at)
  redis.call('ZADD', DELAYED, at, id)
  if redis.call('ZRANGE', DELAYED, 0, 0)[1] == id then wake(q) end
end
`

// luaExpire defines expire_due(t, limit, channel, stuck), which recovers
// tasks whose lease ran out. It needs luaQueue.
const luaExpire = `
-- expire makes a task whose lease ran out claimable again, at the front of
-- its queue, counting a redelivery. It returns 1 when it did, 0 when the
-- task is not leased, -1 when it cannot be queued (its hash has no queue).
local function expire(id, channel)
  local key = TP .. id
  local f = redis.pcall('HMGET', key, 'state', 'queue', 'redeliveries')
  if f.err or (f[1] ~= 'STARTED' and f[1] ~= 'PROCESSING') then return 0 end
  if not f[2] or f[2] == '' then return -1 end
  local r = tonumber(f[3] or '0')
  if r then
    redis.call('HSET', key, 'state', 'PENDING', 'token', '', 'redeliveries', r + 1)
  else
    redis.call('HSET', key, 'state', 'PENDING', 'token', '')
  end
  redis.call('HDEL', key, 'progress')
  ready(f[2], id, true)
  redis.call('PUBLISH', channel, id)
  return 1
end

-- expire_due recovers up to limit tasks whose lease ran out by t; ids
-- that cannot be queued are added to stuck when it is given. It returns
-- how many it recovered and how many lease entries it took.
local function expire_due(t, limit, channel, stuck)
  local n = 0
  local due = redis.call('ZRANGEBYSCORE', LEASES, '-inf', t, 'LIMIT', 0, limit)
  for _, id in ipairs(due) do
    redis.call('ZREM', LEASES, id)
    local r = expire(id, channel)
    if r == 1 then
      n = n + 1
    elseif r == -1 and stuck then
      table.insert(stuck, id)
    end
  end
  return n, #due
end
`

// luaBaseKeys names the four leading KEYS of claim and recover.
const luaBaseKeys = `
local LEASES, DELAYED, TP, QP = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
`

// Result codes of the lease scripts.
const (
	codeOK       = 0
	codeNotFound = 1
	codeLost     = 2
	codeCorrupt  = 3
	codeNotHash  = 4 // the task key holds another type
)

// enqueue: KEYS the task hash, the ready list and wake list of its
// queue, the delayed set. ARGV: id, name, queue, payload, max_retries,
// enqueued_at (µs, "" for now), not_before (µs, "" for none). Returns {1,
// enqueued_at} when stored, {0, HGETALL} when the id exists, {0} when its
// key is not a hash.
var enqueueScript = redis.NewScript(`
local key = KEYS[1]
if redis.call('EXISTS', key) == 1 then
  local f = redis.pcall('HGETALL', key)
  if f.err then return {0} end
  return {0, f}
end
local enq, nb = ARGV[6], tonumber(ARGV[7])
local t = 0
if enq == '' or nb then
  local tm = redis.call('TIME')
  t = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
  if enq == '' then enq = tm[1] .. string.sub(tm[2] + 1000000, 2) end
end
if nb then
  redis.call('HSET', key, 'name', ARGV[2], 'queue', ARGV[3], 'payload', ARGV[4], 'state', 'PENDING',
    'max_retries', ARGV[5], 'enqueued_at', enq, 'not_before', ARGV[7])
else
  redis.call('HSET', key, 'name', ARGV[2], 'queue', ARGV[3], 'payload', ARGV[4], 'state', 'PENDING',
    'max_retries', ARGV[5], 'enqueued_at', enq)
end
if nb and nb > t then
  redis.call('ZADD', KEYS[4], nb, ARGV[1])
  if redis.call('ZRANGE', KEYS[4], 0, 0)[1] ~= ARGV[1] then return {1, enq} end
else
  redis.call('RPUSH', KEYS[2], ARGV[1])
end
if redis.call('LLEN', KEYS[3]) == 0 then redis.call('RPUSH', KEYS[3], '1') end
return {1, enq}
`)

// claimFields are the fields the claim script returns after the id, in
// this order.
var claimFields = []string{fAttempt, fStartedAt, fName, fQueue, fPayload, fMaxRetries,
	fRetries, fRedeliveries, fEnqueuedAt, fError, fResult}

// luaClaim promotes due delayed tasks and, when a task is ready in one of
// the NQ queues whose ready list and wake list are KEYS[Q0+2i] and
// KEYS[Q0+2i+1] (i from 0), claims the first one in queue order for TOKEN
// and LEASE (µs, a string) and sets the local claimed to {1, id,
// claimFields...}, or to {2, id, i} for an id whose key is not a hash
// (claimed stays nil when nothing is ready). It expects the locals of
// luaBaseKeys and CHANNEL, t and ts (the time as a number and a string),
// and WOKEN: the index of the queue whose wake token woke this claim, or
// -1. It defines no function: a closure made on every call costs time.
const luaClaim = `
local claimed
-- A claim record says which task a claim token took: a second run of the
-- same claim (the client re-sent it after a read timeout while the first
-- run went through) returns that task instead of taking another.
local prev = redis.call('GET', CLAIMREC)
if prev then
  local f = redis.pcall('HMGET', TP .. prev, 'token', 'attempt', 'started_at', 'name', 'queue', 'payload',
    'max_retries', 'retries', 'redeliveries', 'enqueued_at', 'error', 'result')
  if not f.err and f[1] == TOKEN then
    claimed = {1, prev, f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12]}
  end
end
local first = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
if not claimed and first[2] and tonumber(first[2]) <= t then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', DELAYED, '-inf', t, 'LIMIT', 0, 100)) do
    redis.call('ZREM', DELAYED, id)
    local q = redis.pcall('HGET', TP .. id, 'queue')
    if type(q) == 'string' and q ~= '' then
      redis.call('RPUSH', QP .. q .. ':ready', id)
      local w = QP .. q .. ':wake'
      if redis.call('LLEN', w) == 0 then redis.call('RPUSH', w, '1') end
    end
  end
  first = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
end
for i = 0, NQ - 1 do
  if claimed then break end
  local rk = KEYS[Q0 + 2 * i]
  while true do
    local id = redis.call('LPOP', rk)
    if not id then break end
    local key = TP .. id
    local f = redis.pcall('HMGET', key, 'state', 'attempt', 'progress', 'not_before', 'name', 'queue',
      'payload', 'max_retries', 'retries', 'redeliveries', 'enqueued_at', 'error', 'result')
    if f.err then
      claimed = {2, id, i}
      break
    end
    local st = f[1]
    -- A done or leased task here is a stale entry, a missing one has
    -- expired: skip them. Any other state, a corrupt one included, is
    -- claimed; the caller decodes it.
    if st ~= 'STARTED' and st ~= 'PROCESSING' and st ~= 'SUCCESS' and st ~= 'FAILURE' and (st or f[5] or f[6]) then
      local attempt = f[2] or '0'
      local a = tonumber(attempt)
      if a then attempt = tostring(a + 1) end
      redis.call('HSET', key, 'state', 'STARTED', 'attempt', attempt, 'started_at', ts,
        'token', TOKEN, 'lease_us', LEASE)
      if f[3] or f[4] then redis.call('HDEL', key, 'progress', 'not_before') end
      redis.call('ZADD', LEASES, t + tonumber(LEASE), id)
      redis.call('SET', CLAIMREC, id, 'PX', math.max(1, math.min(math.floor(tonumber(LEASE) / 1000), 86400000)))
      -- This claim took a wake token: pass it on while that queue has work,
      -- for claimers still asleep.
      if WOKEN >= 0 and redis.call('LLEN', KEYS[Q0 + 2 * WOKEN]) > 0 then
        local wk = KEYS[Q0 + 2 * WOKEN + 1]
        if redis.call('LLEN', wk) == 0 then redis.call('RPUSH', wk, '1') end
      end
      redis.call('PUBLISH', CHANNEL, id)
      claimed = {1, id, attempt, ts, f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12], f[13]}
      break
    end
  end
  if claimed then break end
end
`

// claim: KEYS[5] the claim record of the token, KEYS[6+2i], KEYS[7+2i]
// the ready list and wake list of the i-th queue (0-based). ARGV: channel, token, lease (µs), number of queues, the
// index of the queue whose wake token woke this claim (-1 for none).
// Returns luaClaim's claimed, or, when there is nothing to claim, {0,
// µs until the next delay or lease runs out, or -1}. Only then does it
// recover expired leases (the recoverer does it under load); when it did,
// it returns {0, 0, {ids of leased tasks that cannot be queued}}, which the
// caller fails into the dead letters, as Recover does.
var claimScript = redis.NewScript(luaBaseKeys + `
local tm = redis.call('TIME')
local t, ts = tonumber(tm[1]) * 1000000 + tonumber(tm[2]), tm[1] .. string.sub(tm[2] + 1000000, 2)
local CHANNEL, TOKEN, LEASE, NQ, WOKEN, CLAIMREC, Q0 = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), KEYS[5], 6
` + luaClaim + `
if claimed then return claimed end
-- Nothing to claim: recover expired leases, then say how long to wait
-- (until the earliest delay or lease runs out; -1: nothing pending).
local lease = redis.call('ZRANGE', LEASES, 0, 0, 'WITHSCORES')
if lease[2] and tonumber(lease[2]) <= t then
` + luaQueue + luaExpire + `
  local stuck = {}
  if expire_due(t, 100, CHANNEL, stuck) > 0 or #stuck > 0 then return {0, 0, stuck} end
  lease = redis.call('ZRANGE', LEASES, 0, 0, 'WITHSCORES')
end
local wait = -1
for _, f in ipairs({first, lease}) do
  if f[2] then
    local d = math.max(tonumber(f[2]) - t, 0)
    if wait < 0 or d < wait then wait = d end
  end
end
return {0, wait}
`)

// completeClaim completes a task and claims the next one in one step.
// KEYS: those of claim (with the claim record of the next token), then the
// task hash and the claim record of its token, then the queues' lists from
// KEYS[8]. ARGV: channel, id, token, next token (also this call's id),
// result JSON ("" for none), TTL (ms), lease (µs), number of queues.
// Returns the code of the lease scripts when the completion failed, else
// {0, luaClaim's claimed} or {0} when nothing is ready. A second run of the
// same call finds the task completed under its id and the next task's
// claim record, and answers as the first run did.
var completeClaimScript = redis.NewScript(luaBaseKeys + `
local KEY, NEXT = KEYS[6], ARGV[4]
local f = redis.pcall('HMGET', KEY, 'state', 'token', 'error', 'result')
if f.err then return 4 end
local tm = redis.call('TIME')
local t, ts = tonumber(tm[1]) * 1000000 + tonumber(tm[2]), tm[1] .. string.sub(tm[2] + 1000000, 2)
if f[2] ~= NEXT then
  if ARGV[3] == '' or f[2] ~= ARGV[3] or (f[1] ~= 'STARTED' and f[1] ~= 'PROCESSING') then
    if not f[1] and redis.call('EXISTS', KEY) == 0 then return 1 end
    return 2
  end
  redis.call('ZREM', LEASES, ARGV[2])
  redis.call('DEL', KEYS[7])
  if ARGV[5] == '' then
    redis.call('HSET', KEY, 'state', 'SUCCESS', 'finished_at', ts, 'ttl_ms', ARGV[6], 'token', NEXT)
    if f[3] or f[4] then redis.call('HDEL', KEY, 'error', 'result') end
  else
    redis.call('HSET', KEY, 'state', 'SUCCESS', 'finished_at', ts, 'ttl_ms', ARGV[6], 'token', NEXT, 'result', ARGV[5])
    if f[3] then redis.call('HDEL', KEY, 'error') end
  end
  redis.call('PEXPIRE', KEY, ARGV[6])
  redis.call('PUBLISH', ARGV[1], ARGV[2])
end
local CHANNEL, TOKEN, LEASE, NQ, WOKEN, CLAIMREC, Q0 = ARGV[1], NEXT, ARGV[7], tonumber(ARGV[8]), -1, KEYS[5], 8
` + luaClaim + `
if claimed then return {0, claimed} end
return {0}
`)

// recover: KEYS[5] the sweep cursor. ARGV: channel, SCAN pattern, SCAN
// count, default lease (µs), batch. It recovers up to batch expired
// leases, then reconciles one SCAN step of task hashes with the lease set:
// a leased task without a lease entry (asynq's hole: lost to an eviction
// or a failover) is leased again for its last lease, so that its worker,
// if alive, keeps it, and otherwise it is recovered when that lease runs
// out.
// Returns {recovered, re-leased, {stuck ids}, lease entries taken}: a
// batch is at most recoverBatch entries, so a full one means more may be
// due.
var recoverScript = redis.NewScript(luaBaseKeys + luaNow + luaQueue + luaExpire + `
local t = now()
local stuck = {}
local n, taken = expire_due(t, tonumber(ARGV[5]), ARGV[1], stuck)
local healed = 0
local r = redis.call('SCAN', redis.call('GET', KEYS[5]) or '0', 'MATCH', ARGV[2], 'COUNT', ARGV[3])
redis.call('SET', KEYS[5], r[1])
for _, key in ipairs(r[2]) do
  local f = redis.pcall('HMGET', key, 'state', 'lease_us')
  if not f.err and (f[1] == 'STARTED' or f[1] == 'PROCESSING') then
    local id = string.sub(key, #TP + 1)
    if not redis.call('ZSCORE', LEASES, id) then
      redis.call('ZADD', LEASES, t + (tonumber(f[2]) or tonumber(ARGV[4])), id)
      healed = healed + 1
    end
  end
end
return {n, healed, stuck, taken}
`)

// recoverBatch bounds the expired leases one recover script takes, so that
// one call does not hold Redis for long; Recover calls it again while
// batches come back full.
const recoverBatch = 1000
