-- Compare-and-set of an experiment document, appending its history entries in the same step.
-- KEYS[1] definition, KEYS[2] history list
-- ARGV[1] expected revision ("-1" to create), ARGV[2] new document, ARGV[3..] history entries (JSON)
-- Returns 1 on success, 0 when the revision moved on (a concurrent change), -1 when missing,
-- -2 when creating and the experiment already exists.
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '-1' then
  if current then return -2 end
else
  if not current then return -1 end
  local revision = cjson.decode(current)['revision']
  if tostring(revision) ~= ARGV[1] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2])
for i = 3, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
end
return 1
