-- groupremove.lua (in the group's partition): ARGV[A] group, ARGV[A+1] "1"
-- to delete the whole group, then the channels to remove. Returns the
-- channels removed; a group left empty no longer exists.
local g = ARGV[A]
local k = base .. ':g:' .. g
local out = {}
if ARGV[A + 1] == '1' then
  out = redis.call('ZRANGE', k, 0, -1)
  redis.call('DEL', k)
else
  for i = A + 2, #ARGV do
    if redis.call('ZREM', k, ARGV[i]) == 1 then out[#out + 1] = ARGV[i] end
  end
end
if redis.call('EXISTS', k) == 0 then redis.call('SREM', base .. ':groups', g) end
return out
