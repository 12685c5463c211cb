package redisq

import "github.com/redis/go-redis/v9"

// The lease-holding scripts: ARGV channel, id, token, call first; they
// return codeOK, codeNotFound, codeLost, codeCorrupt or codeNotHash. A
// token holds a task while the task is STARTED or PROCESSING under that
// token. Settling replaces the token with the call's own id (unique like a
// token, and never a lease token), so a second run of the same call (the
// client re-sent it after a read timeout while the first run went through)
// finds its own mark and answers as the first run did, while any other
// call with the old token finds the lease lost. Settling also deletes the
// token's claim record (see luaClaim). A lease that ran out but was not recovered yet still holds: no
// other worker can have the task before the recoverer (or an idle claim)
// makes it claimable again.

// luaHold reads the fields named in HOLD of the task hash KEY and returns
// from the script when ARGV[3] is not its lease token: 0 when ARGV[4] (the
// call's id, "" for calls that are safe to repeat) already settled the
// task, 1 when there is no task, 2 when the lease is lost, 4 when KEY is
// not a hash. f[1] is the state, f[2] the token.
const luaHold = `
local f = redis.pcall('HMGET', KEY, 'state', 'token', unpack(HOLD))
if f.err then return 4 end
if ARGV[3] == '' or f[2] ~= ARGV[3] or (f[1] ~= 'STARTED' and f[1] ~= 'PROCESSING') then
  if ARGV[4] ~= '' and f[2] == ARGV[4] then return 0 end
  if not f[1] and redis.call('EXISTS', KEY) == 0 then return 1 end
  return 2
end
`

// renew: KEYS leases, task. ARGV[5] lease (µs).
var renewScript = redis.NewScript(`
local LEASES, KEY, HOLD = KEYS[1], KEYS[2], {}
` + luaHold + `
local tm = redis.call('TIME')
redis.call('ZADD', LEASES, tonumber(tm[1]) * 1000000 + tonumber(tm[2]) + tonumber(ARGV[5]), ARGV[2])
return 0
`)

// progress: KEYS leases, task. ARGV[5] lease (µs), ARGV[6] progress JSON.
var progressScript = redis.NewScript(`
local LEASES, KEY, HOLD = KEYS[1], KEYS[2], {}
` + luaHold + `
local tm = redis.call('TIME')
redis.call('ZADD', LEASES, tonumber(tm[1]) * 1000000 + tonumber(tm[2]) + tonumber(ARGV[5]), ARGV[2])
redis.call('HSET', KEY, 'state', 'PROCESSING', 'progress', ARGV[6])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
`)

// luaSettled ends a settling script after its state change: it drops the
// lease entry and the claim record CLAIMREC of the token, and announces the
// change.
const luaSettled = `
redis.call('ZREM', LEASES, ARGV[2])
redis.call('DEL', CLAIMREC)
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
`

// complete: KEYS leases, task, claim record. ARGV[5] result JSON ("" for
// none), ARGV[6] TTL (ms).
var completeScript = redis.NewScript(`
local LEASES, KEY, CLAIMREC, HOLD = KEYS[1], KEYS[2], KEYS[3], {'error', 'result'}
` + luaHold + `
local tm = redis.call('TIME')
local ts = tm[1] .. string.sub(tm[2] + 1000000, 2)
if ARGV[5] == '' then
  redis.call('HSET', KEY, 'state', 'SUCCESS', 'finished_at', ts, 'ttl_ms', ARGV[6], 'token', ARGV[4])
  if f[3] or f[4] then redis.call('HDEL', KEY, 'error', 'result') end
else
  redis.call('HSET', KEY, 'state', 'SUCCESS', 'finished_at', ts, 'ttl_ms', ARGV[6], 'token', ARGV[4], 'result', ARGV[5])
  if f[3] then redis.call('HDEL', KEY, 'error') end
end
redis.call('PEXPIRE', KEY, ARGV[6])
` + luaSettled)

// fail: KEYS leases, task, claim record. ARGV[5] error, ARGV[6] TTL (ms).
var failScript = redis.NewScript(`
local LEASES, KEY, CLAIMREC, HOLD = KEYS[1], KEYS[2], KEYS[3], {}
` + luaHold + `
local tm = redis.call('TIME')
redis.call('HSET', KEY, 'state', 'FAILURE', 'finished_at', tm[1] .. string.sub(tm[2] + 1000000, 2),
  'ttl_ms', ARGV[6], 'token', ARGV[4], 'error', ARGV[5])
redis.call('PEXPIRE', KEY, ARGV[6])
` + luaSettled)

// retry: KEYS leases, delayed, queue prefix, task, claim record. ARGV[5]
// error, ARGV[6] not-before (µs, "" for none).
var retryScript = redis.NewScript(`
local LEASES, DELAYED, QP, KEY, CLAIMREC, HOLD = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], {'queue', 'retries'}
` + luaHold + luaNow + luaQueue + `
if not f[3] or f[3] == '' then return 3 end
local r = tonumber(f[4] or '0')
if r then
  redis.call('HSET', KEY, 'state', 'RETRY', 'token', ARGV[4], 'error', ARGV[5], 'retries', r + 1)
else
  redis.call('HSET', KEY, 'state', 'RETRY', 'token', ARGV[4], 'error', ARGV[5])
end
local nb = tonumber(ARGV[6])
if nb and nb > now() then
  redis.call('HSET', KEY, 'not_before', ARGV[6])
  delay(f[3], ARGV[2], nb)
else
  ready(f[3], ARGV[2], false)
end
` + luaSettled)

// release: KEYS leases, delayed, queue prefix, task, claim record. The task
// goes back to the front of its queue.
var releaseScript = redis.NewScript(`
local LEASES, DELAYED, QP, KEY, CLAIMREC, HOLD = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], {'queue', 'attempt', 'progress'}
` + luaHold + luaQueue + `
if not f[3] or f[3] == '' then return 3 end
local a = tonumber(f[4] or '0')
if a and a > 0 then
  redis.call('HSET', KEY, 'state', 'PENDING', 'token', ARGV[4], 'attempt', a - 1)
else
  redis.call('HSET', KEY, 'state', 'PENDING', 'token', ARGV[4])
end
if f[5] then redis.call('HDEL', KEY, 'progress') end
ready(f[3], ARGV[2], true)
` + luaSettled)

// poison fails a task whose data does not decode and records its dead
// letter, in one step. KEYS leases, task, dead-letter order, entries,
// counter, claim record. ARGV[3] token ("" for a task stuck without a
// lease holder: any leased state), ARGV[4] call, ARGV[5] error, ARGV[6]
// entry JSON, ARGV[7] TTL (ms).
var poisonScript = redis.NewScript(`
local LEASES, KEY, CLAIMREC = KEYS[1], KEYS[2], KEYS[6]
local f = redis.pcall('HMGET', KEY, 'state', 'token')
if f.err then return 1 end
if f[1] == 'FAILURE' and f[2] == ARGV[4] then return 0 end
if (f[1] ~= 'STARTED' and f[1] ~= 'PROCESSING') or (ARGV[3] ~= '' and f[2] ~= ARGV[3]) then
  if not f[1] and redis.call('EXISTS', KEY) == 0 then return 1 end
  return 2
end
local tm = redis.call('TIME')
redis.call('HSET', KEY, 'state', 'FAILURE', 'finished_at', tm[1] .. string.sub(tm[2] + 1000000, 2),
  'ttl_ms', ARGV[7], 'token', ARGV[4], 'error', ARGV[5])
redis.call('PEXPIRE', KEY, ARGV[7])
if not redis.call('ZSCORE', KEYS[3], ARGV[2]) then
  redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[5]), ARGV[2])
end
redis.call('HSET', KEYS[4], ARGV[2], ARGV[6])
` + luaSettled)

// dlqPushScript: KEYS order, entries, counter; ARGV id, entry JSON.
var dlqPushScript = redis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[3]), ARGV[1])
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 0
`)

// dlqPopScript: KEYS order, entries; ARGV n. Returns {id, json, ...}.
var dlqPopScript = redis.NewScript(`
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
// computed in Lua reaches ZRANGE in exponent notation, which it refuses).
var dlqListScript = redis.NewScript(`
local ids = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('HGET', KEYS[2], id)
  if v then
    table.insert(out, id)
    table.insert(out, v)
  end
end
return out
`)

// dlqDeleteScript: KEYS order, entries; ARGV id. Returns how many of the
// two keys held it.
var dlqDeleteScript = redis.NewScript(`
return redis.call('ZREM', KEYS[1], ARGV[1]) + redis.call('HDEL', KEYS[2], ARGV[1])
`)

// countScript: KEYS[1] the counter prefix of one name and window length;
// ARGV[1] the window (µs). The window number comes from Redis's clock;
// the counter expires a second after its window ends.
var countScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local w = tonumber(ARGV[1])
local idx = math.floor(now / w)
local key = KEYS[1] .. string.format('%.0f', idx)
local n = redis.call('INCR', key)
if n == 1 then
  redis.call('PEXPIREAT', key, math.ceil((idx + 1) * w / 1000) + 1000)
end
return n
`)
