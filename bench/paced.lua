-- Case 12's background load: case 2's request, each connection waiting
-- KEYWARD_BENCH_DELAY_MS between its requests, so the load is a chosen share of capacity.
dofile(os.getenv("KEYWARD_BENCH_DIR") .. "/fixed.lua")

local delayMs = tonumber(os.getenv("KEYWARD_BENCH_DELAY_MS") or "0")

function delay()
  return delayMs
end
