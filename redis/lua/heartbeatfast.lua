-- heartbeatfast.lua: one or more heartbeats (see heartbeat.lua for the
-- arguments), applied in order. A heartbeat all of whose memberships are
-- present and set no state is a refresh: each deadline is moved, with no
-- event, and nothing else is read. From the first heartbeat that is more
-- (a join, a member due but not yet swept, a state), slow(i) loads the
-- helpers of common.lua and applies that one and the rest. So a batch of
-- refreshes costs Redis no more than base.lua and three commands each.
local i = A
while i <= #ARGV do
  local u, deadline, dr, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local j = i + 4
  for _ = 1, n do
    local mk = ARGV[j] .. '\n' .. u
    local dl = ARGV[j + 1] == '0' and tonumber(redis.call('ZSCORE', K_DL, mk))
    if not dl or not alive(dl, mk) then return slow(i) end
    j = j + 3
  end
  j = i + 4
  for _ = 1, n do
    setAt(K_DL, K_DLR, ARGV[j] .. '\n' .. u, deadline, dr)
    j = j + 3
  end
  i = j
end
return 0
