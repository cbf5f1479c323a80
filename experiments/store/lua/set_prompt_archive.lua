-- Archive or unarchive a prompt and record it in its history, only when that changes something.
-- KEYS[1] the prompt's archive record, KEYS[2] its history list
-- ARGV[1] the archive record (JSON), or "" to unarchive; ARGV[2] the history entry (JSON)
-- Returns 1 when changed, 0 when the prompt already was in that state.
local archived = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[1] == '' then
  if not archived then
    return 0
  end
  redis.call('DEL', KEYS[1])
else
  if archived then
    return 0
  end
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1
