-- base.lua is the prelude of every script: the partition's key names and
-- the arguments every script takes, and the helpers that read and write
-- deadlines. The scripts that change memberships and append events add
-- common.lua after it (the heartbeat only when a heartbeat is more than a
-- refresh: see keys.go); here_now needs only this, which Redis runs in a
-- few microseconds.
--
-- KEYS[1] is the partition's base key, "<prefix>{<n>}"; every key below
-- starts with it, so one script touches one Redis Cluster slot.
-- Times are integers in microseconds (exact in Lua's doubles and in sorted
-- set scores), rounded down; a deadline's or a pending state's expiry keeps
-- its nanoseconds within the microsecond in a hash beside its sorted set
-- (absent: 0), so comparisons with now are exact to the nanosecond (an
-- interval tick keeps its channel's first one's nanoseconds). The
-- events' time travels as the caller's nanoseconds string.
local base = KEYS[1]
local K_META, K_DL, K_DLR = base .. ':meta', base .. ':dl', base .. ':dlr'
local function kM(c) return base .. ':m:' .. c end
local function kS(c) return base .. ':s:' .. c end

local now = tonumber(ARGV[1])      -- the clock, µs, rounded down
local nowns = ARGV[2]              -- the clock, ns, decimal: the events' time
local nowhi = tonumber(ARGV[3])    -- the clock in 100 ns units: whole seconds
local nowlo = tonumber(ARGV[4])    -- and the 100 ns units within the second
local am = tonumber(ARGV[5])       -- AnnounceMax (negative: no interval mode)
local ivl = tonumber(ARGV[6])      -- Interval, µs
local withDeltas = ARGV[7] == '1'
local maxlen = ARGV[8]             -- approximate stream length kept
local nowr = tonumber(ARGV[9])     -- the clock's nanoseconds within its µs
local A = 10                       -- the script's own arguments start here

-- past reports whether the instant at (µs score s, nanoseconds in hash rk
-- under mk) is not after now.
local function past(s, rk, mk)
  if s ~= now then return s < now end
  return (tonumber(redis.call('HGET', rk, mk)) or 0) <= nowr
end

-- setAt stores mk's instant: µs score s in zk, nanoseconds r in rk.
local function setAt(zk, rk, mk, s, r)
  redis.call('ZADD', zk, s, mk)
  if r > 0 then redis.call('HSET', rk, mk, r) else redis.call('HDEL', rk, mk) end
end

-- dueList returns up to limit members of zk whose instant is not after
-- now, the earliest first.
local function dueList(zk, rk, limit)
  local out = redis.call('ZRANGEBYSCORE', zk, '-inf', '(' .. ARGV[1], 'LIMIT', 0, limit)
  local off = 0
  while #out < limit do -- the members due within now's µs
    local b = redis.call('ZRANGEBYSCORE', zk, ARGV[1], ARGV[1], 'LIMIT', off, limit)
    for _, mk in ipairs(b) do
      if #out < limit and past(now, rk, mk) then out[#out + 1] = mk end
    end
    if #b < limit then break end
    off = off + #b
  end
  return out
end

-- hold: until then no membership counts as expired (the outage grace).
local hold = tonumber(redis.call('HGET', K_META, 'hold') or '0') or 0
-- alive reports whether the membership mk with deadline dl (µs) is present:
-- now < deadline, or within the outage grace.
local function alive(dl, mk) return now < hold or not past(dl, K_DLR, mk) end
