-- Logins, one connection per wrk thread (run with -t N -c N):
--   GET /authorize (no session)          → 200 login page (sealed form) + browser cookie
--   POST /authorize/login (right password) → 303 back to the client with a code
-- `ok` counts successful logins. Environment: BENCH_AUTHORIZE_PATH, BENCH_USERNAME,
-- BENCH_PASSWORD_ENC (form-encoded).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local authorize_path = os.getenv("BENCH_AUTHORIZE_PATH")
local username = os.getenv("BENCH_USERNAME")
local password_enc = os.getenv("BENCH_PASSWORD_ENC")

local step = "page"
local pending, cookie

function request()
  if step == "page" then
    return wrk.format("GET", authorize_path, {}, nil)
  end
  return wrk.format("POST", "/authorize/login",
    { ["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = cookie },
    "pending=" .. pending .. "&username=" .. username ..
    "&password=" .. password_enc)
end

function response(status, headers, body)
  if step == "page" then
    -- The sealed pending request is base64url after "v1.": nothing to form-encode.
    pending = body:match('name="pending" value="([^"]+)"')
    local set_cookie = header(headers, "Set-Cookie") or ""
    local value = set_cookie:match("usher%-browser=([^;]+)")
    if status == 200 and pending and value then
      cookie = "usher-browser=" .. value
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
