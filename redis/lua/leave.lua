-- leave.lua: ARGV[A] uuid, then the channels of this partition.
local u = ARGV[A]
for i = A + 1, #ARGV do
  local c = ARGV[i]
  local mk = c .. '\n' .. u
  local dl = tonumber(redis.call('ZSCORE', K_DL, mk))
  if dl then remove(c, u, alive(dl, mk) and 'l' or 't') end
  dropPending(mk)
end
finish()
return 0
