-- Append a prompt version unless its content equals the latest one.
-- KEYS[1] versions list, KEYS[2] history list
-- ARGV[1] content sha256, ARGV[2] version document without its number (a JSON object),
-- ARGV[3] history entry (a JSON object)
-- The number is spliced in as the first member rather than by decoding and re-encoding, since
-- cjson would turn empty arrays into objects.
-- Returns {version, created (1|0)}.
local latest = redis.call('LINDEX', KEYS[1], -1)
if latest then
  local doc = cjson.decode(latest)
  if doc['sha256'] == ARGV[1] then
    return {doc['version'], 0}
  end
end
local version = redis.call('LLEN', KEYS[1]) + 1
local prefix = '{"version":' .. version .. ','
redis.call('RPUSH', KEYS[1], prefix .. string.sub(ARGV[2], 2))
redis.call('RPUSH', KEYS[2], prefix .. string.sub(ARGV[3], 2))
return {version, 1}
