-- common.lua follows base.lua in the scripts that change memberships: the
-- other key names, and the helpers that change a membership and append its
-- event to the partition's stream in the same atomic step.
local K_EV, K_CHANS, K_UUIDS = base .. ':ev', base .. ':chans', base .. ':uuids'
local K_PEND, K_PDL, K_IVZ = base .. ':pend', base .. ':pdl', base .. ':ivz'
local K_PDLR, K_IVR = base .. ':pdlr', base .. ':ivr'
local function kU(u) return base .. ':u:' .. u end
local function kIV(c) return base .. ':iv:' .. c end
local function kIVD(c) return base .. ':ivd:' .. c end
local function kCG(c) return base .. ':cg:' .. c end

-- pendingLive reports whether mk's pending state has not expired.
local function pendingLive(mk)
  local s = tonumber(redis.call('ZSCORE', K_PDL, mk))
  return s ~= nil and not past(s, K_PDLR, mk)
end

-- Timetoken, sequence number, epoch and the id of the last event (each
-- event names its epoch and its predecessor, so a reader notices that Redis
-- lost its data, a gap, or a history that a failover replaced): loaded on
-- the first event, written back by finish.
local th, tl, seq, epoch, prev
local function stamp()
  if not th then
    local v = redis.call('HMGET', K_META, 'th', 'tl', 'seq', 'epoch', 'last')
    th, tl, seq, epoch, prev = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0, v[4], v[5] or ''
    if not epoch then
      local t = redis.call('TIME')
      epoch = t[1] .. '.' .. t[2]
      redis.call('HSET', K_META, 'epoch', epoch)
    end
  end
  local h, l = th, tl + 1
  if l >= 10000000 then h, l = h + 1, 0 end
  if nowhi > h or (nowhi == h and nowlo > l) then h, l = nowhi, nowlo end
  th, tl, seq = h, l, seq + 1
  return string.format('%d%07d', h, l)
end
local function finish()
  if th then redis.call('HSET', K_META, 'th', th, 'tl', tl, 'seq', seq, 'last', prev) end
end

-- emit appends one event: seq, the previous event's id, the epoch, action,
-- channel, uuid, occupancy, time, timetoken, the groups containing the
-- channel now, data.
local function emit(action, c, u, occ, data)
  local tt = stamp()
  local g = redis.call('SMEMBERS', kCG(c))
  local payload = table.concat({ seq, prev, epoch, action, c, u, occ, nowns, tt, table.concat(g, ','), data }, '\n')
  prev = redis.call('XADD', K_EV, 'MAXLEN', '~', maxlen, '*', 'e', payload)
end

-- jslen is the length of s as a JSON string (encoding/json's escaping).
local function jslen(s)
  local n = 2 + #s
  n = n + select(2, string.gsub(s, '["\\]', ''))
  n = n + 5 * select(2, string.gsub(s, '[<>&]', ''))
  n = n + 3 * select(2, string.gsub(s, '\226\128[\168\169]', ''))
  return n
end

-- record notes a change for the channel's next interval event; above
-- 30,000 bytes the deltas give way to here_now_refresh.
local function record(c, a, u)
  if not withDeltas then return end
  local k = kIV(c)
  if redis.call('HGET', k, 'r') == '1' then return end
  local z = redis.call('HINCRBY', k, 'z', jslen(u) + 1)
  if z > 30000 then
    redis.call('HSET', k, 'r', '1')
    redis.call('DEL', kIVD(c))
  else
    redis.call('APPEND', kIVD(c), a .. u .. ',')
  end
end

local function emitInterval(c)
  local occ = redis.call('ZCARD', kM(c))
  local data = ''
  if withDeltas then
    if redis.call('HGET', kIV(c), 'r') == '1' then
      data = '!'
    else
      data = redis.call('GET', kIVD(c)) or ''
    end
  end
  redis.call('DEL', kIV(c), kIVD(c))
  emit('i', c, '', occ, data)
end

-- announce reports a join, leave or timeout that the channel already
-- reflects: one event, or in interval mode a delta.
local function announce(c, a, u, state)
  local occ = redis.call('ZCARD', kM(c))
  if am >= 0 then
    if redis.call('ZSCORE', K_IVZ, c) then
      record(c, a, u)
      if occ <= am then
        emitInterval(c)
        redis.call('ZREM', K_IVZ, c)
        redis.call('HDEL', K_IVR, c)
      end
      return
    end
    if occ > am then
      setAt(K_IVZ, K_IVR, c, now + ivl, nowr)
      record(c, a, u)
      return
    end
  end
  emit(a, c, u, occ, state)
end

local function remove(c, u, a)
  -- a timeout's event carries the deadline that passed: µs ':' ns within
  -- the µs (a double holds the µs exactly, not the ns)
  local data = ''
  if a == 't' then
    local us = redis.call('ZSCORE', K_DL, c .. '\n' .. u)
    if us then data = us .. ':' .. (redis.call('HGET', K_DLR, c .. '\n' .. u) or '0') end
  end
  redis.call('ZREM', K_DL, c .. '\n' .. u)
  redis.call('HDEL', K_DLR, c .. '\n' .. u)
  redis.call('ZREM', kM(c), u)
  redis.call('HDEL', kS(c), u)
  redis.call('SREM', kU(u), c)
  if redis.call('EXISTS', kU(u)) == 0 then redis.call('SREM', K_UUIDS, u) end
  local empty = redis.call('EXISTS', kM(c)) == 0
  announce(c, a, u, data)
  if empty then redis.call('SREM', K_CHANS, c) end
end

local function join(c, u, deadline, dr, state)
  setAt(K_DL, K_DLR, c .. '\n' .. u, deadline, dr)
  redis.call('ZADD', kM(c), 0, u)
  redis.call('SADD', K_CHANS, c)
  redis.call('SADD', kU(u), c)
  redis.call('SADD', K_UUIDS, u)
  if state ~= '' then redis.call('HSET', kS(c), u, state) end
  announce(c, 'j', u, state)
end

local function dropPending(mk)
  redis.call('HDEL', K_PEND, mk)
  redis.call('ZREM', K_PDL, mk)
  redis.call('HDEL', K_PDLR, mk)
end
