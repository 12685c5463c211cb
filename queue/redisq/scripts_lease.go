package redisq

// The lease-holding scripts. KEYS (the "settle layout"): the lease set,
// the task hash, the claim record of the token, then the task's queue:
// ready, wake, delayed, done and its eight indexes (luaIdx, from KEYS[8]).
// ARGV: channel, id, token, call, queue, then each script's own. They
// return a code (codeOK, codeNotFound, ...). A token holds a task while the
// task is STARTED or PROCESSING under that token. Settling replaces the
// token with the call's own id (unique like a token, and never a lease
// token), so a second run of the same call (the client re-sent it after a
// read timeout while the first run went through) finds its own mark and
// answers as the first run did, while any other call with the old token
// finds the lease lost. Settling also deletes the token's claim record.
// A task whose cancellation was requested (its hash has a cancel field:
// the TTL in ms of its REVOKED result) ends REVOKED at any settling call,
// which answers codeRevoked; Renew and Progress renew the lease and
// answer codeRevoked.

// luaHold reads the fields named in HOLD of the task hash KEY and returns
// from the script when ARGV[3] is not its lease token: 0 (6 if it ended
// REVOKED) when ARGV[4] (the call's id, "" for calls that are safe to
// repeat) already settled the task, 1 when there is no task, 2 when the
// lease is lost, 4 when KEY is not a hash. f[1] is the state, f[2] the
// token, f[3] the queue, f[4] the cancel TTL, f[5] enqueued_at, then HOLD.
const luaHold = `
local f = redis.pcall('HMGET', KEY, 'state', 'token', 'queue', 'cancel', 'enqueued_at', unpack(HOLD))
if f.err then return 4 end
if ARGV[3] == '' or f[2] ~= ARGV[3] or (f[1] ~= 'STARTED' and f[1] ~= 'PROCESSING') then
  if ARGV[4] ~= '' and f[2] == ARGV[4] then
    if f[1] == 'REVOKED' then return 6 end
    return 0
  end
  if not f[1] and redis.call('EXISTS', KEY) == 0 then return 1 end
  return 2
end
`

// luaSettleKeys names the keys of the settle layout and checks that the
// task is in the queue ARGV[5] whose keys were given (3: it has none; 5:
// another one). It needs luaHold first; the scripts add luaTime after it.
const luaSettleKeys = `
local READY, WAKE, DELAYED, DONE, I0 = KEYS[4], KEYS[5], KEYS[6], KEYS[7], 8
if not f[3] or f[3] == '' then return 3 end
if f[3] ~= ARGV[5] then return 5 end
local score = tonumber(f[5]) or 0
` + luaIdx

// luaFinish moves the task to the done state DONESTATE, kept for TTL ms
// (a string), and ends the script with luaSettled's steps and code CODE.
const luaFinish = `
redis.call('PEXPIRE', KEY, TTL)
redis.call('ZREM', IDX[f[1]], ARGV[2])
redis.call('ZADD', IDX[DONESTATE], score, ARGV[2])
redis.call('ZADD', DONE, t + tonumber(TTL) * 1000, ARGV[2])
redis.call('ZREM', LEASES, ARGV[2])
redis.call('DEL', CLAIMREC)
redis.call('PUBLISH', ARGV[1], ARGV[2])
return CODE
`

// luaRevoke ends the script with the task REVOKED when its cancellation
// was requested, kept for the TTL of the call (RTTL) or of Cancel.
const luaRevoke = `
if f[4] then
  local TTL, DONESTATE, CODE = RTTL or f[4], 'REVOKED', 6
  redis.call('HSET', KEY, 'state', 'REVOKED', 'finished_at', ts, 'ttl_ms', TTL, 'token', ARGV[4])
` + luaFinish + `
end
`

// luaSettled ends a script that put the task back in its queue: it drops
// the lease entry and the claim record, and announces the change.
const luaSettled = `
redis.call('ZREM', LEASES, ARGV[2])
redis.call('DEL', CLAIMREC)
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
`

// luaComplete completes the task with result ARGV[RA] ("" for none) and a
// TTL of ARGV[RA+1] ms. HOLD must be {'error', 'result'}.
const luaComplete = `
do
  local TTL, DONESTATE, CODE = ARGV[RA + 1], 'SUCCESS', 0
  if ARGV[RA] == '' then
    redis.call('HSET', KEY, 'state', 'SUCCESS', 'finished_at', ts, 'ttl_ms', TTL, 'token', ARGV[4])
    if f[6] or f[7] then redis.call('HDEL', KEY, 'error', 'result') end
  else
    redis.call('HSET', KEY, 'state', 'SUCCESS', 'finished_at', ts, 'ttl_ms', TTL, 'token', ARGV[4], 'result', ARGV[RA])
    if f[6] then redis.call('HDEL', KEY, 'error') end
  end
` + luaFinish + `
end
`

// renew: KEYS leases, task. ARGV[5] lease (µs).
var renewScript = newScript(`
local LEASES, KEY, HOLD = KEYS[1], KEYS[2], {}
` + luaHold + `
local tm = redis.call('TIME')
redis.call('ZADD', LEASES, tonumber(tm[1]) * 1000000 + tonumber(tm[2]) + tonumber(ARGV[5]), ARGV[2])
if f[4] then return 6 end
return 0
`)

// progress: settle layout. ARGV[6] lease (µs), ARGV[7] progress JSON.
var progressScript = newScript(`
local LEASES, KEY, CLAIMREC, HOLD = KEYS[1], KEYS[2], KEYS[3], {}
` + luaHold + luaSettleKeys + luaTime + `
redis.call('ZADD', LEASES, t + tonumber(ARGV[6]), ARGV[2])
if f[4] then return 6 end
redis.call('HSET', KEY, 'state', 'PROCESSING', 'progress', ARGV[7])
if f[1] == 'STARTED' then
  redis.call('ZREM', IDX.STARTED, ARGV[2])
  redis.call('ZADD', IDX.PROCESSING, score, ARGV[2])
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
`)

// complete: settle layout. ARGV[6] result JSON ("" for none), ARGV[7] TTL
// (ms).
var completeScript = newScript(`
local LEASES, KEY, CLAIMREC, HOLD, RA = KEYS[1], KEYS[2], KEYS[3], {'error', 'result'}, 6
` + luaHold + luaSettleKeys + luaTime + `
local RTTL = ARGV[7]
` + luaRevoke + luaComplete)

// fail: settle layout. ARGV[6] error, ARGV[7] TTL (ms).
var failScript = newScript(`
local LEASES, KEY, CLAIMREC, HOLD = KEYS[1], KEYS[2], KEYS[3], {}
` + luaHold + luaSettleKeys + luaTime + `
local RTTL = ARGV[7]
` + luaRevoke + `
local TTL, DONESTATE, CODE = ARGV[7], 'FAILURE', 0
redis.call('HSET', KEY, 'state', 'FAILURE', 'finished_at', ts, 'ttl_ms', TTL, 'token', ARGV[4], 'error', ARGV[6])
` + luaFinish)

// luaWake leaves one token in the queue's wake list, on which idle
// claimers block: the task's id, which the woken claim guesses, so that
// its take starts the task in one script (see hints).
const luaWake = `
if redis.call('LLEN', WAKE) == 0 then redis.call('RPUSH', WAKE, ARGV[2]) end
`

// retry: settle layout. ARGV[6] error, ARGV[7] not-before (µs, "" for
// none).
var retryScript = newScript(`
local LEASES, KEY, CLAIMREC, HOLD = KEYS[1], KEYS[2], KEYS[3], {'retries'}
` + luaHold + luaSettleKeys + luaTime + `
local RTTL
` + luaRevoke + `
local r = tonumber(f[6] or '0')
if r then
  redis.call('HSET', KEY, 'state', 'RETRY', 'token', ARGV[4], 'error', ARGV[6], 'retries', r + 1)
else
  redis.call('HSET', KEY, 'state', 'RETRY', 'token', ARGV[4], 'error', ARGV[6])
end
redis.call('ZREM', IDX[f[1]], ARGV[2])
redis.call('ZADD', IDX.RETRY, score, ARGV[2])
local nb = tonumber(ARGV[7])
if nb and nb > t then
  redis.call('HSET', KEY, 'not_before', ARGV[7])
  redis.call('ZADD', DELAYED, nb, ARGV[2])
  if redis.call('ZRANGE', DELAYED, 0, 0)[1] == ARGV[2] then
` + luaWake + `
  end
else
  redis.call('RPUSH', READY, ARGV[2])
` + luaWake + `
end
` + luaSettled)

// release: settle layout. The task goes back to the front of its queue.
var releaseScript = newScript(`
local LEASES, KEY, CLAIMREC, HOLD = KEYS[1], KEYS[2], KEYS[3], {'attempt', 'progress'}
` + luaHold + luaSettleKeys + luaTime + `
local RTTL
` + luaRevoke + `
local a = tonumber(f[6] or '0')
if a and a > 0 then
  redis.call('HSET', KEY, 'state', 'PENDING', 'token', ARGV[4], 'attempt', a - 1)
else
  redis.call('HSET', KEY, 'state', 'PENDING', 'token', ARGV[4])
end
if f[7] then redis.call('HDEL', KEY, 'progress') end
redis.call('ZREM', IDX[f[1]], ARGV[2])
redis.call('ZADD', IDX.PENDING, score, ARGV[2])
redis.call('LPUSH', READY, ARGV[2])
` + luaWake + luaSettled)

// completeTake completes a task and reserves the next one (luaTake) in one
// step. KEYS: the settle layout of the task (15 keys), then the claim
// record of the next token, the paused set, seven keys per queue from
// KEYS[18], and the hint's task key when there is a hint. ARGV: channel,
// id, token, next token (also this call's id), queue, result JSON ("" for
// none), TTL (ms), lease (µs), number of queues, the hint ("" for none)
// and its queue index, then the queue names. Returns the code of the lease
// scripts when the completion failed, else {0, took}, or {0, {0, wait,
// due}} (as take) when nothing is ready. A
// second run of the same call finds the task completed under its id and
// the next task's claim record, and answers as the first run did.
var completeTakeScript = newScript(luaTime + `
local LEASES, KEY, CLAIMREC, HOLD, RA, FRESH = KEYS[1], KEYS[2], KEYS[3], {'error', 'result'}, 6, false
local f = redis.pcall('HMGET', KEY, 'state', 'token', 'queue', 'cancel', 'enqueued_at', unpack(HOLD))
if f.err then return 4 end
if f[2] ~= ARGV[4] then
  if ARGV[3] == '' or f[2] ~= ARGV[3] or (f[1] ~= 'STARTED' and f[1] ~= 'PROCESSING') then
    if not f[1] and redis.call('EXISTS', KEY) == 0 then return 1 end
    return 2
  end
` + luaSettleKeys + `
  local RTTL = ARGV[7]
` + luaRevoke + `
  FRESH = true -- first run: the next token has no claim record yet
  local code = (function()
` + luaComplete + `
  end)()
elseif f[1] == 'REVOKED' then
  return 6
end
local CLAIMREC, PAUSED, LEASE, NQ, WOKEN, Q0 = KEYS[16], KEYS[17], ARGV[8], tonumber(ARGV[9]), -1, 18
local CHANNEL, CTOKEN, HINT, HQ, QN0 = ARGV[1], ARGV[4], ARGV[10], tonumber(ARGV[11]), 12
` + luaTake + `
if took then return {0, took} end
return {0, {0, wait, due}}
`)

// dlqPushScript: KEYS order, entries, counter; ARGV id, entry JSON.
var dlqPushScript = newScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[3]), ARGV[1])
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 0
`)

// dlqPopScript: KEYS order, entries; ARGV n. Returns {id, json, ...}.
var dlqPopScript = newScript(`
local p = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
local out = {}
for i = 1, #p, 2 do
  local v = redis.call('HGET', KEYS[2], p[i])
  if v then
    redis.call('HDEL', KEYS[2], p[i])
    table.insert(out, p[i])
    table.insert(out, v)
  end
end
return out
`)

// dlqListScript: KEYS order, entries; ARGV the first and last rank, as
// decimal strings (Lua numbers are doubles: a rank near the largest int64
// computed in Lua reaches ZRANGE in exponent notation, which it refuses),
// and the byte budget of the page: entries stop before the one that would
// take the total past it (the first entry is always returned).
var dlqListScript = newScript(`
local ids = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2])
local out, total, budget = {}, 0, tonumber(ARGV[3])
for _, id in ipairs(ids) do
  local v = redis.call('HGET', KEYS[2], id)
  if v then
    if #out > 0 and total + #v > budget then break end
    total = total + #v
    table.insert(out, id)
    table.insert(out, v)
  end
end
return out
`)

// dlqDeleteScript: KEYS order, entries; ARGV id. Returns how many of the
// two keys held it.
var dlqDeleteScript = newScript(`
return redis.call('ZREM', KEYS[1], ARGV[1]) + redis.call('HDEL', KEYS[2], ARGV[1])
`)
