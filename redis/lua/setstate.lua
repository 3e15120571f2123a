-- setstate.lua: ARGV[A] uuid, ARGV[A+1] canonical state ("" clears),
-- ARGV[A+2] pending expiry (µs), then the channels of this partition.
local u, st, pexp = ARGV[A], ARGV[A + 1], tonumber(ARGV[A + 2])
for i = A + 3, #ARGV do
  local c = ARGV[i]
  local mk = c .. '\n' .. u
  local dl = tonumber(redis.call('ZSCORE', K_DL, mk))
  local present = false
  if dl then
    if alive(dl) then
      present = true
      if st == '' then redis.call('HDEL', kS(c), u) else redis.call('HSET', kS(c), u, st) end
      emit('s', c, u, redis.call('ZCARD', kM(c)), st == '' and '{}' or st)
    else
      remove(c, u, 't')
    end
  end
  if not present then
    if st == '' then
      dropPending(mk)
    else
      redis.call('HSET', K_PEND, mk, st)
      redis.call('ZADD', K_PDL, pexp, mk)
    end
  end
end
finish()
return 0
