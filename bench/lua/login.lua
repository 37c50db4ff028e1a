-- Logins, one connection per wrk thread (run with -t N -c N):
--   GET /authorize (no session)          → 200 login page + interaction cookie
--   POST /authorize/login (right password) → 303 back to the client with a code
-- `ok` counts successful logins. Environment: BENCH_AUTHORIZE_PATH, BENCH_USERNAME,
-- BENCH_PASSWORD_ENC (form-encoded).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local authorize_path = os.getenv("BENCH_AUTHORIZE_PATH")
local username = os.getenv("BENCH_USERNAME")
local password_enc = os.getenv("BENCH_PASSWORD_ENC")

local step = "page"
local interaction, csrf, cookie

function request()
  if step == "page" then
    return wrk.format("GET", authorize_path, {}, nil)
  end
  return wrk.format("POST", "/authorize/login",
    { ["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = cookie },
    "interaction=" .. interaction .. "&csrf=" .. csrf .. "&username=" .. username ..
    "&password=" .. password_enc)
end

function response(status, headers, body)
  if step == "page" then
    interaction = body:match('name="interaction" value="([^"]+)"')
    csrf = body:match('name="csrf" value="([^"]+)"')
    local set_cookie = header(headers, "Set-Cookie") or ""
    local value = set_cookie:match("usher%-interaction=([^;]+)")
    if status == 200 and interaction and csrf and value then
      cookie = "usher-interaction=" .. value
      step = "login"
    else
      bad = bad + 1
    end
  else
    step = "page"
    local location = header(headers, "Location") or ""
    if status == 303 and location:find("code=", 1, true) then ok = ok + 1 else bad = bad + 1 end
  end
end
