"""The Lua scripts of the shared frontier: each is one atomic step, one round trip.

Redis's CPU is the fleet's shared budget, so the scripts batch: a flush writes each
slot's new requests with one ZADD and its acks with one HDEL, a pop leases its
requests with one HSET and takes the worker's flush along, the seen set reads and
writes a call's shards with one MGET and one MSET.  Per page fetched that is about a
third of the commands of one call per request, but only 5-9% less of Redis's CPU:
the script runs and the per-call work (event loop, append-only file) cost more than
the commands (``python -m bench.distributed`` measures both; bench/README.md).  So
a page's new links are not asked about in a call of their own: the flush that
writes their requests admits them (``_FLUSH``).

Every script takes the key prefix as ``ARGV[1]`` and builds its keys from it (one
Redis server, not a Cluster).  The layout, for prefix ``P``:

=====================  ======  ==================================================
``P:q:<slot>``         zset    requests of one download slot (JSON), by score
``P:ready``            zset    slots that may be fetched now, by their head's score
``P:wait``             zset    slots resting after a fetch, by the time they wake
``P:seq``              string  push counter: first in, first out within a priority
``P:lease:<w>``        hash    worker *w*'s requests: ``<pop token>/<n>`` -> slot, score, member
``P:seeds``            list    seed URLs pushed by ``scrapy pushseeds``
``P:seedlease:<w>``    set     seeds worker *w* took and has not queued yet
``P:seen:<n>``         string  URL-seen shard *n*: sorted big-endian uint32s
``P:seen:bits``        string  log2 of the number of shards (set by the first worker)
``P:seen:n``           string  URLs in the seen set
``P:marks:<w>``        set     URLs *w* admitted and has not queued yet (``shard:x``)
``P:hosts``            hash    host key -> time of its bootstrap claim | claimant
``P:hostmarks:<w>``    set     hosts *w* claimed and whose bootstrap it has not queued
``P:pages``            hash    host key -> pages admitted (the page budget)
``P:pace:<slot>``      string  ``<next> <last>``: the time (ms) reserved for the slot's
                              next request, and the time its last request started
``P:workers``          hash    worker id -> JSON (machine, pid, start time)
``P:alive:<w>``        string  heartbeat, expires after DARKCRAWL_REDIS_WORKER_TTL
``P:flushed:<w>``      string  token of *w*'s last flush (a retried flush applies nothing twice)
``P:popped:<w>``       string  token of *w*'s last pop that took requests (a retry gets them again)
``P:seedtok:<w>``      string  token of *w*'s last seed take
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
-- one command for many arguments (Lua's unpack takes a few thousand at most)
local function calln(cmd, key, args, extra)
  for i = 1, #args, 2000 do
    if extra then
      redis.call(cmd, key, extra, unpack(args, i, math.min(i + 1999, #args)))
    else
      redis.call(cmd, key, unpack(args, i, math.min(i + 1999, #args)))
    end
  end
end
-- requests into their slots' queues: {slot -> {min score, score, member, score, member...}}
local function enqueue_many(slots, order)
  local ready = {}
  for k = 1, #order, 2000 do
    local part = redis.call('ZMSCORE', P .. ':wait', unpack(order, k, math.min(k + 1999, #order)))
    for m = 1, #part do
      local slot = order[k + m - 1]
      calln('ZADD', P .. ':q:' .. slot, slots[slot].items)
      -- a resting slot stays resting: it is made ready with its head when it wakes
      if not part[m] then
        table.insert(ready, slots[slot].min)
        table.insert(ready, slot)
      end
    end
  end
  if #ready > 0 then calln('ZADD', P .. ':ready', ready, 'LT') end
end
local function slot_item(slots, order, slot, score, member)
  local s = slots[slot]
  if not s then
    s = {min = score, items = {}}
    slots[slot] = s
    table.insert(order, slot)
  elseif tonumber(score) < tonumber(s.min) then
    s.min = score
  end
  table.insert(s.items, score)
  table.insert(s.items, member)
end
-- a lease's request: "slot\nscore\n\nmember" (before: the field was the member, the value
-- "slot\nscore\ntoken")
local function lease_member(field, v)
  local a = string.find(v, '\n', 1, true)
  local b = string.find(v, '\n', a + 1, true)
  if string.sub(v, b + 1, b + 1) == '\n' then return string.sub(v, b + 2) end
  return field
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
-- the seen shards of one call: read with one MGET, each changed one written once
local function seen_load(fps)
  local keys, shards, index = {}, {}, {}
  for _, fp in ipairs(fps) do
    local shard = string.sub(fp, 1, string.find(fp, ':', 1, true) - 1)
    if not index[shard] then
      table.insert(keys, P .. ':seen:' .. shard)
      index[shard] = #keys
    end
  end
  for k = 1, #keys, 2000 do
    local part = redis.call('MGET', unpack(keys, k, math.min(k + 1999, #keys)))
    for m = 1, #part do shards[k + m - 1] = part[m] or '' end
  end
  return {keys = keys, shards = shards, index = index, changed = {}, added = 0}
end
-- true if *fp* ("shard:x") was not seen (it is now)
local function seen_admit(c, fp)
  local sep = string.find(fp, ':', 1, true)
  local k, x = c.index[string.sub(fp, 1, sep - 1)], tonumber(string.sub(fp, sep + 1))
  local s = c.shards[k]
  local found, pos = seen_find(s, x)
  if found then return false end
  c.shards[k] = string.sub(s, 1, pos * 4) .. struct.pack('>I4', x) .. string.sub(s, pos * 4 + 1)
  c.changed[k] = true
  c.added = c.added + 1
  return true
end
local function seen_write(c)
  if c.added == 0 then return end
  local writes = {}
  for k in pairs(c.changed) do
    table.insert(writes, c.keys[k])
    table.insert(writes, c.shards[k])
  end
  for k = 1, #writes, 2000 do redis.call('MSET', unpack(writes, k, math.min(k + 1999, #writes))) end
  redis.call('INCRBY', P .. ':seen:n', c.added)
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

#: the politeness of a slot: "<next> <last>" in ms, on Redis's clock: the time reserved for
#: its next request, and the (latest) time its last request started
_PACE = r"""
local function parse_pace(v)
  if not v then return 0, 0 end
  local sep = string.find(v, ' ', 1, true)
  return tonumber(string.sub(v, 1, sep - 1)), tonumber(string.sub(v, sep + 1))
end
local function pace(key) return parse_pace(redis.call('GET', key)) end
"""

#: A worker's buffered writes, applied in order: the requests it pushes (then their
#: marks are dropped: queued), then what they complete (acks, marks, host claims,
#: seeds), then the page counts, then the URLs to record as seen.  ARGV from *i*:
#: token, #pushes, #acks, #marks, #hosts, #seeds, #counts, #seen, then pushes (slot,
#: priority, member, mark), acks (lease id), marks, hosts, seeds, counts (host key,
#: increment), seen (``shard:x``).  A push whose mark is ``+shard:x`` (optionally
#: followed by ``\n`` and its host key) is *admitted here*: queued and recorded as
#: seen only if its URL is not seen yet, else dropped (and its host's page count
#: taken back), so a page's new links cost no round trip of their own and a URL is
#: seen exactly when its request is queued (no mark needed).  Returns the index after
#: them, the page total of each count (none if nothing was applied) and the number of
#: pushes dropped as seen.
_FLUSH = r"""
local function flush(W, i)
  local token = ARGV[i]
  local np, na, nm, nh, ns, nc, nv = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]),
    tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6]), tonumber(ARGV[i + 7])
  i = i + 8
  local after = i + 4 * np + na + nm + nh + ns + 2 * nc + nv
  local done = P .. ':flushed:' .. W
  if after == i or redis.call('GET', done) == token then
    return after, {}, 0  -- nothing, or a retry of a flush that was applied: apply nothing twice
  end
  -- the seen shards this flush may change: those of the admitted pushes and of the seen URLs
  local fps = {}
  for j = 0, np - 1 do
    local m = ARGV[i + 4 * j + 3]
    if string.byte(m, 1) == 43 then  -- '+'
      local nl = string.find(m, '\n', 2, true)
      table.insert(fps, string.sub(m, 2, (nl or 0) - 1))
    end
  end
  for j = after - nv, after - 1 do table.insert(fps, ARGV[j]) end
  local cache = #fps > 0 and seen_load(fps)
  local marks, dropped, untake = {}, 0, {}
  if np > 0 then
    local seq = redis.call('INCRBY', P .. ':seq', np) - np
    local slots, order = {}, {}
    for j = 1, np do
      local m = ARGV[i + 3]
      local queue = true
      if string.byte(m, 1) == 43 then
        local nl = string.find(m, '\n', 2, true)
        queue = seen_admit(cache, string.sub(m, 2, (nl or 0) - 1))
        if not queue then
          dropped = dropped + 1
          if nl then
            local host = string.sub(m, nl + 1)
            untake[host] = (untake[host] or 0) + 1
          end
        end
      elseif m ~= '' then
        table.insert(marks, m)
      end
      if queue then
        local score = num(-tonumber(ARGV[i + 1]) * 4294967296 + (seq + j) % 4294967296)
        slot_item(slots, order, ARGV[i], score, ARGV[i + 2])
      end
      i = i + 4
    end
    if #order > 0 then enqueue_many(slots, order) end
  end
  local acks = {}
  for _ = 1, na do table.insert(acks, ARGV[i]); i = i + 1 end
  if na > 0 then calln('HDEL', P .. ':lease:' .. W, acks) end
  for _ = 1, nm do table.insert(marks, ARGV[i]); i = i + 1 end
  if #marks > 0 then calln('SREM', P .. ':marks:' .. W, marks) end
  local hosts = {}
  for _ = 1, nh do table.insert(hosts, ARGV[i]); i = i + 1 end
  if nh > 0 then calln('SREM', P .. ':hostmarks:' .. W, hosts) end
  local seeds = {}
  for _ = 1, ns do table.insert(seeds, ARGV[i]); i = i + 1 end
  if ns > 0 then calln('SREM', P .. ':seedlease:' .. W, seeds) end
  local totals = {}
  for _ = 1, nc do
    local host, n = ARGV[i], tonumber(ARGV[i + 1]) - (untake[ARGV[i]] or 0)
    untake[host] = nil
    table.insert(totals, redis.call('HINCRBY', P .. ':pages', host, n))
    i = i + 2
  end
  for host, n in pairs(untake) do redis.call('HINCRBY', P .. ':pages', host, -n) end
  for _ = 1, nv do seen_admit(cache, ARGV[i]); i = i + 1 end
  if cache then seen_write(cache) end
  redis.call('SET', done, token)
  redis.call('INCR', P .. ':activity')
  return after, totals, dropped
end
"""

#: ARGV: P, worker, then a flush (see ``_FLUSH``) -> {epoch, pending slots, pushes dropped as seen,
#: page total per count...}
FLUSH = _COMMON + _FLUSH + r"""
local _, totals, dropped = flush(ARGV[2], 3)
local out = {epoch(), pending(), dropped}
for _, total in ipairs(totals) do table.insert(out, total) end
return out
"""

#: ARGV: P, worker, a flush (see ``_FLUSH``), then token, n, delay_ms, grace_ms, slots to
#: skip... -> {epoch, pending slots, ms until a slot wakes or -1, seeds waiting, pushes dropped
#: as seen, #counts, page total per count..., #requests, (lease id, request)..., ms to wait per request...}.  The worker's writes
#: first, then one request per slot, best slots first: one round trip for both.
#: With a delay, each request comes with its slot's next start time reserved
#: (``P:pace:<slot>``): it may start from then on, within *grace* ms, and the slot
#: rests until a delay after that.
POP = _COMMON + _PACE + _FLUSH + r"""
local W = ARGV[2]
local i, totals, dropped = flush(W, 3)
local token, n, delay, grace = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
local lease = P .. ':lease:' .. W
local tokkey = P .. ':popped:' .. W
local out = {epoch(), 0, -1, redis.call('LLEN', P .. ':seeds'), dropped, #totals}
for _, total in ipairs(totals) do table.insert(out, total) end
if redis.call('GET', tokkey) == token then
  -- the answer to this very pop was lost (Redis went away): the same requests again
  -- (without their reservations: they reserve again when they start)
  local all = redis.call('HGETALL', lease)
  local mine = token .. '/'
  local again = {}
  for j = 1, #all, 2 do
    if string.sub(all[j], 1, #mine) == mine then
      table.insert(again, all[j])
      table.insert(again, lease_member(all[j], all[j + 1]))
    end
  end
  table.insert(out, #again / 2)
  for _, v in ipairs(again) do table.insert(out, v) end
  out[2] = pending()
  return out
end
local skip, nskip = {}, 0
for j = i + 4, #ARGV do skip[ARGV[j]] = true; nskip = nskip + 1 end
local now = now_ms()
local ready, unready, resting = {}, {}, {}
local woke = redis.call('ZRANGE', P .. ':wait', '-inf', now, 'BYSCORE', 'LIMIT', 0, 1000)
if #woke > 0 then
  calln('ZREM', P .. ':wait', woke)
  for _, slot in ipairs(woke) do
    local head = redis.call('ZRANGE', P .. ':q:' .. slot, 0, 0, 'WITHSCORES')
    if head[1] then table.insert(ready, head[2]); table.insert(ready, slot) end
  end
  if #ready > 0 then calln('ZADD', P .. ':ready', ready) end
  ready = {}
end
local slots = {}
for _, slot in ipairs(redis.call('ZRANGE', P .. ':ready', 0, n + nskip - 1)) do
  if #slots >= n then break end
  if not skip[slot] then table.insert(slots, slot) end
end
local paces = {}
if delay > 0 and #slots > 0 then
  local keys = {}
  for k, slot in ipairs(slots) do keys[k] = P .. ':pace:' .. slot end
  paces = redis.call('MGET', unpack(keys))
end
local leased, members, waits = {}, {}, {}
for k, slot in ipairs(slots) do
  local q = P .. ':q:' .. slot
  local item = redis.call('ZPOPMIN', q)
  local rest = now + delay
  if item[1] then
    local id = token .. '/' .. k
    table.insert(leased, id)
    table.insert(leased, slot .. '\n' .. item[2] .. '\n\n' .. item[1])
    table.insert(members, id)
    table.insert(members, item[1])
    if delay > 0 then
      local nxt, last = parse_pace(paces[k])
      local at = math.max(now, nxt, last + delay)
      rest = at + delay + grace
      redis.call('SET', P .. ':pace:' .. slot, num(rest) .. ' ' .. num(at + grace), 'PX', num(rest - now + 60000))
      table.insert(waits, at - now)
    end
  end
  local head = redis.call('ZRANGE', q, 0, 0, 'WITHSCORES')
  if not head[1] then
    table.insert(unready, slot)
  elseif delay > 0 then
    -- the slot rests until its delay is over, for every worker
    table.insert(unready, slot)
    table.insert(resting, num(rest))
    table.insert(resting, slot)
  else
    table.insert(ready, head[2])
    table.insert(ready, slot)
  end
end
if #members > 0 then
  redis.call('SET', tokkey, token)
  calln('HSET', lease, leased)
  redis.call('INCR', P .. ':activity')
end
if #unready > 0 then calln('ZREM', P .. ':ready', unready) end
if #resting > 0 then calln('ZADD', P .. ':wait', resting) end
if #ready > 0 then calln('ZADD', P .. ':ready', ready) end
local nready = redis.call('ZCARD', P .. ':ready')
local nwait = redis.call('ZCARD', P .. ':wait')
out[2] = nready + nwait
if nready == 0 and nwait > 0 then
  local first = redis.call('ZRANGE', P .. ':wait', 0, 0, 'WITHSCORES')
  out[3] = math.max(0, tonumber(first[2]) - now)
end
table.insert(out, #members / 2)
for _, v in ipairs(members) do table.insert(out, v) end
for _, wait in ipairs(waits) do table.insert(out, wait) end
return out
"""

#: ARGV: P, dead worker, force ('1': do not check its heartbeat) -> {requeued, un-seen} or -1 if alive
RECOVER = _COMMON + r"""
local dead, force = ARGV[2], ARGV[3]
if force ~= '1' and redis.call('EXISTS', P .. ':alive:' .. dead) == 1 then return -1 end
local lease = P .. ':lease:' .. dead
local all = redis.call('HGETALL', lease)
local slots, order = {}, {}
for i = 1, #all, 2 do
  local v = all[i + 1]
  local a = string.find(v, '\n', 1, true)
  local b = string.find(v, '\n', a + 1, true)
  slot_item(slots, order, string.sub(v, 1, a - 1), string.sub(v, a + 1, b - 1), lease_member(all[i], v))
end
enqueue_many(slots, order)
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
#: The shards are read in one MGET and the changed ones written in one MSET.
SEEN_ADD = _COMMON + r"""
local W, na, nm = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local fps = {}
for j = 1, na + nm do fps[j] = ARGV[3 + 2 * j] .. ':' .. ARGV[4 + 2 * j] end
local cache = seen_load(fps)
local out = {epoch()}
local mine, ask, asked = {}, {}, {}
for j = 1, na + nm do
  local new = seen_admit(cache, fps[j])
  out[j + 1] = new and 1 or 0
  if j <= na then
    if new then
      table.insert(mine, fps[j])
    else
      table.insert(ask, fps[j])  -- admitted by this very call, whose answer was lost?
      table.insert(asked, j + 1)
    end
  end
end
seen_write(cache)
local marks = P .. ':marks:' .. W
if #mine > 0 then calln('SADD', marks, mine) end
for k = 1, #ask, 2000 do
  local part = redis.call('SMISMEMBER', marks, unpack(ask, k, math.min(k + 1999, #ask)))
  for m = 1, #part do out[asked[k + m - 1]] = part[m] end
end
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
local urls = redis.call('LPOP', P .. ':seeds', n)
if not urls then return {} end  -- no seed: nothing written
redis.call('SET', tokkey, token)
calln('SADD', lease, urls)
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
#: Reserves the slot's next start time; a request that need not wait starts at once
#: unless the last start was less than a delay ago.
RESERVE = _COMMON + _PACE + r"""
local key, delay = P .. ':pace:' .. ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local nxt, last = pace(key)
local at = math.max(now, nxt)
local wait, started = at - now, 0
if wait == 0 then
  if now < last + delay then wait = last + delay - now else last = now; started = 1 end
end
redis.call('SET', key, num(at + delay) .. ' ' .. num(last), 'PX', num(at + delay - now + 60000))
return {wait, started}
"""

#: ARGV: P, slot, delay_ms -> ms still to wait (0: the request starts now)
START = _COMMON + _PACE + r"""
local key, delay = P .. ':pace:' .. ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local nxt, last = pace(key)
if now < last + delay then return last + delay - now end
redis.call('SET', key, num(nxt) .. ' ' .. num(now), 'PX', num(math.max(nxt, now + delay) - now + 60000))
return 0
"""
