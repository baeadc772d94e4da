-- wrk script for bench/compare.py: spread the requests round robin over N
-- keys (the script's first argument, default 10): the URL's path with its
-- trailing number replaced by 1..N, query string kept.
--   wrk -s keys.lua 'http://127.0.0.1:8080/api/channels/1?delay_ms=5' 10
-- -> /api/channels/1?delay_ms=5 ... /api/channels/10?delay_ms=5
-- Each wrk thread has its own Lua state, so each thread goes round robin.
local requests, i = {}, 0

function init(args)
  local n = tonumber(args[1]) or 10
  local path, query = wrk.path:match("^([^?]*)(.*)$")
  local prefix = path:match("^(.-)%d+$")
  assert(prefix, "keys.lua: the URL path must end in a number")
  for k = 1, n do
    requests[k] = wrk.format(nil, prefix .. k .. query)
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end
