-- getstate.lua: ARGV[A] uuid, then the channels of this partition. Returns
-- channel, state pairs where the uuid has a state: present (now < deadline;
-- a due member not yet swept has none) or pending (until its expiry).
local u = ARGV[A]
local out = {}
for i = A + 1, #ARGV do
  local c = ARGV[i]
  local mk = c .. '\n' .. u
  local st
  local dl = tonumber(redis.call('ZSCORE', K_DL, mk))
  if dl then
    if alive(dl, mk) then st = redis.call('HGET', kS(c), u) end
  else
    local p = redis.call('HGET', K_PEND, mk)
    if p and pendingLive(mk) then st = p end
  end
  if st and st ~= '' then
    out[#out + 1] = c
    out[#out + 1] = st
  end
end
return out
