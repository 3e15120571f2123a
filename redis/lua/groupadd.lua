-- groupadd.lua (in a partition of the channels): ARGV[A] group, ARGV[A+1]
-- the group's size limit (0: checked by the caller), then channel, order
-- pairs (order "": numbered here, from the partition's counter). Adds the
-- channels the group lacks to the group's channels in this partition and
-- the group to each one's index entry, in this one atomic step. Returns
-- {0, have, added}, or {-1, have, new} when the group would be too large.
local g = ARGV[A]
local k = base .. ':g:' .. g
local maxc = tonumber(ARGV[A + 1])
local have = redis.call('ZCARD', k)
local new, order, seen = {}, {}, {}
for i = A + 2, #ARGV, 2 do
  local c = ARGV[i]
  if not seen[c] and not redis.call('ZSCORE', k, c) then
    new[#new + 1] = c
    order[#order + 1] = ARGV[i + 1]
  end
  seen[c] = true
end
if maxc > 0 and have + #new > maxc then return { -1, have, #new } end
if #new == 0 then return { 0, have, 0 } end
local s = 0
if order[1] == '' then s = redis.call('HINCRBY', K_META, 'gseq', #new) - #new end
for j, c in ipairs(new) do
  local score = order[j]
  if score == '' then score = s + j end
  redis.call('ZADD', k, score, c)
  redis.call('SADD', kCG(c), g)
end
redis.call('SADD', base .. ':groups', g)
return { 0, have, #new }
