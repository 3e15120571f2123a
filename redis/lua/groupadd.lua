-- groupadd.lua (in the group's partition): ARGV[A] group, ARGV[A+1] the
-- group's size limit, then the channels. Returns {0, have, added} or
-- {-1, have, new} when the group would be too large.
local k = base .. ':g:' .. ARGV[A]
local maxc = tonumber(ARGV[A + 1])
local have = redis.call('ZCARD', k)
local new, seen = {}, {}
for i = A + 2, #ARGV do
  local c = ARGV[i]
  if not seen[c] and not redis.call('ZSCORE', k, c) then new[#new + 1] = c end
  seen[c] = true
end
if have + #new > maxc then return { -1, have, #new } end
if #new == 0 then return { 0, have, 0 } end
local s = redis.call('HINCRBY', K_META, 'gseq', #new)
for j, c in ipairs(new) do redis.call('ZADD', k, s - #new + j, c) end
redis.call('SADD', base .. ':groups', ARGV[A])
return { 0, have, #new }
