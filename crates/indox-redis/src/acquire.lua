-- Sliding-log rate limiting over several windows, all or nothing.
-- Mirrors indox_ratelimit::window::{expire, judge, admit} exactly.
--
-- KEYS[1..n]  the window keys (sorted sets: member = unique id, score = admission ms)
-- KEYS[n+1]   a counter that makes members unique
-- ARGV[1]     n
-- ARGV[3i-1], ARGV[3i], ARGV[3i+1]   max, window_ms, cost of window i
--
-- Returns one {allowed, limit, remaining, retry_after_ms, reset_after_ms} per window.
local n = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local out = {}
local all = true
for i = 1, n do
  local key = KEYS[i]
  local max = tonumber(ARGV[3 * i - 1])
  local window = tonumber(ARGV[3 * i])
  local cost = tonumber(ARGV[3 * i + 1])

  -- expire: an entry admitted at s leaves the window at s + window.
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local used = redis.call('ZCARD', key)

  -- judge
  if used + cost <= max then
    out[i] = {1, max, max - used - cost, 0, window}
  else
    all = false
    local retry = window
    if cost <= max then
      -- The request fits once the (used + cost - max) oldest entries have left.
      local idx = used + cost - max - 1
      local e = redis.call('ZRANGE', key, idx, idx, 'WITHSCORES')
      if e[2] then
        retry = tonumber(e[2]) + window - now
      end
    end
    local reset = 0
    local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    if last[2] then
      reset = tonumber(last[2]) + window - now
    end
    if retry < 0 then retry = 0 end
    if reset < 0 then reset = 0 end
    out[i] = {0, max, 0, retry, reset}
  end
end

-- admit, into every window or none
if all then
  local total = 0
  for i = 1, n do
    total = total + tonumber(ARGV[3 * i + 1])
  end
  local seq = 0
  if total > 0 then
    seq = redis.call('INCRBY', KEYS[n + 1], total) - total
  end
  for i = 1, n do
    local key = KEYS[i]
    local window = tonumber(ARGV[3 * i])
    local cost = tonumber(ARGV[3 * i + 1])
    local done = 0
    while done < cost do
      local upto = math.min(cost, done + 256)
      local args = {}
      for _ = done + 1, upto do
        seq = seq + 1
        args[#args + 1] = now
        args[#args + 1] = string.format('%d-%d', now, seq)
      end
      redis.call('ZADD', key, unpack(args))
      done = upto
    end
    if cost > 0 then
      redis.call('PEXPIRE', key, window)
    end
  end
end

return out
