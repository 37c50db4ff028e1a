-- A fixed request, pipelining-free: GET (JWKS, discovery, userinfo) or POST
-- (client_credentials). Environment:
--   BENCH_METHOD  GET or POST            BENCH_BODY  the request body (POST)
--   BENCH_AUTH    an Authorization header value (optional)
--   BENCH_CTYPE   Content-Type of the body (default application/x-www-form-urlencoded)
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = os.getenv("BENCH_CTYPE") or "application/x-www-form-urlencoded"
end
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
local inm = os.getenv("BENCH_IF_NONE_MATCH")
if inm and inm ~= "" then
  wrk.headers["If-None-Match"] = inm
end

-- Checking every status in Lua costs the load generator time; only when asked.
-- Otherwise wrk's own count of non-2xx/3xx responses (err_status) is the check.
local expect = tonumber(os.getenv("BENCH_EXPECT") or "")
if expect then
  function response(status, headers, body)
    if status == expect then ok = ok + 1 else bad = bad + 1 end
  end
end
