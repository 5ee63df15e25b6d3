-- Sliding-window log, all or nothing over every key given (Quota's comparison harness, issue 8).
-- KEYS[i]: one sorted set per limit; each member is one grant, scored by its time in microseconds.
-- ARGV[1]: a member unique to this request. ARGV[2i], ARGV[2i+1]: key i's limit and window in microseconds.
-- Returns { 1 if admitted else 0, the server time used in microseconds }. Each request costs one permit.
--
-- A grant counts until exactly one window after it (an entry scored now - window has expired). A denied request
-- adds nothing anywhere: every key is trimmed and counted before any is written. The script runs atomically, so no
-- other request sees a key between its count and its write.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= limit then
    return { 0, now }
  end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, ARGV[1])
  -- An idle key disappears one window after its last grant, when nothing in it counts any more.
  redis.call('PEXPIRE', KEYS[i], math.ceil(tonumber(ARGV[2 * i + 1]) / 1000))
end
return { 1, now }
