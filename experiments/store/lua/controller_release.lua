-- Give the controller lease up, only if ARGV[1] still holds it (never another runner's lease).
-- KEYS[1] lease; ARGV[1] owner id. Returns 1 when released, 0 otherwise.
local held = redis.call('GET', KEYS[1])
if held and string.match(held, '^([^:]*):') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
