-- sweep.lua: ARGV[A] batch size. Removes up to a batch of due memberships
-- (timeout events; none while the outage grace holds), then, when no more
-- are due, emits the due interval events and drops expired pending state.
-- Returns {removed, more}: more is 1 when the caller should run it again.
local batch = tonumber(ARGV[A])
local n = 0
if now >= hold then
  local due = dueList(K_DL, K_DLR, batch)
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
for _, c in ipairs(dueList(K_IVZ, K_IVR, 1000000000)) do
  emitInterval(c)
  -- the channel's next tick after now (its nanoseconds stay in K_IVR)
  local nx = tonumber(redis.call('ZSCORE', K_IVZ, c)) + ivl
  if past(nx, K_IVR, c) then
    nx = nx + math.floor((now - nx) / ivl) * ivl
    if past(nx, K_IVR, c) then nx = nx + ivl end
  end
  redis.call('ZADD', K_IVZ, nx, c)
end
local pd = dueList(K_PDL, K_PDLR, batch)
for _, mk in ipairs(pd) do dropPending(mk) end
finish()
if #pd >= batch then return { n, 1 } end
return { n, 0 }
