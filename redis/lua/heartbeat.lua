-- heartbeat.lua: ARGV[A] uuid, ARGV[A+1] deadline (µs), then for each
-- channel of this partition: channel, "1" if the heartbeat sets a state
-- there, the canonical state ("" = none).
local u, deadline = ARGV[A], tonumber(ARGV[A + 1])
for i = A + 2, #ARGV, 3 do
  local c, has, st = ARGV[i], ARGV[i + 1] == '1', ARGV[i + 2]
  local mk = c .. '\n' .. u
  local dl = tonumber(redis.call('ZSCORE', K_DL, mk))
  local fresh = true
  if dl then
    if alive(dl) then
      fresh = false
      redis.call('ZADD', K_DL, deadline, mk)
      if has and (redis.call('HGET', kS(c), u) or '') ~= st then
        if st == '' then redis.call('HDEL', kS(c), u) else redis.call('HSET', kS(c), u, st) end
        emit('s', c, u, redis.call('ZCARD', kM(c)), st == '' and '{}' or st)
      end
    else
      remove(c, u, 't') -- due but not yet swept: it timed out first
    end
  end
  if fresh then
    local state = st
    local p = redis.call('HGET', K_PEND, mk)
    if p then
      if not has and tonumber(redis.call('ZSCORE', K_PDL, mk) or '0') > now then state = p end
      dropPending(mk)
    end
    join(c, u, deadline, state)
  end
end
finish()
return 0
