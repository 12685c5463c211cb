package redisq

import "github.com/redis/go-redis/v9"

// Every state change of a task is one of the Lua scripts in the scripts*.go
// files, so it is atomic. Every key a script touches is passed to it in
// KEYS, all under the one hash tag {prefix}: no script builds a key name,
// so the scripts run where declared keys are enforced (Redis Cluster
// proxies, Dragonfly's default, scripts with flags), and TestScriptsDeclareKeys
// checks it by running the conformance suite with every Redis call of
// every script checked against its KEYS. Where the keys depend on data
// (the queue of a task, the tasks whose lease ran out), the client reads
// that data first and the script checks it is still true, answering
// codeMoved (or skipping) when it is not.
//
// Times come from Redis's TIME, in microseconds, so that every machine
// agrees on leases and delays. Scripts read what they need and check it
// before their first write, so that data they did not expect cannot make
// one fail halfway (Redis does not roll back a script that errors).

// scriptSrc holds the source of every script, for the test that runs them
// with every key they touch checked against their KEYS.
var scriptSrc = map[*redis.Script]string{}

// newScript returns a script of src and records its source.
func newScript(src string) *redis.Script {
	s := redis.NewScript(src)
	scriptSrc[s] = src
	return s
}

// luaTime sets t and ts: the time in µs, as a number and as a decimal
// string.
const luaTime = `
local tm = redis.call('TIME')
local t, ts = tonumber(tm[1]) * 1000000 + tonumber(tm[2]), tm[1] .. string.sub(tm[2] + 1000000, 2)
`

// luaIdx sets IDX, the index keys of a queue by state, from KEYS[I0] on,
// in the order of idxStates.
const luaIdx = `
local IDX = {PENDING = KEYS[I0], SCHEDULED = KEYS[I0 + 1], STARTED = KEYS[I0 + 2], PROCESSING = KEYS[I0 + 3],
  RETRY = KEYS[I0 + 4], SUCCESS = KEYS[I0 + 5], FAILURE = KEYS[I0 + 6], REVOKED = KEYS[I0 + 7]}
`

// Result codes of the lease scripts.
const (
	codeOK       = 0
	codeNotFound = 1
	codeLost     = 2
	codeCorrupt  = 3
	codeNotHash  = 4 // the task key holds another type
	codeMoved    = 5 // the task is not in the queue the caller named
	codeRevoked  = 6 // cancelled: the task is REVOKED now
)

// enqueue: KEYS the task hash, then the queue's ready, wake, delayed,
// done, its eight indexes (luaIdx), and the set of queue names. ARGV: id,
// name, queue, payload, max_retries, enqueued_at (µs, "" for now),
// not_before (µs, "" for none), headers JSON ("" for none), the id of
// this Enqueue call (kept in the task's enq_call field). Returns {1,
// enqueued_at} when stored, {0, HGETALL} when the id exists, {0} when its
// key is not a hash, {2} for a bad time. A second run of the call that
// stored the task (go-redis re-sends a script after a read timeout while
// its first run may still be queued in Redis) finds its own call id in
// the task and answers {1, enqueued_at} as the first run did; any other
// call finds a duplicate. Every write that could fail (a key of another
// type) comes before the task hash is written, so a failed enqueue stores
// no task.
var enqueueScript = newScript(`
local key, READY, WAKE, DELAYED, DONE, I0, QUEUES = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], 6, KEYS[14]
` + luaIdx + `
if redis.call('EXISTS', key) == 1 then
  local f = redis.pcall('HGETALL', key)
  if f.err then return {0} end
  local call, enq
  for i = 1, #f, 2 do
    if f[i] == 'enq_call' then call = f[i + 1] elseif f[i] == 'enqueued_at' then enq = f[i + 1] end
  end
  if ARGV[9] ~= '' and call == ARGV[9] and enq then return {1, enq} end
  return {0, f}
end
local enq, nb = ARGV[6], tonumber(ARGV[7])
local t = 0
if enq == '' or nb then
  local tm = redis.call('TIME')
  t = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
  if enq == '' then enq = tm[1] .. string.sub(tm[2] + 1000000, 2) end
end
local score = tonumber(enq)
if not score or (ARGV[7] ~= '' and not nb) then return {2} end
-- A result that expired left the id in the done indexes: drop it there.
if redis.call('ZREM', DONE, ARGV[1]) == 1 then
  redis.call('ZREM', IDX.SUCCESS, ARGV[1])
  redis.call('ZREM', IDX.FAILURE, ARGV[1])
  redis.call('ZREM', IDX.REVOKED, ARGV[1])
end
redis.call('SADD', QUEUES, ARGV[3])
local woke = true
if nb and nb > t then
  redis.call('ZADD', DELAYED, nb, ARGV[1])
  redis.call('ZADD', IDX.SCHEDULED, score, ARGV[1])
  woke = redis.call('ZRANGE', DELAYED, 0, 0)[1] == ARGV[1]
else
  redis.call('RPUSH', READY, ARGV[1])
  redis.call('ZADD', IDX.PENDING, score, ARGV[1])
end
if woke and redis.call('LLEN', WAKE) == 0 then redis.call('RPUSH', WAKE, ARGV[1]) end
local h = {'name', ARGV[2], 'queue', ARGV[3], 'payload', ARGV[4], 'state', 'PENDING', 'max_retries', ARGV[5], 'enqueued_at', enq,
  'enq_call', ARGV[9]}
if nb then
  table.insert(h, 'not_before')
  table.insert(h, ARGV[7])
end
if ARGV[8] ~= '' then
  table.insert(h, 'headers')
  table.insert(h, ARGV[8])
end
redis.call('HSET', key, unpack(h))
return {1, enq}
`)

// claimFields are the fields the start script returns, in this order.
var claimFields = []string{fAttempt, fStartedAt, fName, fQueue, fPayload, fMaxRetries,
	fRetries, fRedeliveries, fEnqueuedAt, fError, fResult, fHeaders}

// luaPromote moves up to 100 tasks whose not-before time passed from the
// delayed set PD to the back of the ready list PR, and those among them
// that are PENDING from the SCHEDULED index PS to the PENDING index PP. It
// sets promoted to how many it moved.
const luaPromote = `
local promoted = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', PD, '-inf', t, 'LIMIT', 0, 100)) do
  redis.call('ZREM', PD, id)
  redis.call('RPUSH', PR, id)
  local sc = redis.call('ZSCORE', PS, id)
  if sc then
    redis.call('ZREM', PS, id)
    redis.call('ZADD', PP, sc, id)
  end
  promoted = promoted + 1
end
`

// luaTake reserves the first ready task of the NQ queues whose ready,
// wake, delayed and SCHEDULED, PENDING, RETRY and STARTED indexes are
// KEYS[Q0+7i] to KEYS[Q0+7i+6] and whose names are ARGV[QN0+i] (i from 0),
// skipping the paused ones. It first moves the due delayed tasks of each
// queue to its ready list. A reservation is a lease entry for the id (for
// LEASE µs) and the claim record CLAIMREC ("<i>:<id>"); the start script
// then moves the task to STARTED. When the id is HINT, a guess of the
// caller whose task key is the last of KEYS, and comes from queue HQ, the
// task is started here at once (luaStart) and the start script is not
// needed. An id already in the lease set is a stale entry and is dropped.
// It sets took to {1, id, i, hints} (reserved) or {7, id, i, hints,
// claimFields...} (started), where hints are the first ids now in that
// ready list (guesses for the next claims), or leaves it nil and sets wait
// (µs until the earliest delay of these queues or lease runs out, -1 for
// none) and due (1 when a lease already ran out). A second run of the same
// claim finds the claim record and answers {1, id, i, {}}. It expects t,
// ts, LEASES, PAUSED, CLAIMREC, CTOKEN, LEASE, NQ, Q0, QN0, HINT, HQ,
// CHANNEL and WOKEN (the index of the queue whose wake token woke this
// claim, or -1), and FRESH (true when the claim token is known to be new,
// so that no claim record can exist yet: its GET is skipped).
const luaTake = `
local took, wait, due
local rec = not FRESH and redis.call('GET', CLAIMREC)
if rec then
  local sep = string.find(rec, ':', 1, true)
  took = {1, string.sub(rec, sep + 1), tonumber(string.sub(rec, 1, sep - 1)), {}}
end
wait = -1
for i = 0, NQ - 1 do
  if took then break end
  local k = Q0 + 7 * i
  if redis.call('SISMEMBER', PAUSED, ARGV[QN0 + i]) == 0 then
    local PR, PD, PS, PP = KEYS[k], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
    local first = redis.call('ZRANGE', PD, 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) <= t then
` + luaPromote + `
      first = redis.call('ZRANGE', PD, 0, 0, 'WITHSCORES')
    end
    while true do
      local id = redis.call('LPOP', KEYS[k])
      if not id then break end
      if redis.call('ZADD', LEASES, 'NX', t + tonumber(LEASE), id) == 1 then
        local started
        if id == HINT and i == HQ then
          -- The caller guessed this id and gave its key: start it here.
          local KEY, ID, TOKEN, LEASEUS, QNAME = KEYS[#KEYS], id, CTOKEN, LEASE, ARGV[QN0 + i]
          local IPEND, IRETRY, ISTART = KEYS[k + 4], KEYS[k + 5], KEYS[k + 6]
` + luaStart + `
          if sres[1] == 0 then started = false elseif sres[1] == 1 then started = sres end
        end
        if started ~= false then
          redis.call('SET', CLAIMREC, i .. ':' .. id, 'PX', math.max(1, math.min(math.floor(tonumber(LEASE) / 1000), 86400000)))
          local hints = redis.call('LRANGE', KEYS[k], 0, 15)
          -- A wake token naming this task, the last ready one, announces
          -- nothing now: drop it, so that no claim wakes for a task
          -- already taken. (While tasks are left, a woken claim finds one.)
          if not hints[1] and redis.call('LRANGE', KEYS[k + 1], 0, 0)[1] == id then
            redis.call('DEL', KEYS[k + 1])
          end
          -- This claim took a wake token: pass it on while that queue has
          -- work, for claimers still asleep, naming the task at its head.
          if WOKEN >= 0 then
            local head = hints[1]
            if WOKEN ~= i then head = redis.call('LRANGE', KEYS[Q0 + 7 * WOKEN], 0, 0)[1] end
            local wk = KEYS[Q0 + 7 * WOKEN + 1]
            if head and redis.call('LLEN', wk) == 0 then redis.call('RPUSH', wk, head) end
          end
          if started then
            took = {7, id, i, hints, unpack(started, 2)}
          else
            took = {1, id, i, hints}
          end
          break
        end
      end
    end
    if not took and first[2] then
      local d = math.max(tonumber(first[2]) - t, 0)
      if wait < 0 or d < wait then wait = d end
    end
  end
end
if not took then
  due = 0
  local lease = redis.call('ZRANGE', LEASES, 0, 0, 'WITHSCORES')
  if lease[2] then
    local d = tonumber(lease[2]) - t
    if d <= 0 then due, d = 1, 0 end
    if wait < 0 or d < wait then wait = d end
  end
end
`

// take: KEYS leases, the claim record of the token, the paused set, then
// seven keys per queue (see luaTake), then the hint's task key when there
// is a hint. ARGV: channel, token, lease (µs), number of queues, the index
// of the queue whose wake token woke this claim (-1 for none), the hint
// ("" for none) and its queue index, then the queue names. Returns
// luaTake's took, or {0, wait, due}.
var takeScript = newScript(luaTime + `
local LEASES, CLAIMREC, PAUSED, Q0, FRESH = KEYS[1], KEYS[2], KEYS[3], 4, false
local CHANNEL, CTOKEN, LEASE, NQ, WOKEN, HINT, HQ, QN0 = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]),
  ARGV[6], tonumber(ARGV[7]), 8
` + luaTake + `
if took then return took end
return {0, wait, due}
`)

// luaStart moves task ID (hash KEY), reserved for TOKEN, to STARTED and
// sets sres to {1, claimFields...}; {0} for a stale entry (the task is
// done, revoked or gone: its lease entry is dropped unless another holds
// it); {2} when the key is not a hash (the entry is dropped); {3, HGETALL}
// when the state is not one this package writes or the data is bad (the
// task is left as it is); {5, queue} when the task belongs to another
// queue than QNAME. A second run for the same token answers as the first.
// It expects LEASES, KEY, ID, TOKEN, LEASEUS (µs, a string), QNAME,
// IPEND, IRETRY and ISTART (the queue's PENDING, RETRY and STARTED
// indexes), CHANNEL, and ts.
const luaStart = `
local sres
repeat
  local f = redis.pcall('HMGET', KEY, 'state', 'token', 'attempt', 'progress', 'not_before', 'name', 'queue',
    'payload', 'max_retries', 'retries', 'redeliveries', 'enqueued_at', 'error', 'result', 'headers', 'started_at')
  if f.err then
    redis.call('ZREM', LEASES, ID)
    sres = {2}
    break
  end
  local st = f[1]
  if (st == 'STARTED' or st == 'PROCESSING') and f[2] == TOKEN then
    sres = {1, f[3], f[16], f[6], f[7], f[8], f[9], f[10], f[11], f[12], f[13], f[14], f[15]}
    break
  end
  if st ~= 'PENDING' and st ~= 'RETRY' then
    if (st and st ~= 'STARTED' and st ~= 'PROCESSING' and st ~= 'SUCCESS' and st ~= 'FAILURE' and st ~= 'REVOKED')
      or (not st and (f[6] or f[7])) then
      sres = {3, redis.call('HGETALL', KEY)}
      break
    end
    if st ~= 'STARTED' and st ~= 'PROCESSING' then redis.call('ZREM', LEASES, ID) end
    sres = {0}
    break
  end
  local score = tonumber(f[12])
  if not f[7] or f[7] == '' or not score then
    sres = {3, redis.call('HGETALL', KEY)}
    break
  end
  if f[7] ~= QNAME then
    sres = {5, f[7]}
    break
  end
  local attempt = f[3] or '0'
  local a = tonumber(attempt)
  if a then attempt = tostring(a + 1) end
  redis.call('HSET', KEY, 'state', 'STARTED', 'attempt', attempt, 'started_at', ts, 'token', TOKEN, 'lease_us', LEASEUS)
  if f[4] or f[5] then redis.call('HDEL', KEY, 'progress', 'not_before') end
  redis.call('ZREM', st == 'RETRY' and IRETRY or IPEND, ID)
  redis.call('ZADD', ISTART, score, ID)
  redis.call('PUBLISH', CHANNEL, ID)
  sres = {1, attempt, ts, f[6], f[7], f[8], f[9], f[10], f[11], f[12], f[13], f[14], f[15]}
until true
`

// start moves a task reserved by take to STARTED under the token and
// returns it (luaStart's sres); its lease runs from the reservation. KEYS:
// leases, the claim record, the task hash, the queue's PENDING, RETRY and
// STARTED indexes. ARGV: channel, id, token, lease (µs), queue. The claim
// record is dropped with a stale entry.
var startScript = newScript(luaTime + `
local LEASES, CLAIMREC, KEY, IPEND, IRETRY, ISTART = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local CHANNEL, ID, TOKEN, LEASEUS, QNAME = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
` + luaStart + `
if sres[1] == 0 or sres[1] == 2 then redis.call('DEL', CLAIMREC) end
return sres
`)
