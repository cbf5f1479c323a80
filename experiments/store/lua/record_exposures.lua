-- Record first exposures of users to one experiment, once each (set-if-absent).
-- KEYS[1] exposures hash, KEYS[2] sufficient statistics hash
-- ARGV: quadruples of user id, variant index, unix seconds and the exposure's facts: "" or
-- "<cells>:<covariates>", the user's segment in each declared dimension (comma-separated
-- indices, experiments/stats/segments.py) and the covariate values in the order of
-- Experiment.covariate_names ("" when none was sent: all 0).
-- The exposure is stored as "<variant>:<unix>" or "<variant>:<unix>:<cells>:<covariates>": the
-- first field is the variant for every reader, old values without facts stay valid.
-- A user recorded now is counted in users:<v>, in seg|<d>=<i>|users:<v> for the segment i of
-- each dimension d (0-based), and for the covariate x at position c (0-based) in
-- cov|<c>|<v>|x += x and cov|<c>|<v>|xx += x^2 (CUPED; ingest_events.lua keeps each metric's
-- <m>|<v>|cxy).
-- Returns, per user, {variant index as recorded, 1 if recorded now else 0}.
local exposures, stats = KEYS[1], KEYS[2]

-- The covariate sums this call changed, each read once and written once at the end; nil until
-- the first is counted (most experiments declare none: their calls make no table for them).
local sums

local function add(field, delta)
  if sums == nil then
    sums = {}
  end
  local current = sums[field]
  if current == nil then
    current = tonumber(redis.call('HGET', stats, field) or '0')
  end
  sums[field] = current + delta
end

-- The shortest of 15 or 17 significant digits that reads back as the same double (as in
-- ingest_events.lua): HINCRBYFLOAT would round small values to a fixed number of decimals.
local function num(x)
  local short = string.format('%.15g', x)
  if tonumber(short) == x then
    return short
  end
  return string.format('%.17g', x)
end

local out, n = {}, 0
for i = 1, #ARGV, 4 do
  local user, variant, now, facts = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local existing = redis.call('HGET', exposures, user)
  n = n + 1
  if existing then
    out[n] = {tonumber(string.match(existing, '^(%d+)')), 0}
  else
    if facts == '' then
      -- Most experiments declare no segments and no covariates: two writes and nothing else.
      redis.call('HSET', exposures, user, variant .. ':' .. now)
      redis.call('HINCRBY', stats, 'users:' .. variant, 1)
    else
      redis.call('HSET', exposures, user, variant .. ':' .. now .. ':' .. facts)
      redis.call('HINCRBY', stats, 'users:' .. variant, 1)
      local cells, covariates = string.match(facts, '^([^:]*):(.*)$')
      local d = 0
      for cell in string.gmatch(cells, '%d+') do
        redis.call('HINCRBY', stats, 'seg|' .. d .. '=' .. cell .. '|users:' .. variant, 1)
        d = d + 1
      end
      local c = 0
      for text in string.gmatch(covariates, '[^,]+') do
        local x = tonumber(text)
        if x ~= 0 then
          local prefix = 'cov|' .. c .. '|' .. variant .. '|'
          add(prefix .. 'x', x)
          add(prefix .. 'xx', x * x)
        end
        c = c + 1
      end
    end
    out[n] = {tonumber(variant), 1}
  end
end

if sums == nil then
  return out
end

-- Written in chunks: unpack() of too many arguments overflows Lua's C stack.
local args = {}
for field, sum in pairs(sums) do
  args[#args + 1] = field
  args[#args + 1] = num(sum)
  if #args >= 1000 then
    redis.call('HSET', stats, unpack(args))
    args = {}
  end
end
if #args > 0 then
  redis.call('HSET', stats, unpack(args))
end
return out
