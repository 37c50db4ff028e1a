-- Code exchange, one connection per wrk thread (run with -t N -c N), so this thread's
-- globals are its connection's state:
--   GET /authorize?…&prompt=none with the session cookie  → 303 …?code=…
--   POST /token grant_type=authorization_code (PKCE, Basic)  → 200 {access_token, id_token}
-- `ok` counts completed pairs. With BENCH_REFRESH=1 the thread then keeps rotating the
-- refresh token it got (POST /token grant_type=refresh_token); `ok` then counts
-- refreshes only.
-- Environment: BENCH_AUTHORIZE_PATH (path and query), BENCH_SESSION_COOKIE ("name=value"),
-- BENCH_AUTH (Basic …), BENCH_REDIRECT_URI_ENC (form-encoded), BENCH_VERIFIER.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local authorize_path = os.getenv("BENCH_AUTHORIZE_PATH")
local cookie = os.getenv("BENCH_SESSION_COOKIE")
local auth = os.getenv("BENCH_AUTH")
local redirect_enc = os.getenv("BENCH_REDIRECT_URI_ENC")
local verifier = os.getenv("BENCH_VERIFIER")
local refresh_mode = os.getenv("BENCH_REFRESH") == "1"

local step = "authorize"
local code, refresh_token
local form_headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth }

function request()
  if step == "authorize" then
    return wrk.format("GET", authorize_path, { ["Cookie"] = cookie }, nil)
  elseif step == "token" then
    return wrk.format("POST", "/token", form_headers,
      "grant_type=authorization_code&code=" .. code .. "&redirect_uri=" .. redirect_enc ..
      "&code_verifier=" .. verifier)
  else
    return wrk.format("POST", "/token", form_headers,
      "grant_type=refresh_token&refresh_token=" .. refresh_token)
  end
end

function response(status, headers, body)
  if step == "authorize" then
    local location = header(headers, "Location") or ""
    code = location:match("[?&]code=([^&]+)")
    if status == 303 and code then step = "token" else bad = bad + 1 end
  elseif step == "token" then
    step = "authorize"
    if status == 200 and body:find('"id_token"', 1, true) then
      if refresh_mode then
        refresh_token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
        if refresh_token then step = "refresh" else bad = bad + 1 end
      else
        ok = ok + 1
      end
    else
      bad = bad + 1
    end
  else
    local next_token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if status == 200 and next_token and body:find('"id_token"', 1, true) then
      ok = ok + 1
      refresh_token = next_token
    else
      -- Start a new family through the code flow.
      bad = bad + 1
      step = "authorize"
    end
  end
end
