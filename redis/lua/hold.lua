-- hold.lua: ARGV[A] µs. Extends the outage grace of the partition to at
-- least that time.
local h = tonumber(ARGV[A])
if h > hold then redis.call('HSET', K_META, 'hold', h) end
return 0
