-- groupremove.lua (in a partition of the channels): ARGV[A] group,
-- ARGV[A+1] "1" to remove all of the group's channels in this partition,
-- then the channels to remove. Removes them from the group's channels in
-- this partition and the group from each one's index entry, in this one
-- atomic step. Returns the channels removed. A group with no channel left
-- in any partition no longer exists.
local g = ARGV[A]
local k = base .. ':g:' .. g
local out = {}
if ARGV[A + 1] == '1' then
  out = redis.call('ZRANGE', k, 0, -1)
  for _, c in ipairs(out) do redis.call('SREM', kCG(c), g) end
  redis.call('DEL', k)
else
  for i = A + 2, #ARGV do
    local c = ARGV[i]
    if redis.call('ZREM', k, c) == 1 then
      redis.call('SREM', kCG(c), g)
      out[#out + 1] = c
    end
  end
end
if redis.call('EXISTS', k) == 0 then redis.call('SREM', base .. ':groups', g) end
return out
