-- Record first exposures of users to one experiment, once each (set-if-absent).
-- KEYS[1] exposures hash, KEYS[2] sufficient statistics hash
-- ARGV: triples of user id, variant index, unix seconds
-- Returns, per user, {variant index as recorded, 1 if recorded now else 0}.
local out = {}
for i = 1, #ARGV, 3 do
  local user, variant, now = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local existing = redis.call('HGET', KEYS[1], user)
  if existing then
    out[#out + 1] = {tonumber(string.match(existing, '^(%d+)')), 0}
  else
    redis.call('HSET', KEYS[1], user, variant .. ':' .. now)
    redis.call('HINCRBY', KEYS[2], 'users:' .. variant, 1)
    out[#out + 1] = {tonumber(variant), 1}
  end
end
return out
