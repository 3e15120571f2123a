-- position.lua: Flush's barrier. Returns {epoch, seq, id of the last
-- event} of the partition. It writes (a counter of barriers) so that only a
-- master answers: a demoted master still reachable after a failover refuses
-- it (READONLY) instead of returning a stale position.
redis.call('HINCRBY', K_META, 'barriers', 1)
local v = redis.call('HMGET', K_META, 'epoch', 'seq', 'last')
return { v[1] or '', v[2] or '0', v[3] or '' }
