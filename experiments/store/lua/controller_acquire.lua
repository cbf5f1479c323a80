-- Acquire or renew the controller lease; each new acquisition gets a fresh fencing token.
-- KEYS[1] lease, KEYS[2] fencing counter (one hash tag, so one Cluster slot)
-- ARGV[1] owner id (without ':'), ARGV[2] time to live in milliseconds
-- Returns the holder's fencing token when ARGV[1] holds the lease after this call, else 0.
local held = redis.call('GET', KEYS[1])
if held then
  local owner, fence = string.match(held, '^([^:]*):(%d+)$')
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(fence)
  end
  return 0
end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. fence, 'PX', ARGV[2])
return fence
