-- setstate.lua: ARGV[A] operation id, ARGV[A+1] uuid, ARGV[A+2] canonical
-- state ("" clears), ARGV[A+3] pending expiry (µs, rounded down), ARGV[A+4]
-- its nanoseconds within the µs, then the channels of
-- this partition. SetState always announces, so it is the one transition
-- that is not idempotent: the operation id makes a client's retry of a call
-- that was applied (its reply lost) a no-op.
if not redis.call('SET', base .. ':op:' .. ARGV[A], '1', 'NX', 'PX', 120000) then return 0 end
local u, st, pexp, pr = ARGV[A + 1], ARGV[A + 2], tonumber(ARGV[A + 3]), tonumber(ARGV[A + 4])
for i = A + 5, #ARGV do
  local c = ARGV[i]
  local mk = c .. '\n' .. u
  local dl = tonumber(redis.call('ZSCORE', K_DL, mk))
  local present = false
  if dl then
    if alive(dl, mk) then
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
      setAt(K_PDL, K_PDLR, mk, pexp, pr)
    end
  end
end
finish()
return 0
