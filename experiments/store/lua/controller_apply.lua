-- Apply one controller evaluation all or nothing: the fencing check, the compare-and-set of the
-- experiment with its history entries, the decision record, the timeline snapshot, the follow-ups.
-- KEYS[1] definition, KEYS[2] history, KEYS[3] timeline, KEYS[4] experiment's fencing token,
-- KEYS[5] signature of the last recorded decision, KEYS[6] outbox of follow-ups
-- ARGV[1] fencing token, ARGV[2] expected revision, ARGV[3] new document or '',
-- ARGV[4] decision signature, ARGV[5] decision history entry or '', ARGV[6] '1' to record it
-- even when the signature is unchanged, ARGV[7] timeline entry, ARGV[8] timeline capacity,
-- ARGV[9] follow-up entry or '' (queued when the document changed or the decision was recorded),
-- ARGV[10..] history entries of the change
-- Returns {status, recorded}: status 1 applied, 0 the revision moved on, -1 missing,
-- -3 a newer fencing token has applied here (the caller lost its lease).
local fence = tonumber(ARGV[1])
local seen = tonumber(redis.call('GET', KEYS[4]) or '0')
if fence < seen then return {-3, 0} end
local current = redis.call('GET', KEYS[1])
if not current then return {-1, 0} end
if tostring(cjson.decode(current)['revision']) ~= ARGV[2] then return {0, 0} end
-- Every check is done: only writes that cannot fail follow, so nothing is ever half-applied.
if fence > seen then redis.call('SET', KEYS[4], ARGV[1]) end
local changed = ARGV[3] ~= ''
if changed then redis.call('SET', KEYS[1], ARGV[3]) end
for i = 10, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
end
local recorded = 0
if ARGV[5] ~= '' and (ARGV[6] == '1' or redis.call('GET', KEYS[5]) ~= ARGV[4]) then
  redis.call('RPUSH', KEYS[2], ARGV[5])
  recorded = 1
end
redis.call('SET', KEYS[5], ARGV[4])
redis.call('RPUSH', KEYS[3], ARGV[7])
-- Full timeline: keep every second entry of the oldest half, so the newest evaluations stay at
-- full resolution and older ones thin out geometrically instead of disappearing.
local capacity = tonumber(ARGV[8])
if redis.call('LLEN', KEYS[3]) > capacity then
  local half = math.floor(capacity / 2)
  local oldest = redis.call('LRANGE', KEYS[3], 0, half - 1)
  redis.call('LTRIM', KEYS[3], half, -1)
  for i = #oldest - ((#oldest + 1) % 2), 1, -2 do
    redis.call('LPUSH', KEYS[3], oldest[i])
  end
end
if ARGV[9] ~= '' and (changed or recorded == 1) then
  redis.call('RPUSH', KEYS[6], ARGV[9])
end
return {1, recorded}
