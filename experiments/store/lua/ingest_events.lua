-- Count a batch of metric events of one experiment, each event id once, in one atomic step.
-- KEYS[1] exposures hash, KEYS[2] sufficient statistics hash, KEYS[3] per-user totals hash,
-- KEYS[3 + i] the dedupe marker of event i as it was written before buckets (keys.event_seen),
-- only read; the id is that key after its first ARGV[first + 4 n + 3] characters.
-- ARGV[1] dedupe window in seconds, ARGV[2] the number M of metrics in the batch, then M
-- quintuples of metric key, type ("b" binary, "m" mean, "r" ratio), cap ("" for none), sketch
-- ("q": keep the quantile sketch, "" not) and covariate (its 0-based position c among the
-- exposure's stored covariates, record_exposures.lua; "" for none); then four arguments an event:
--   user id, metric key, value, denominator
-- and after the n events: now (unix seconds), the bucket width b in seconds, the prefix of the
-- bucket hashes (keys.event_ids_counted), the length of the prefix of the old markers, then one
-- 32-bit hash an event id (CRC-32, which picks the id's shard).
-- Dedupe: a counted id is a field of a shard of its time bucket (bucket floor(t / b), shard
-- hash % shards), valued with t - bucket * b; it is a duplicate while now - t < window (the old
-- SET EX window, exactly, in whole seconds). Buckets from floor((now - window) / b) to the
-- current one can hold such ids: with b = ceil(window / 8) at most nine, looked up newest first.
-- A bucket's shard count is fixed when it opens, from the previous bucket's count of ids, so
-- each shard keeps about SHARD_FILL ids: a hash that small stays in Redis's compact encoding
-- (hash-max-ziplist-entries, 128 by default), a few bytes an id beyond the id itself. The
-- prefix .. "meta" hash keeps each bucket's shards ("<bucket>") and ids ("n<bucket>"). A shard
-- expires b + window after its bucket's start, when none of its ids can count any more. An
-- old marker key (before buckets) still makes a duplicate.
-- Returns one code an event: 0 counted now, 1 duplicate (its id was counted before),
-- 2 not exposed (the user has no recorded exposure; the id is NOT marked, so the event can be
-- sent again once the exposure is recorded).
--
-- Every user is one observation. Per user and metric the totals hash keeps what the metric type
-- needs ("<metric>|<user>" -> "1" for binary, the running sum for mean, "x,y" for ratio), so
-- each event moves the per-variant sums by the change in the user's contribution:
--   binary  <m>|<v>|s  += 1 the first time the user has a value > 0
--   mean    <m>|<v>|s  += d,  <m>|<v>|ss += (t + d)^2 - t^2 = d (2 t + d)
--   ratio   <m>|<v>|x, y, xx, yy, xy move by the change of x, y, x^2, y^2 and x y
-- A metric with a cap c counts min(t, c) for the user's total t (mean) or numerator x (ratio):
-- the totals hash keeps the raw total, the sums move by the change of the capped one, so they
-- stay the exact sums of the capped values.
-- A metric with a sketch also counts each event's raw value in its log bucket (experiments/
-- stats/sketch.py): <m>|<v>|q<i> += 1 with i = ceil(log(value) / log(gamma)), or <m>|<v>|qz
-- for a value <= 0.
-- Segments: an exposure stored with facts ("<v>:<unix>:<cells>:<covariates>") puts the user in
-- one segment i of each declared dimension d; every change of the metric's sums above is also
-- added to the same sums of the segment, seg|<d>=<i>|<m>|<v>|<sum> (no sketch: a segment
-- has sums only). An exposure without facts (recorded before the experiment had segments) is
-- in none.
-- CUPED: a binary or mean metric with a covariate x also keeps <m>|<v>|cxy += x * d for the
-- change d of the user's counted value (1 at a binary metric's first success; the capped
-- change for a mean metric), so cxy is the sum of x y over the arm's users; a user without the
-- covariate counts x = 0.
-- Sums are read once, accumulated in doubles and written back once, in a format that reads
-- back as the same double, so no precision is lost between calls (HINCRBYFLOAT would round
-- small values to a fixed number of decimals).
local window = ARGV[1]
local exposures, stats, totals = KEYS[1], KEYS[2], KEYS[3]
local kind_of, cap_of, sketched, covariate_of = {}, {}, {}, {}
local first = 3 + 5 * tonumber(ARGV[2])
for j = 3, first - 1, 5 do
  kind_of[ARGV[j]] = ARGV[j + 1]
  cap_of[ARGV[j]] = tonumber(ARGV[j + 2])
  sketched[ARGV[j]] = ARGV[j + 3] == 'q'
  covariate_of[ARGV[j]] = tonumber(ARGV[j + 4])
end
-- gamma = (1 + a) / (1 - a) with the relative accuracy a = 0.01 of stats/sketch.py.
local LOG_GAMMA = math.log(1.01 / 0.99)

-- How much of an addition of `value` to a raw total `t` counts: all of it without a cap (not
-- recomputed, which would round), else the change of min(total, cap).
local function counted_change(metric, t, value)
  local cap = cap_of[metric]
  if not cap then
    return t, value
  end
  local before = math.min(t, cap)
  return before, math.min(t + value, cap) - before
end

local exposure_of = {}
local sums, sums_dirty = {}, {}
local user_totals, totals_dirty = {}, {}
local NONE = {}

-- The user's exposure: false when none is recorded, else {variant, segments = the prefixes
-- "seg|<d>=<i>|" of the user's segments, covariates = the stored covariate values}.
local function exposure(user)
  local e = exposure_of[user]
  if e == nil then
    local raw = redis.call('HGET', exposures, user)
    e = false
    if raw then
      e = {variant = string.match(raw, '^(%d+)'), segments = NONE, covariates = NONE}
      local cells, covariates = string.match(raw, '^%d+:%d+:([^:]*):(.*)$')
      if cells then
        local d, prefixes, values = 0, {}, {}
        for cell in string.gmatch(cells, '%d+') do
          prefixes[#prefixes + 1] = 'seg|' .. d .. '=' .. cell .. '|'
          d = d + 1
        end
        for x in string.gmatch(covariates, '[^,]+') do
          values[#values + 1] = tonumber(x)
        end
        e.segments, e.covariates = prefixes, values
      end
    end
    exposure_of[user] = e
  end
  return e
end

local function add(field, delta)
  local current = sums[field]
  if current == nil then
    current = tonumber(redis.call('HGET', stats, field) or '0')
  end
  sums[field] = current + delta
  sums_dirty[field] = true
end

local function total(field)
  local t = user_totals[field]
  if t == nil then
    t = redis.call('HGET', totals, field) or false
    user_totals[field] = t
  end
  return t
end

local function set_total(field, value)
  user_totals[field] = value
  totals_dirty[field] = true
end

-- The shortest of 15 or 17 significant digits that reads back as the same double: integers
-- and short decimals stay short in memory, every other value keeps its full precision.
local function num(x)
  local short = string.format('%.15g', x)
  if tonumber(short) == x then
    return short
  end
  return string.format('%.17g', x)
end

local events = #KEYS - 3
local dedupe = first + 4 * events
local now, width = tonumber(ARGV[dedupe]), tonumber(ARGV[dedupe + 1])
local buckets, old_prefix = ARGV[dedupe + 2], tonumber(ARGV[dedupe + 3])
local window_s = tonumber(window)
local current = math.floor(now / width)
local oldest = math.floor((now - window_s) / width)
local meta = buckets .. 'meta'
local SHARD_FILL = 96

local shards = {}
for bucket = current, oldest, -1 do
  shards[bucket] = tonumber(redis.call('HGET', meta, bucket))
end
local opened = shards[current] == nil
if opened then
  local previous = tonumber(redis.call('HGET', meta, 'n' .. (current - 1)) or '0')
  local count = 1
  while count * SHARD_FILL < previous do
    count = count * 2
  end
  shards[current] = count
end
local marked, touched = 0, {}

-- Counted before (true), or now marked as counted (false).
local function seen(marker, hash)
  local id = string.sub(marker, old_prefix + 1)
  for bucket = current, oldest, -1 do
    local count = shards[bucket]
    if count then
      local at = redis.call('HGET', buckets .. bucket .. ':' .. hash % count, id)
      if at then
        if now - (bucket * width + tonumber(at)) < window_s then
          return true
        end
        break
      end
    end
  end
  if redis.call('EXISTS', marker) == 1 then
    return true
  end
  local shard = buckets .. current .. ':' .. hash % shards[current]
  redis.call('HSET', shard, id, now - current * width)
  touched[shard] = true
  marked = marked + 1
  return false
end

-- `add` for the metric's own sums and for the same sums of each of the user's segments.
local function add_each(prefix, segments, name, delta)
  add(prefix .. name, delta)
  for _, segment in ipairs(segments) do
    add(segment .. prefix .. name, delta)
  end
end

-- The change d of the user's counted value, times the user's covariate, to cxy (CUPED).
local function add_cross(metric, e, prefix, d)
  local position = covariate_of[metric]
  if position then
    local x = e.covariates[position + 1] or 0
    if x ~= 0 then
      add(prefix .. 'cxy', x * d)
    end
  end
end

local out = {}
for i = 1, events do
  local base = first + (i - 1) * 4
  local user, metric = ARGV[base], ARGV[base + 1]
  local e = exposure(user)
  if not e then
    out[i] = 2
  elseif seen(KEYS[3 + i], tonumber(ARGV[dedupe + 3 + i])) then
    out[i] = 1
  else
    out[i] = 0
    local kind = kind_of[metric]
    local value = tonumber(ARGV[base + 2])
    local field = metric .. '|' .. user
    local prefix, segments = metric .. '|' .. e.variant .. '|', e.segments
    if kind == 'b' then
      if value > 0 and not total(field) then
        set_total(field, '1')
        add_each(prefix, segments, 's', 1)
        add_cross(metric, e, prefix, 1)
      end
    elseif kind == 'm' then
      if sketched[metric] then
        if value > 0 then
          add(prefix .. 'q' .. string.format('%d', math.ceil(math.log(value) / LOG_GAMMA)), 1)
        else
          add(prefix .. 'qz', 1)
        end
      end
      local raw = tonumber(total(field) or '0')
      set_total(field, num(raw + value))
      local t, d = counted_change(metric, raw, value)
      add_each(prefix, segments, 's', d)
      add_each(prefix, segments, 'ss', d * (2 * t + d))
      add_cross(metric, e, prefix, d)
    else
      local d = tonumber(ARGV[base + 3])
      local raw_x, y = 0, 0
      local raw = total(field)
      if raw then
        local sx, sy = string.match(raw, '^([^,]+),(.+)$')
        raw_x, y = tonumber(sx), tonumber(sy)
      end
      set_total(field, num(raw_x + value) .. ',' .. num(y + d))
      local x, dx = counted_change(metric, raw_x, value)
      add_each(prefix, segments, 'x', dx)
      add_each(prefix, segments, 'y', d)
      add_each(prefix, segments, 'xx', dx * (2 * x + dx))
      add_each(prefix, segments, 'yy', d * (2 * y + d))
      add_each(prefix, segments, 'xy', dx * y + d * x + dx * d)
    end
  end
end

-- Written in chunks: unpack() of too many arguments overflows Lua's C stack.
local function flush(key, values, dirty, format)
  local args = {}
  for field in pairs(dirty) do
    args[#args + 1] = field
    args[#args + 1] = format(values[field])
    if #args >= 1000 then
      redis.call('HSET', key, unpack(args))
      args = {}
    end
  end
  if #args > 0 then
    redis.call('HSET', key, unpack(args))
  end
end

if marked > 0 then
  -- The bucket's last id can count until (current + 1) * width + window, none after.
  local ttl = (current + 1) * width + window_s - now
  for shard in pairs(touched) do
    redis.call('EXPIRE', shard, ttl)
  end
  if opened then
    redis.call('HSET', meta, current, shards[current])
    redis.call('HDEL', meta, current - 10, 'n' .. (current - 10))
  end
  redis.call('HINCRBY', meta, 'n' .. current, marked)
  redis.call('EXPIRE', meta, ttl)
end
flush(stats, sums, sums_dirty, num)
flush(totals, user_totals, totals_dirty, tostring)
return out
