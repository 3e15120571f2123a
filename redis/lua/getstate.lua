-- getstate.lua: ARGV[A] uuid, then the channels of this partition. Returns
-- channel, state pairs where the uuid has a state (present or pending).
local u = ARGV[A]
local out = {}
for i = A + 1, #ARGV do
  local c = ARGV[i]
  local mk = c .. '\n' .. u
  local st
  if redis.call('ZSCORE', K_DL, mk) then
    st = redis.call('HGET', kS(c), u)
  else
    local p = redis.call('HGET', K_PEND, mk)
    if p and tonumber(redis.call('ZSCORE', K_PDL, mk) or '0') > now then st = p end
  end
  if st and st ~= '' then
    out[#out + 1] = c
    out[#out + 1] = st
  end
end
return out
