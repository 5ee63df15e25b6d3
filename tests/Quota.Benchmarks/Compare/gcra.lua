-- GCRA (generic cell rate algorithm), all or nothing over every key given (Quota's comparison harness, issue 8).
-- KEYS[i]: one string per limit holding its theoretical arrival time (TAT) in microseconds since 2024-01-01 UTC.
-- ARGV[2i-1], ARGV[2i]: key i's emission interval T in microseconds (window / limit) and its burst B (permits).
-- Returns { 1 if admitted else 0, the server time used in microseconds since 2024-01-01 }. Each request costs one
-- permit.
--
-- A request passes a key when max(TAT, now) + T - now <= B * T, then its TAT becomes max(TAT, now) + T: the key
-- admits B at once and refills one permit every T, continuously. Every key is checked before any is written, so a
-- denied request moves no TAT. Times count from 2024 rather than 1970 so that a double resolves 1/64 µs (1/32 from
-- 2028): a limit of a billion a minute has T = 0.06 µs, which counted from 1970 (0.25 µs steps) would round away.
local time = redis.call('TIME')
local now = (tonumber(time[1]) - 1704067200) * 1000000 + tonumber(time[2])
local tats = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then
    tat = now
  end
  tat = tat + interval
  if tat - now > burst * interval then
    return { 0, now }
  end
  tats[i] = tat
end
for i = 1, #KEYS do
  -- Written with fixed decimals: Lua's default number format keeps 14 digits, which would cut the fraction.
  -- The key expires when its TAT has passed, when it is back to a full burst and nothing in it matters.
  redis.call('SET', KEYS[i], string.format('%.3f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000))
end
return { 1, now }
