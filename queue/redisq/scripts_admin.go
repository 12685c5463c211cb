package redisq

// The scripts of cancellation, pausing, recovery and failure counting.

// poison fails a task whose data does not decode and records its dead
// letter, in one step. KEYS: the settle layout, then the dead-letter
// order, entries and counter. ARGV: channel, id, token ("" for a task
// stuck without a lease holder: any leased state), call, queue (the
// indexes are updated only when the task is in it), error, entry JSON,
// TTL (ms), and "1" to take a task that a claim reserved but did not
// start (its state is not one a claim takes, or its data is bad).
var poisonScript = newScript(`
local LEASES, KEY, CLAIMREC, DONE, I0 = KEYS[1], KEYS[2], KEYS[3], KEYS[7], 8
` + luaIdx + `
local f = redis.pcall('HMGET', KEY, 'state', 'token', 'queue', 'enqueued_at')
if f.err then return 1 end
if f[1] == 'FAILURE' and f[2] == ARGV[4] then return 0 end
local held = (f[1] == 'STARTED' or f[1] == 'PROCESSING') and (ARGV[3] == '' or f[2] == ARGV[3])
local st = f[1]
local odd = ARGV[9] == '1' and st ~= 'STARTED' and st ~= 'PROCESSING' and st ~= 'SUCCESS' and st ~= 'FAILURE'
  and st ~= 'REVOKED' and redis.call('EXISTS', KEY) == 1
if not held and not odd then
  if not f[1] and redis.call('EXISTS', KEY) == 0 then return 1 end
  return 2
end
` + luaTime + `
redis.call('HSET', KEY, 'state', 'FAILURE', 'finished_at', ts, 'ttl_ms', ARGV[8], 'token', ARGV[4], 'error', ARGV[6])
redis.call('PEXPIRE', KEY, ARGV[8])
if f[3] and f[3] == ARGV[5] then
  if IDX[f[1] or ''] then redis.call('ZREM', IDX[f[1]], ARGV[2]) end
  redis.call('ZADD', IDX.FAILURE, tonumber(f[4]) or 0, ARGV[2])
  redis.call('ZADD', DONE, t + tonumber(ARGV[8]) * 1000, ARGV[2])
end
if not redis.call('ZSCORE', KEYS[16], ARGV[2]) then
  redis.call('ZADD', KEYS[16], redis.call('INCR', KEYS[18]), ARGV[2])
end
redis.call('HSET', KEYS[17], ARGV[2], ARGV[7])
redis.call('ZREM', LEASES, ARGV[2])
redis.call('DEL', CLAIMREC)
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
`)

// cancel: KEYS the task hash, then its queue's delayed and done sets and
// eight indexes. ARGV: channel, id, queue, TTL (ms). A waiting task ends
// REVOKED (its ready list entry stays, and claims drop it); a leased one
// gets the cancel field (the TTL), which its next lease call acts on.
// Returns {0, HGETALL} after the change, {1} for no task, {4} when the key
// is not a hash, {5, queue} when the task is in another queue.
var cancelScript = newScript(`
local KEY, DELAYED, DONE, I0, ID = KEYS[1], KEYS[2], KEYS[3], 4, ARGV[2]
` + luaIdx + `
local f = redis.pcall('HMGET', KEY, 'state', 'queue', 'enqueued_at', 'cancel')
if f.err then return {4} end
if not f[1] and redis.call('EXISTS', KEY) == 0 then return {1} end
local st = f[1]
local live = st == 'STARTED' or st == 'PROCESSING' or st == 'PENDING' or st == 'RETRY'
if live and f[2] ~= ARGV[3] then return {5, f[2] or ''} end
if st == 'STARTED' or st == 'PROCESSING' then
  if not f[4] then
    redis.call('HSET', KEY, 'cancel', ARGV[4])
    redis.call('PUBLISH', ARGV[1], ID)
  end
elseif live then
` + luaTime + `
  local score = tonumber(f[3]) or 0
  redis.call('ZREM', DELAYED, ID)
  redis.call('ZREM', IDX[st], ID)
  if st == 'PENDING' then redis.call('ZREM', IDX.SCHEDULED, ID) end
  redis.call('HSET', KEY, 'state', 'REVOKED', 'finished_at', ts, 'ttl_ms', ARGV[4], 'token', '')
  redis.call('HDEL', KEY, 'not_before')
  redis.call('PEXPIRE', KEY, ARGV[4])
  redis.call('ZADD', IDX.REVOKED, score, ID)
  redis.call('ZADD', DONE, t + tonumber(ARGV[4]) * 1000, ID)
  redis.call('PUBLISH', ARGV[1], ID)
end
return {0, redis.call('HGETALL', KEY)}
`)

// pause: KEYS the paused set, the set of queue names, the queue's wake
// list. ARGV: queue, "1" to pause or "0" to resume. Resuming leaves a wake
// token, so a claim blocked on the queue looks again.
var pauseScript = newScript(`
if ARGV[2] == '1' then
  redis.call('SADD', KEYS[1], ARGV[1])
  redis.call('SADD', KEYS[2], ARGV[1])
elseif redis.call('SREM', KEYS[1], ARGV[1]) == 1 and redis.call('LLEN', KEYS[3]) == 0 then
  redis.call('RPUSH', KEYS[3], '1')
end
return 0
`)

// due: KEYS the lease set. ARGV: limit. Returns the ids whose lease ran
// out, oldest first.
var dueScript = newScript(luaTime + `
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t, 'LIMIT', 0, ARGV[1])
`)

// expire recovers tasks whose lease ran out. KEYS: the lease set, then 13
// keys per task j (from KEYS[2+13j]): its hash and its queue's group
// (ready, wake, delayed, done, eight indexes). ARGV: channel, number of
// tasks, then id and queue of each. A leased task goes back to the front
// of its queue (PENDING, Redeliveries+1), or ends REVOKED when its
// cancellation was requested; a task reserved by a claim that never
// started it goes back to the front; the entry of any other is dropped.
// Returns {recovered, {ids of leased tasks without a queue}}. A task not
// in the queue given is left for the next call.
var expireScript = newScript(`
local LEASES = KEYS[1]
` + luaTime + `
local n, stuck = 0, {}
for j = 0, tonumber(ARGV[2]) - 1 do
  local b, ID, Q = 2 + 13 * j, ARGV[3 + 2 * j], ARGV[4 + 2 * j]
  local sc = redis.call('ZSCORE', LEASES, ID)
  if sc and tonumber(sc) <= t then
    local KEY, READY, WAKE, DONE, I0 = KEYS[b], KEYS[b + 1], KEYS[b + 2], KEYS[b + 4], b + 5
` + luaIdx + `
    local f = redis.pcall('HMGET', KEY, 'state', 'queue', 'redeliveries', 'cancel', 'enqueued_at')
    local leased = not f.err and (f[1] == 'STARTED' or f[1] == 'PROCESSING')
    local waiting = not f.err and (f[1] == 'PENDING' or f[1] == 'RETRY')
    if (leased or waiting) and (not f[2] or f[2] == '') then
      if leased then table.insert(stuck, ID) else redis.call('ZREM', LEASES, ID) end
    elseif (leased or waiting) and f[2] ~= Q then
      -- moved: the caller read another queue; the next call sees this one
    elseif leased then
      redis.call('ZREM', LEASES, ID)
      local score = tonumber(f[5]) or 0
      redis.call('ZREM', IDX[f[1]], ID)
      if f[4] then
        redis.call('HSET', KEY, 'state', 'REVOKED', 'finished_at', ts, 'ttl_ms', f[4], 'token', '')
        redis.call('PEXPIRE', KEY, f[4])
        redis.call('ZADD', IDX.REVOKED, score, ID)
        redis.call('ZADD', DONE, t + tonumber(f[4]) * 1000, ID)
      else
        local r = tonumber(f[3] or '0')
        if r then
          redis.call('HSET', KEY, 'state', 'PENDING', 'token', '', 'redeliveries', r + 1)
        else
          redis.call('HSET', KEY, 'state', 'PENDING', 'token', '')
        end
        redis.call('HDEL', KEY, 'progress')
        redis.call('ZADD', IDX.PENDING, score, ID)
        redis.call('LPUSH', READY, ID)
        if redis.call('LLEN', WAKE) == 0 then redis.call('RPUSH', WAKE, ID) end
      end
      redis.call('PUBLISH', ARGV[1], ID)
      n = n + 1
    elseif waiting then
      redis.call('ZREM', LEASES, ID)
      redis.call('LPUSH', READY, ID)
      if redis.call('LLEN', WAKE) == 0 then redis.call('RPUSH', WAKE, ID) end
    else
      redis.call('ZREM', LEASES, ID)
    end
  end
end
return {n, stuck}
`)

// heal leases again the leased tasks that lost their lease entry (to an
// eviction or a failover). KEYS: the lease set, then task hashes. ARGV:
// the default lease (µs), then the id of each task. Returns how many it
// leased again.
var healScript = newScript(luaTime + `
local healed = 0
for i = 2, #KEYS do
  local f = redis.pcall('HMGET', KEYS[i], 'state', 'lease_us')
  if not f.err and (f[1] == 'STARTED' or f[1] == 'PROCESSING') and not redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], t + (tonumber(f[2]) or tonumber(ARGV[1])), ARGV[i])
    healed = healed + 1
  end
end
return healed
`)

// luaSweep drops from a queue's indexes up to 1000 done tasks whose result
// expired (Redis removed their hash by itself): DONE is the queue's done
// set, IDX its indexes (luaIdx). It sets swept to how many.
const luaSweep = `
local swept = redis.call('ZRANGEBYSCORE', DONE, '-inf', t, 'LIMIT', 0, 1000)
for _, id in ipairs(swept) do
  redis.call('ZREM', DONE, id)
  redis.call('ZREM', IDX.SUCCESS, id)
  redis.call('ZREM', IDX.FAILURE, id)
  redis.call('ZREM', IDX.REVOKED, id)
end
swept = #swept
`

// sweepDone: KEYS a queue's group (ready, wake, delayed, done, eight
// indexes). Runs luaSweep and returns how many it dropped.
var sweepDoneScript = newScript(`
local DONE, I0 = KEYS[4], 5
` + luaIdx + luaTime + luaSweep + `
return swept
`)

// stats brings each queue up to date (luaSweep, and luaPromote for the
// delays that passed, as a claim would) and counts its tasks. KEYS: the
// paused set, then the group of each queue (12 keys from KEYS[2+12i]).
// ARGV: the queue names. Returns, per queue, the sizes of its eight
// indexes and 1 when it is paused (else 0).
var statsScript = newScript(luaTime + `
local out = {}
for i = 0, #ARGV - 1 do
  local k = 2 + 12 * i
  local PR, WAKE, PD, DONE, I0 = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], k + 4
` + luaIdx + luaSweep + `
  local PS, PP = IDX.SCHEDULED, IDX.PENDING
` + luaPromote + `
  if promoted > 0 and redis.call('LLEN', WAKE) == 0 then redis.call('RPUSH', WAKE, '1') end
  for j = 0, 7 do table.insert(out, redis.call('ZCARD', KEYS[I0 + j])) end
  table.insert(out, redis.call('SISMEMBER', KEYS[1], ARGV[i + 1]))
end
return out
`)

// countScript: KEYS[1] the failure counters of one name and window length
// (a hash: window number -> count), then the ranking of that window length
// and the key holding its window number (see luaRank); ARGV[1] the window
// (µs), ARGV[2] the task name. The window number comes from Redis's clock;
// counts of older windows are dropped when a window starts, and the keys
// expire a second after their window ends.
var countScript = newScript(luaTime + `
local w = tonumber(ARGV[1])
local idx = math.floor(t / w)
local field = string.format('%.0f', idx)
local n = redis.call('HINCRBY', KEYS[1], field, 1)
local expireAt = math.ceil((idx + 1) * w / 1000) + 1000
if n == 1 then
  for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do
    if k ~= field then redis.call('HDEL', KEYS[1], k) end
  end
  redis.call('PEXPIREAT', KEYS[1], expireAt)
end
` + luaRank + `
return n
`)
