"""The Lua scripts of the shared frontier: each is one atomic step, one round trip.

Every script takes the key prefix as ``ARGV[1]`` and builds its keys from it (one
Redis server, not a Cluster).  The layout, for prefix ``P``:

=====================  ======  ==================================================
``P:q:<slot>``         zset    requests of one download slot (JSON), by score
``P:ready``            zset    slots that may be fetched now, by their head's score
``P:wait``             zset    slots resting after a fetch, by the time they wake
``P:seq``              string  push counter: first in, first out within a priority
``P:lease:<w>``        hash    worker *w*'s requests: member -> slot, score, pop token
``P:seeds``            list    seed URLs pushed by ``scrapy pushseeds``
``P:seedlease:<w>``    set     seeds worker *w* took and has not queued yet
``P:seen:<n>``         string  URL-seen shard *n*: sorted big-endian uint32s
``P:seen:bits``        string  log2 of the number of shards (set by the first worker)
``P:seen:n``           string  URLs in the seen set
``P:marks:<w>``        set     URLs *w* admitted and has not queued yet (``shard:x``)
``P:hosts``            hash    host key -> time of its bootstrap claim | claimant
``P:hostmarks:<w>``    set     hosts *w* claimed and whose bootstrap it has not queued
``P:pages``            hash    host key -> pages admitted (the page budget)
``P:polite:<slot>``    string  the time (ms) reserved for the slot's next request
``P:polite:<slot>:last`` string the time (ms) the slot's last request started
``P:workers``          hash    worker id -> JSON (machine, pid, start time)
``P:alive:<w>``        string  heartbeat, expires after DARKCRAWL_REDIS_WORKER_TTL
``P:epoch``            string  bumped by every recovery: workers drop their caches
``P:activity``         string  bumped by every pop and flush (idle detection)
=====================  ======  ==================================================

A request's score is ``-priority * 2**32 + seq``: higher priority first, then
first in, first out.  A slot is in ``P:ready`` or in ``P:wait`` exactly when its
queue is not empty.
"""

from __future__ import annotations

_COMMON = r"""
local P = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function num(x) return string.format('%.0f', x) end
local function epoch() return tonumber(redis.call('GET', P .. ':epoch') or '0') end
local function pending() return redis.call('ZCARD', P .. ':ready') + redis.call('ZCARD', P .. ':wait') end
local function enqueue(slot, score, member)
  redis.call('ZADD', P .. ':q:' .. slot, score, member)
  if not redis.call('ZSCORE', P .. ':wait', slot) then
    redis.call('ZADD', P .. ':ready', 'LT', score, slot)
  end
end
local function seen_find(s, x)
  local lo, hi = 0, #s / 4
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local v = struct.unpack('>I4', s, mid * 4 + 1)
    if v < x then lo = mid + 1 elseif v > x then hi = mid else return true, mid end
  end
  return false, lo
end
local function seen_insert(shard, x)
  local key = P .. ':seen:' .. shard
  local s = redis.call('GET', key) or ''
  local found, pos = seen_find(s, x)
  if found then return false end
  redis.call('SET', key, string.sub(s, 1, pos * 4) .. struct.pack('>I4', x) .. string.sub(s, pos * 4 + 1))
  return true
end
local function seen_remove(shard, x)
  local key = P .. ':seen:' .. shard
  local s = redis.call('GET', key)
  if not s then return false end
  local found, pos = seen_find(s, x)
  if not found then return false end
  if #s == 4 then redis.call('DEL', key)
  else redis.call('SET', key, string.sub(s, 1, pos * 4) .. string.sub(s, pos * 4 + 5)) end
  return true
end
"""

#: ARGV: P, worker, token, n, delay_ms, slots to skip... -> {epoch, pending slots,
#: ms until a slot wakes or -1, member...}.  One request per slot, best slots first.
POP = _COMMON + r"""
local W, token, n, delay = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local lease = P .. ':lease:' .. W
local tokkey = P .. ':popped:' .. W
local out = {epoch(), 0, -1}
if redis.call('GET', tokkey) == token then
  -- the answer to this very pop was lost (Redis went away): the same requests again
  local all = redis.call('HGETALL', lease)
  local tail = '\n' .. token
  for i = 1, #all, 2 do
    if string.sub(all[i + 1], -#tail) == tail then table.insert(out, all[i]) end
  end
  out[2] = pending()
  return out
end
redis.call('SET', tokkey, token)
local skip, nskip = {}, 0
for i = 6, #ARGV do skip[ARGV[i]] = true; nskip = nskip + 1 end
local now = now_ms()
for _, slot in ipairs(redis.call('ZRANGE', P .. ':wait', '-inf', now, 'BYSCORE', 'LIMIT', 0, 1000)) do
  redis.call('ZREM', P .. ':wait', slot)
  local head = redis.call('ZRANGE', P .. ':q:' .. slot, 0, 0, 'WITHSCORES')
  if head[1] then redis.call('ZADD', P .. ':ready', head[2], slot) end
end
local taken = 0
for _, slot in ipairs(redis.call('ZRANGE', P .. ':ready', 0, n + nskip - 1)) do
  if taken >= n then break end
  if not skip[slot] then
    local q = P .. ':q:' .. slot
    local item = redis.call('ZPOPMIN', q)
    if item[1] then
      redis.call('HSET', lease, item[1], slot .. '\n' .. item[2] .. '\n' .. token)
      table.insert(out, item[1])
      taken = taken + 1
    end
    local head = redis.call('ZRANGE', q, 0, 0, 'WITHSCORES')
    if not head[1] then
      redis.call('ZREM', P .. ':ready', slot)
    elseif delay > 0 then
      -- the slot rests until its delay is over, for every worker
      redis.call('ZREM', P .. ':ready', slot)
      redis.call('ZADD', P .. ':wait', num(now + delay), slot)
    else
      redis.call('ZADD', P .. ':ready', head[2], slot)
    end
  end
end
if taken > 0 then redis.call('INCR', P .. ':activity') end
local nready = redis.call('ZCARD', P .. ':ready')
local nwait = redis.call('ZCARD', P .. ':wait')
out[2] = nready + nwait
if nready == 0 and nwait > 0 then
  local first = redis.call('ZRANGE', P .. ':wait', 0, 0, 'WITHSCORES')
  out[3] = math.max(0, tonumber(first[2]) - now)
end
return out
"""

#: ARGV: P, worker, token, #pushes, #acks, #marks, #hosts, #seeds, #counts, then
#: pushes (slot, priority, member, mark), acks (member), marks, hosts, seeds,
#: counts (host key, increment) -> {epoch, pending slots, page total per count...}
FLUSH = _COMMON + r"""
local W, token = ARGV[2], ARGV[3]
local np, na, nm, nh, ns, nc = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]),
  tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local done = P .. ':flushed:' .. W
if redis.call('GET', done) == token then
  return {epoch(), pending()}  -- a retry of a flush that was applied: apply nothing twice
end
local marks = P .. ':marks:' .. W
local i = 10
for _ = 1, np do
  local seq = redis.call('INCR', P .. ':seq') % 4294967296
  enqueue(ARGV[i], num(-tonumber(ARGV[i + 1]) * 4294967296 + seq), ARGV[i + 2])
  if ARGV[i + 3] ~= '' then redis.call('SREM', marks, ARGV[i + 3]) end
  i = i + 4
end
local lease = P .. ':lease:' .. W
for _ = 1, na do redis.call('HDEL', lease, ARGV[i]); i = i + 1 end
for _ = 1, nm do redis.call('SREM', marks, ARGV[i]); i = i + 1 end
for _ = 1, nh do redis.call('SREM', P .. ':hostmarks:' .. W, ARGV[i]); i = i + 1 end
for _ = 1, ns do redis.call('SREM', P .. ':seedlease:' .. W, ARGV[i]); i = i + 1 end
local out = {epoch(), 0}
for _ = 1, nc do
  table.insert(out, redis.call('HINCRBY', P .. ':pages', ARGV[i], ARGV[i + 1]))
  i = i + 2
end
redis.call('SET', done, token)
redis.call('INCR', P .. ':activity')
out[2] = pending()
return out
"""

#: ARGV: P, dead worker, force ('1': do not check its heartbeat) -> {requeued, un-seen} or -1 if alive
RECOVER = _COMMON + r"""
local dead, force = ARGV[2], ARGV[3]
if force ~= '1' and redis.call('EXISTS', P .. ':alive:' .. dead) == 1 then return -1 end
local lease = P .. ':lease:' .. dead
local all = redis.call('HGETALL', lease)
for i = 1, #all, 2 do
  local v = all[i + 1]
  local a = string.find(v, '\n', 1, true)
  local b = string.find(v, '\n', a + 1, true)
  enqueue(string.sub(v, 1, a - 1), string.sub(v, a + 1, b - 1), all[i])
end
local seedlease = P .. ':seedlease:' .. dead
for _, url in ipairs(redis.call('SMEMBERS', seedlease)) do redis.call('LPUSH', P .. ':seeds', url) end
-- URLs it admitted but never queued: seen by nobody now; its requests that found
-- them go back to the queue above and find them again
local unseen = 0
for _, m in ipairs(redis.call('SMEMBERS', P .. ':marks:' .. dead)) do
  local c = string.find(m, ':', 1, true)
  if seen_remove(string.sub(m, 1, c - 1), tonumber(string.sub(m, c + 1))) then unseen = unseen + 1 end
end
if unseen > 0 then redis.call('DECRBY', P .. ':seen:n', unseen) end
for _, h in ipairs(redis.call('SMEMBERS', P .. ':hostmarks:' .. dead)) do redis.call('HDEL', P .. ':hosts', h) end
redis.call('DEL', lease, seedlease, P .. ':marks:' .. dead, P .. ':hostmarks:' .. dead,
  P .. ':popped:' .. dead, P .. ':flushed:' .. dead, P .. ':seedtok:' .. dead, P .. ':alive:' .. dead)
redis.call('HDEL', P .. ':workers', dead)
redis.call('INCR', P .. ':epoch')
return {#all / 2, unseen}
"""

#: ARGV: P, worker, #admitted, #marked, then (shard, x) pairs -> {epoch, 1/0 (new) per URL}.
#: Admitted URLs are marked as the worker's until their requests are queued; marked ones are not.
SEEN_ADD = _COMMON + r"""
local W, na, nm = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local marks = P .. ':marks:' .. W
local out = {epoch()}
local added = 0
local i = 5
for j = 1, na + nm do
  local shard, x = ARGV[i], ARGV[i + 1]
  i = i + 2
  local new = seen_insert(shard, tonumber(x))
  if new then added = added + 1 end
  if j > na then
    table.insert(out, new and 1 or 0)
  else
    local m = shard .. ':' .. x
    if new then
      redis.call('SADD', marks, m)
      table.insert(out, 1)
    elseif redis.call('SISMEMBER', marks, m) == 1 then
      table.insert(out, 1)  -- admitted by this very call, whose answer was lost
    else
      table.insert(out, 0)
    end
  end
end
if added > 0 then redis.call('INCRBY', P .. ':seen:n', added) end
return out
"""

#: ARGV: P, shard, x -> 1 if seen
SEEN_HAS = _COMMON + r"""
local s = redis.call('GET', P .. ':seen:' .. ARGV[2])
if s and seen_find(s, tonumber(ARGV[3])) then return 1 end
return 0
"""

#: ARGV: P, worker, host key, now, older_than or '' -> {claimed, claim time, pages}
CLAIM_HOST = _COMMON + r"""
local W, key, now, older = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local pages = tonumber(redis.call('HGET', P .. ':pages', key) or '0')
local v = redis.call('HGET', P .. ':hosts', key)
if v then
  local sep = string.find(v, '|', 1, true)
  local t, who = string.sub(v, 1, sep - 1), string.sub(v, sep + 1)
  if who == W and t == now then return {1, t, pages} end  -- ours: a retried call
  if older == '' or tonumber(t) > tonumber(older) then return {0, t, pages} end
end
redis.call('HSET', P .. ':hosts', key, now .. '|' .. W)
redis.call('SADD', P .. ':hostmarks:' .. W, key)
return {1, now, pages}
"""

#: ARGV: P, worker, token, n -> seeds taken (moved to the worker's seed lease)
TAKE_SEEDS = _COMMON + r"""
local W, token, n = ARGV[2], ARGV[3], tonumber(ARGV[4])
local lease = P .. ':seedlease:' .. W
local tokkey = P .. ':seedtok:' .. W
if redis.call('GET', tokkey) == token then return redis.call('SMEMBERS', lease) end
redis.call('SET', tokkey, token)
local urls = redis.call('LPOP', P .. ':seeds', n)
if not urls then return {} end
for _, url in ipairs(urls) do redis.call('SADD', lease, url) end
redis.call('INCR', P .. ':activity')
return urls
"""

#: ARGV: P -> {ready slots, waiting slots, seeds, leased requests and seeds, activity, epoch, workers}
STATUS = _COMMON + r"""
local leased = 0
local workers = redis.call('HKEYS', P .. ':workers')
for _, w in ipairs(workers) do
  leased = leased + redis.call('HLEN', P .. ':lease:' .. w) + redis.call('SCARD', P .. ':seedlease:' .. w)
end
return {redis.call('ZCARD', P .. ':ready'), redis.call('ZCARD', P .. ':wait'), redis.call('LLEN', P .. ':seeds'),
  leased, tonumber(redis.call('GET', P .. ':activity') or '0'), epoch(), #workers}
"""

#: ARGV: P, slot, delay_ms -> {ms to wait, 1 if the request may start now (and has started)}.
#: Reserves the slot's next start time (``next``); a request that need not wait
#: starts at once unless the last start (``last``) was less than a delay ago.
RESERVE = _COMMON + r"""
local key, delay = P .. ':polite:' .. ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local at = math.max(now, tonumber(redis.call('GET', key) or '0'))
redis.call('SET', key, num(at + delay), 'PX', num(at + delay - now + 60000))
if at > now then return {at - now, 0} end
local last = tonumber(redis.call('GET', key .. ':last') or '0')
if now < last + delay then return {last + delay - now, 0} end
redis.call('SET', key .. ':last', num(now), 'PX', num(delay + 60000))
return {0, 1}
"""

#: ARGV: P, slot, delay_ms -> ms still to wait (0: the request starts now)
START = _COMMON + r"""
local key, delay = P .. ':polite:' .. ARGV[2] .. ':last', tonumber(ARGV[3])
local now = now_ms()
local last = tonumber(redis.call('GET', key) or '0')
if now < last + delay then return last + delay - now end
redis.call('SET', key, num(now), 'PX', num(delay + 60000))
return 0
"""
