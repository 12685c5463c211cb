package redisq

import "github.com/redis/go-redis/v9"

// The lease-holding scripts: ARGV channel, id, token first; they return
// codeOK, codeNotFound, codeLost, codeCorrupt or codeNotHash. A token holds
// a task while the task is STARTED or PROCESSING under that token;
// settling clears the token. A lease that ran out but was not recovered yet still holds: no
// other worker can have the task before the recoverer (or an idle claim)
// makes it claimable again.

// luaHold reads the fields named in HOLD of the task hash KEY and returns
// from the script when ARGV[3] is not its lease token: 1 when there is no
// task, 2 when the lease is lost, 4 when KEY is not a hash. f[1] is the
// state, f[2] the token.
const luaHold = `
local f = redis.pcall('HMGET', KEY, 'state', 'token', unpack(HOLD))
if f.err then return 4 end
if ARGV[3] == '' or f[2] ~= ARGV[3] or (f[1] ~= 'STARTED' and f[1] ~= 'PROCESSING') then
  if not f[1] and redis.call('EXISTS', KEY) == 0 then return 1 end
  return 2
end
`

// renew: KEYS leases, task. ARGV[4] lease (µs).
var renewScript = redis.NewScript(`
local LEASES, KEY, HOLD = KEYS[1], KEYS[2], {}
` + luaHold + `
local tm = redis.call('TIME')
redis.call('ZADD', LEASES, tonumber(tm[1]) * 1000000 + tonumber(tm[2]) + tonumber(ARGV[4]), ARGV[2])
return 0
`)

// progress: KEYS leases, task. ARGV[4] lease (µs), ARGV[5] progress JSON.
var progressScript = redis.NewScript(`
local LEASES, KEY, HOLD = KEYS[1], KEYS[2], {}
` + luaHold + `
local tm = redis.call('TIME')
redis.call('ZADD', LEASES, tonumber(tm[1]) * 1000000 + tonumber(tm[2]) + tonumber(ARGV[4]), ARGV[2])
redis.call('HSET', KEY, 'state', 'PROCESSING', 'progress', ARGV[5])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
`)

// complete: KEYS leases, task. ARGV[4] result JSON ("" for none), ARGV[5]
// TTL (ms).
var completeScript = redis.NewScript(`
local LEASES, KEY, HOLD = KEYS[1], KEYS[2], {'error', 'result'}
` + luaHold + `
local tm = redis.call('TIME')
local ts = tm[1] .. string.sub(tm[2] + 1000000, 2)
redis.call('ZREM', LEASES, ARGV[2])
if ARGV[4] == '' then
  redis.call('HSET', KEY, 'state', 'SUCCESS', 'finished_at', ts, 'ttl_ms', ARGV[5], 'token', '')
  if f[3] or f[4] then redis.call('HDEL', KEY, 'error', 'result') end
else
  redis.call('HSET', KEY, 'state', 'SUCCESS', 'finished_at', ts, 'ttl_ms', ARGV[5], 'token', '', 'result', ARGV[4])
  if f[3] then redis.call('HDEL', KEY, 'error') end
end
redis.call('PEXPIRE', KEY, ARGV[5])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
`)

// fail: KEYS leases, task. ARGV[4] error, ARGV[5] TTL (ms).
var failScript = redis.NewScript(`
local LEASES, KEY, HOLD = KEYS[1], KEYS[2], {}
` + luaHold + `
local tm = redis.call('TIME')
redis.call('ZREM', LEASES, ARGV[2])
redis.call('HSET', KEY, 'state', 'FAILURE', 'finished_at', tm[1] .. string.sub(tm[2] + 1000000, 2),
  'ttl_ms', ARGV[5], 'token', '', 'error', ARGV[4])
redis.call('PEXPIRE', KEY, ARGV[5])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
`)

// retry: KEYS leases, delayed, queue prefix, task. ARGV[4] error, ARGV[5]
// not-before (µs, "" for none).
var retryScript = redis.NewScript(`
local LEASES, DELAYED, QP, KEY, HOLD = KEYS[1], KEYS[2], KEYS[3], KEYS[4], {'queue', 'retries'}
` + luaHold + luaNow + luaQueue + `
if not f[3] or f[3] == '' then return 3 end
redis.call('ZREM', LEASES, ARGV[2])
local r = tonumber(f[4] or '0')
if r then
  redis.call('HSET', KEY, 'state', 'RETRY', 'token', '', 'error', ARGV[4], 'retries', r + 1)
else
  redis.call('HSET', KEY, 'state', 'RETRY', 'token', '', 'error', ARGV[4])
end
local nb = tonumber(ARGV[5])
if nb and nb > now() then
  redis.call('HSET', KEY, 'not_before', ARGV[5])
  delay(f[3], ARGV[2], nb)
else
  ready(f[3], ARGV[2], false)
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
`)

// release: KEYS leases, delayed, queue prefix, task. The task goes back to
// the front of its queue.
var releaseScript = redis.NewScript(`
local LEASES, DELAYED, QP, KEY, HOLD = KEYS[1], KEYS[2], KEYS[3], KEYS[4], {'queue', 'attempt', 'progress'}
` + luaHold + luaQueue + `
if not f[3] or f[3] == '' then return 3 end
redis.call('ZREM', LEASES, ARGV[2])
local a = tonumber(f[4] or '0')
if a and a > 0 then
  redis.call('HSET', KEY, 'state', 'PENDING', 'token', '', 'attempt', a - 1)
else
  redis.call('HSET', KEY, 'state', 'PENDING', 'token', '')
end
if f[5] then redis.call('HDEL', KEY, 'progress') end
ready(f[3], ARGV[2], true)
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
`)

// poison fails a task whose data does not decode and records its dead
// letter, in one step. KEYS leases, task, dead-letter order, entries,
// counter. ARGV[3] token ("" for a task stuck without a lease holder: any
// leased state), ARGV[4] error, ARGV[5] entry JSON, ARGV[6] TTL (ms).
var poisonScript = redis.NewScript(`
local LEASES, KEY = KEYS[1], KEYS[2]
local f = redis.pcall('HMGET', KEY, 'state', 'token')
if f.err then return 1 end
if (ARGV[3] == '' and f[1] ~= 'STARTED' and f[1] ~= 'PROCESSING') or (ARGV[3] ~= '' and f[2] ~= ARGV[3]) then
  if not f[1] and redis.call('EXISTS', KEY) == 0 then return 1 end
  return 2
end
local tm = redis.call('TIME')
redis.call('ZREM', LEASES, ARGV[2])
redis.call('HSET', KEY, 'state', 'FAILURE', 'finished_at', tm[1] .. string.sub(tm[2] + 1000000, 2),
  'ttl_ms', ARGV[6], 'token', '', 'error', ARGV[4])
redis.call('PEXPIRE', KEY, ARGV[6])
if not redis.call('ZSCORE', KEYS[3], ARGV[2]) then
  redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[5]), ARGV[2])
end
redis.call('HSET', KEYS[4], ARGV[2], ARGV[5])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
`)

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
