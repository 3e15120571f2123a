-- herenow.lua: ARGV[A] "1" for occupancy only, ARGV[A+1] "1" to include
-- state, ARGV[A+2] offset, ARGV[A+3] limit, then the channels of this
-- partition. Returns per channel {occupancy, uuids, states}: one page of
-- uuids in byte order, with their states (false: none) when asked.
local occOnly, incState = ARGV[A] == '1', ARGV[A + 1] == '1'
local off, lim = tonumber(ARGV[A + 2]), tonumber(ARGV[A + 3])
local out = {}
for i = A + 4, #ARGV do
  local c = ARGV[i]
  local occ = redis.call('ZCARD', kM(c))
  local r = { occ }
  if not occOnly and occ > off then
    local us = redis.call('ZRANGE', kM(c), off, off + lim - 1)
    r[2] = us
    if incState and #us > 0 then r[3] = redis.call('HMGET', kS(c), unpack(us)) end
  end
  out[#out + 1] = r
end
return out
