-- Sends DEPTH requests at a time on each connection (HTTP pipelining), as
-- TechEmpower's plaintext test does:  wrk ... -s pipeline.lua URL -- 16
init = function(args)
  local depth = tonumber(args[1]) or 1
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()
  end
  batch = table.concat(r)
end

request = function()
  return batch
end
