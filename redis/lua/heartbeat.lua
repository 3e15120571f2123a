-- heartbeat.lua: the general path of heartbeatfast.lua, run from the
-- first heartbeat, at ARGV[i], that is more than a refresh; it follows
-- base.lua and common.lua in the body of a function slow(i) (keys.go).
-- Each heartbeat is ARGV: uuid, deadline (µs, rounded down), its
-- nanoseconds within the µs, the number n of its channels in this
-- partition, then n times: channel, "1" if the heartbeat sets a state
-- there, the canonical state ("" = none). Heartbeats are applied in order,
-- all in this one atomic step.
local function beat(u, deadline, dr, c, has, st)
  local mk = c .. '\n' .. u
  local dl = tonumber(redis.call('ZSCORE', K_DL, mk))
  if dl then
    if alive(dl, mk) then
      setAt(K_DL, K_DLR, mk, deadline, dr)
      if has and (redis.call('HGET', kS(c), u) or '') ~= st then
        if st == '' then redis.call('HDEL', kS(c), u) else redis.call('HSET', kS(c), u, st) end
        emit('s', c, u, redis.call('ZCARD', kM(c)), st == '' and '{}' or st)
      end
      return
    end
    remove(c, u, 't') -- due but not yet swept: it timed out first
  end
  local state = st
  local p = redis.call('HGET', K_PEND, mk)
  if p then
    if not has and pendingLive(mk) then state = p end
    dropPending(mk)
  end
  join(c, u, deadline, dr, state)
end

while i <= #ARGV do
  local u, deadline, dr, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  i = i + 4
  for _ = 1, n do
    beat(u, deadline, dr, ARGV[i], ARGV[i + 1] == '1', ARGV[i + 2])
    i = i + 3
  end
end
finish()
return 0
