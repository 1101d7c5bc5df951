-- One fixed request, sent as fast as wrk can (no per-request Lua): cases 1, 2 and 5.
-- KEYWARD_BENCH_METHOD, KEYWARD_BENCH_AUTHORIZATION and KEYWARD_BENCH_BODY shape it.
dofile(os.getenv("KEYWARD_BENCH_DIR") .. "/report.lua")

wrk.method = os.getenv("KEYWARD_BENCH_METHOD") or "GET"
local authorization = os.getenv("KEYWARD_BENCH_AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
local body = os.getenv("KEYWARD_BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
