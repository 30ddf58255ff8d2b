-- busted's plainTerminal output, and its counts written to the file named
-- by $PAYNET_BUSTED_COUNTS ("successes failures errors pending") when the
-- run ends: tools/check.sh reads the totals from busted itself, never from
-- text a failing spec may have printed or quoted.
return function(options)
  local busted = require "busted"
  local handler = require "busted.outputHandlers.plainTerminal"(options)
  local path = os.getenv("PAYNET_BUSTED_COUNTS")
  busted.subscribe({ "suite", "end" }, function()
    if path then
      local f = assert(io.open(path, "w"))
      f:write(("%d %d %d %d\n"):format(handler.successesCount, handler.failuresCount,
        handler.errorsCount, handler.pendingsCount))
      f:close()
    end
    return nil, true
  end)
  return handler
end
