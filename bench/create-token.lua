-- Case 6: token creation through the API, spread round-robin over signed-in users
-- (bench/seed.ts, `--session-users --sessions-out`, lines "<cookie> <app id>").
--   wrk ... -s create-token.lua <url> -- <sessions file> <origin> <run id>
-- Every token gets a name unique to the run, and Origin is our own (the CSRF check).
dofile(os.getenv("KEYWARD_BENCH_DIR") .. "/report.lua")

local sessions = {}
local origin, run
local next_session, counter = 0, 0

function init(args)
  for line in io.lines(args[1]) do
    local secret, app = string.match(line, "^(%S+) (%S+)$")
    if secret then sessions[#sessions + 1] = { secret = secret, app = app } end
  end
  origin = args[2]
  run = args[3]
  -- Threads start at different users, so two threads rarely write for the same owner.
  next_session = math.random(0, #sessions - 1)
end

function request()
  next_session = (next_session + 1) % #sessions
  counter = counter + 1
  local s = sessions[next_session + 1]
  local body = '{"name":"bench ' .. run .. " " .. counter .. '"}'
  return "POST /api/v1/applications/" .. s.app .. "/tokens HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
    "\r\nOrigin: " .. origin .. "\r\nCookie: keyward_session=" .. s.secret ..
    "\r\nContent-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
end
