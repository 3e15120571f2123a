-- check.lua: the reader's look at a partition after (re)connecting. Makes
-- sure the partition has an epoch (a fresh one after Redis lost its data)
-- and returns {epoch, last sequence number, last stream entry id, id of the
-- last event ("" if none)}.
local v = redis.call('HMGET', K_META, 'epoch', 'seq', 'last')
local ep = v[1]
if not ep then
  local t = redis.call('TIME')
  ep = t[1] .. '.' .. t[2]
  redis.call('HSET', K_META, 'epoch', ep)
end
local id = '0-0'
local last = redis.call('XREVRANGE', K_EV, '+', '-', 'COUNT', 1)
if #last > 0 then id = last[1][1] end
return { ep, v[2] or '0', id, v[3] or '' }
