-- Each request carries a token drawn uniformly from a file of fixed-width lines
-- (bench/seed.ts, `--tokens-out`): cases 3 and 4.
--   wrk ... -s tokens.lua <url> -- <tokens file> <seed> [verify]
-- With "verify", the token goes in a POST /api/v1/verify body instead of the header.
dofile(os.getenv("KEYWARD_BENCH_DIR") .. "/report.lua")

local blob, width, count, verify, path

function init(args)
  local file = assert(io.open(args[1], "rb"))
  blob = file:read("*a")
  file:close()
  width = string.find(blob, "\n", 1, true)
  count = math.floor(#blob / width)
  math.randomseed(tonumber(args[2]) or 1)
  verify = args[3] == "verify"
  path = verify and "/api/v1/verify" or "/api"
end

function request()
  local i = math.random(0, count - 1) * width
  local token = string.sub(blob, i + 1, i + width - 1)
  if verify then
    local body = '{"token":"' .. token .. '"}'
    return "POST " .. path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] .. "\r\n" ..
      "Content-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
  end
  return "GET " .. path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] .. "\r\n" ..
    "Authorization: Bearer " .. token .. "\r\n\r\n"
end
