-- One send through the module in a process of its own, for the ledger specs:
--   lua5.4 spec/send_child.lua URL LEDGER GSM SESSION TIMEOUT UNKNOWN_HOLD OPERATOR [START_AT]
-- prints "sent" or "<kind> <holder state or -> <message>"; exit 0 when sent.
-- With START_AT (Unix time), it waits until then to send, so that racing
-- processes started one after another claim at the same moment.
local paynet = require "paynet"
local socket = require "socket"
local url, ledger, gsm, session, timeout, unknown_hold, operator, start_at = table.unpack(arg, 1, 8)
local c = paynet.new { secret_key = "sck_sandbox", base_url = url, ledger = ledger,
                       timeout = tonumber(timeout), unknown_hold = tonumber(unknown_hold),
                       operator = operator, program = "send_child" }
c:remaining(gsm) -- connects to the ledger before the race
while start_at and socket.gettime() < tonumber(start_at) do socket.sleep(0.0005) end
local res, err = c:send_otp { user_gsm = gsm, otp_session_id = session }
if res then
  print("sent")
  os.exit(0)
end
print(("%s %s %s"):format(err.kind, err.holder and err.holder.state or "-", err.message))
os.exit(1)
