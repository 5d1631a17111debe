-- pipeline.lua: a wrk script that pipelines HTTP requests. Each write sends
-- `depth` GETs of the URL's path (8 unless given after "--"), and wrk reads
-- `depth` replies before sending the next batch:
--
--   wrk -t1 -c50 -d3s -s examples/httpd/pipeline.lua http://127.0.0.1:8080/ -- 8
--
-- The requests differ by their query string, so a log shows them apart; the
-- server ignores the query when it looks for the file.

init = function(args)
   local depth = tonumber(args[1]) or 8
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil, wrk.path .. "?pipelined=" .. i)
   end
   req = table.concat(r)
end

request = function()
   return req
end
