-- herenow.lua: ARGV[A] "1" for occupancy only, ARGV[A+1] "1" to include
-- state, ARGV[A+2] offset, ARGV[A+3] limit, then the channels of this
-- partition. Returns per channel {occupancy, uuids, states}: one page of
-- the present uuids in byte order, with their states (false: none) when
-- asked. A member is present while now < deadline: the due ones, not yet
-- swept, are left out of both the occupancy and the page.
local occOnly, incState = ARGV[A] == '1', ARGV[A + 1] == '1'
local off, lim = tonumber(ARGV[A + 2]), tonumber(ARGV[A + 3])

-- The partition's due memberships, by channel, when there are at most
-- DUEMAX of them (the sweep keeps up): a channel not listed has none due.
-- Beyond that (a sweep behind), every channel is filtered member by member.
local DUEMAX = 1000
local dueBy, many = {}, false
if now >= hold then
  local due = dueList(K_DL, K_DLR, DUEMAX + 1)
  if #due > DUEMAX then
    many = true
  else
    for _, mk in ipairs(due) do
      local p = string.find(mk, '\n', 1, true)
      local c, u = string.sub(mk, 1, p - 1), string.sub(mk, p + 1)
      local d = dueBy[c]
      if not d then
        d = {}
        dueBy[c] = d
      end
      d[#d + 1] = u
    end
  end
end

-- page returns the occupancy and one page of the present members of c.
local function page(c)
  local k = kM(c)
  if many then -- O(occupancy): check every member's deadline
    local all = redis.call('ZRANGE', k, 0, -1)
    local present, us = 0, {}
    for _, u in ipairs(all) do
      local mk = c .. '\n' .. u
      if alive(tonumber(redis.call('ZSCORE', K_DL, mk)) or 0, mk) then
        present = present + 1
        if present > off and present <= off + lim then us[#us + 1] = u end
      end
    end
    return present, us
  end
  local occ = redis.call('ZCARD', k)
  local d = dueBy[c]
  if not d then -- nothing due: O(log n + limit)
    if occOnly or occ <= off then return occ, {} end
    return occ, redis.call('ZRANGE', k, off, off + lim - 1)
  end
  -- a few due: skip them by rank, O((due + 1) log n + limit)
  local ranks, isDue = {}, {}
  for _, u in ipairs(d) do
    local r = redis.call('ZRANK', k, u)
    if r then
      isDue[u] = true
      ranks[#ranks + 1] = r
    end
  end
  occ = occ - #ranks
  if occOnly or occ <= off then return occ, {} end
  table.sort(ranks)
  local pos = off -- the rank of the first present member past off present ones
  for _, r in ipairs(ranks) do
    if r <= pos then pos = pos + 1 else break end
  end
  local us = {}
  for _, u in ipairs(redis.call('ZRANGE', k, pos, pos + lim + #ranks - 1)) do
    if not isDue[u] then
      us[#us + 1] = u
      if #us == lim then break end
    end
  end
  return occ, us
end

local out = {}
for i = A + 4, #ARGV do
  local c = ARGV[i]
  local occ, us = page(c)
  local r = { occ }
  if not occOnly and occ > off then
    r[2] = us
    if incState and #us > 0 then r[3] = redis.call('HMGET', kS(c), unpack(us)) end
  end
  out[#out + 1] = r
end
return out
