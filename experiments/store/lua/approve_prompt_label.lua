-- Apply an approved label move, unless the proposal or the label changed since it was read.
-- KEYS[1] labels hash, KEYS[2] pending hash, KEYS[3] history list
-- ARGV[1] label, ARGV[2] change id, ARGV[3] expected current version ("" when the label had none),
-- ARGV[4] new version, ARGV[5..] history entries (JSON)
-- Returns 1 when applied, -1 when the proposal is gone or replaced, -2 when the label moved.
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw or cjson.decode(raw)['id'] ~= ARGV[2] then
  return -1
end
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[3] then
  return -2
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HDEL', KEYS[2], ARGV[1])
for i = 5, #ARGV do
  redis.call('RPUSH', KEYS[3], ARGV[i])
end
return 1
