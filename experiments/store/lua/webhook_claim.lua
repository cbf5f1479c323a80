-- Claim the next due webhook delivery: it stays in the schedule, hidden until ARGV[2], so a
-- dispatcher that dies mid-delivery leaves it to be retried rather than lost.
-- KEYS[1] schedule (sorted set: delivery JSON by due time in ms)
-- ARGV[1] now (ms), ARGV[2] hidden until (ms). Returns the delivery JSON or false.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #due == 0 then return false end
redis.call('ZADD', KEYS[1], ARGV[2], due[1])
return due[1]
