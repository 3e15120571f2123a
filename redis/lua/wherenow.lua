-- wherenow.lua: ARGV[A] uuid. Returns the channels of this partition where
-- the uuid is present (now < deadline; a due member not yet swept is not).
local u = ARGV[A]
local out = {}
for _, c in ipairs(redis.call('SMEMBERS', kU(u))) do
  local mk = c .. '\n' .. u
  if alive(tonumber(redis.call('ZSCORE', K_DL, mk)) or 0, mk) then out[#out + 1] = c end
end
return out
