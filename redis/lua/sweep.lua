-- sweep.lua: ARGV[A] batch size. Removes up to a batch of due memberships
-- (timeout events; none while the outage grace holds), then, when no more
-- are due, emits the due interval events and drops expired pending state.
-- Returns {removed, more}: more is 1 when the caller should run it again.
local batch = tonumber(ARGV[A])
local n = 0
if now >= hold then
  local due = redis.call('ZRANGEBYSCORE', K_DL, '-inf', now, 'LIMIT', 0, batch)
  for _, mk in ipairs(due) do
    local p = string.find(mk, '\n', 1, true)
    remove(string.sub(mk, 1, p - 1), string.sub(mk, p + 1), 't')
  end
  n = #due
  if n >= batch then
    finish()
    return { n, 1 }
  end
end
local ticks = redis.call('ZRANGEBYSCORE', K_IVZ, '-inf', now, 'WITHSCORES')
for j = 1, #ticks, 2 do
  local c, nx = ticks[j], tonumber(ticks[j + 1])
  emitInterval(c)
  nx = nx + ivl
  if nx <= now then nx = nx + (math.floor((now - nx) / ivl) + 1) * ivl end
  redis.call('ZADD', K_IVZ, nx, c)
end
local pd = redis.call('ZRANGEBYSCORE', K_PDL, '-inf', now, 'LIMIT', 0, batch)
for _, mk in ipairs(pd) do dropPending(mk) end
finish()
if #pd >= batch then return { n, 1 } end
return { n, 0 }
