-- spec/helper.lua — starts and stops real sandboxes on loopback, makes test
-- certificates and unique phone numbers.  Every sandbox pid is recorded in
-- $PAYNET_SPEC_TMP/pids so that tools/check.sh stops it even when a spec
-- dies half-way.
local socket = require "socket"

local H = {}

-- the build the specs run against (build-asan/ for make check-asan), and
-- the Lua that can load its module
H.build = os.getenv("PAYNET_BUILD") or "build"
H.lua = os.getenv("PAYNET_LUA") or "lua5.4"
H.sandbox_bin = "./" .. H.build .. "/paynet-sandbox"
-- how much slower than native this run is (valgrind: PAYNET_SLOW)
H.slow = os.getenv("PAYNET_SLOW") and 5 or 1
H.key = "sck_sandbox"

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
H.quote = quote

function H.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

function H.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- Everything the programs print is also kept in $PAYNET_SPEC_TMP/outputs/,
-- where tools/check.sh looks for secret keys once every spec has run.
function H.record(kind, text)
  local dir = os.getenv("PAYNET_SPEC_TMP")
  if not dir or not text or text == "" then return end
  local f = io.open(dir .. "/outputs-" .. kind .. ".txt", "a")
  if f then f:write(text, "\n"); f:close() end
end

-- Runs a shell command: its output, exit status and success.  The output is
-- recorded (see H.record) unless `unrecorded` (documentation, which names
-- the sandbox's public default key).
function H.capture(command, unrecorded)
  local p = assert(io.popen(command, "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  if not unrecorded then H.record("commands", out) end
  return out, code, ok
end

function H.tmpdir()
  local dir = H.capture("mktemp -d"):gsub("%s+$", "")
  return dir
end

-- A ledger no other client of this process shares ("memory" is one table
-- for the whole process): a fresh SQLite file under the run's folder.
local private_dir, private_count = nil, 0
function H.private_ledger()
  private_dir = private_dir or os.getenv("PAYNET_SPEC_TMP") or H.tmpdir()
  private_count = private_count + 1
  return ("sqlite:%s/private-ledger-%d.db"):format(private_dir, private_count)
end

-- A client of the sandbox at url (options as paynet.new's): the specs' key
-- and, unless options name one, a ledger of its own, so that each case
-- starts from no holds ("memory" is the process's one table)
function H.client(url, options)
  options = options or {}
  options.secret_key = options.secret_key or H.key
  options.base_url = url
  options.ledger = options.ledger or H.private_ledger()
  return require("paynet").new(options)
end

function H.now() return socket.gettime() end
function H.sleep(s) socket.sleep(s) end

-- polls fn until it returns a true value, and returns that value and the
-- seconds it took; fails the spec with `what` after `timeout` seconds
function H.wait_until(fn, timeout, what)
  local t0 = H.now()
  local deadline = t0 + (timeout or 5)
  repeat
    local v = fn()
    if v then return v, H.now() - t0 end
    H.sleep(0.01)
  until H.now() > deadline
  error("timed out waiting for " .. (what or "a condition"), 2)
end

-- busted keeps one `finally` per test, the last one given: H.defer(finally,
-- fn) gathers them all, and the one registered runs them newest first.
local deferred = {}
function H.defer(finally, fn)
  deferred[#deferred + 1] = fn
  finally(function()
    local list = deferred
    deferred = {}
    for i = #list, 1, -1 do pcall(list[i]) end
  end)
end

local function remember_pid(pid)
  local dir = os.getenv("PAYNET_SPEC_TMP")
  if dir then
    local f = io.open(dir .. "/pids", "a")
    if f then f:write(pid, "\n"); f:close() end
  end
end

-- a zombie (dead, not yet reaped by whoever adopted it) is not alive
local function alive(pid)
  local stat = H.read("/proc/" .. pid .. "/stat")
  if stat and stat:match("^%d+ %(.*%) (%a)") == "Z" then return false end
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end
H.alive = alive

-- kills pid with signal and waits until it is gone
function H.kill(pid, signal)
  os.execute(("kill -%s %s 2>/dev/null"):format(signal or "TERM", pid))
  H.wait_until(function() return not alive(pid) end, 5, "process " .. pid .. " to end")
end

local Sandbox = {}
Sandbox.__index = Sandbox

-- opts: ttl, secret_key, clock_offset, tls = {cert=, key=}, quiet, args
function H.start_sandbox(opts)
  opts = opts or {}
  local dir = H.tmpdir()
  local args = { "--port", "0" }
  if opts.ttl then args[#args + 1] = "--ttl"; args[#args + 1] = tostring(opts.ttl) end
  if opts.secret_key then args[#args + 1] = "--secret-key"; args[#args + 1] = opts.secret_key end
  if opts.clock_offset then
    args[#args + 1] = "--clock-offset"; args[#args + 1] = tostring(opts.clock_offset)
  end
  if opts.tls then
    args[#args + 1] = "--tls-cert"; args[#args + 1] = opts.tls.cert
    args[#args + 1] = "--tls-key"; args[#args + 1] = opts.tls.key
  end
  if opts.quiet then args[#args + 1] = "--quiet" end
  for i, a in ipairs(args) do args[i] = quote(a) end
  local command = string.format("%s %s >%s 2>%s & echo $!", H.sandbox_bin,
    table.concat(args, " "), quote(dir .. "/out"), quote(dir .. "/log"))
  local pid = H.capture(command):match("%d+")
  assert(pid, "could not start " .. H.sandbox_bin)
  remember_pid(pid)
  local self = setmetatable({ pid = pid, dir = dir, log_path = dir .. "/log" }, Sandbox)
  local deadline = H.now() + 5
  while H.now() < deadline do
    local out = H.read(dir .. "/out") or ""
    local url = out:match("^listening on (%S+)\n")
    if url then
      self.url = url
      self.stdout = out
      return self
    end
    if not alive(pid) then break end
    H.sleep(0.01)
  end
  self:stop()
  error("paynet-sandbox did not start: " .. (H.read(dir .. "/log") or ""))
end

function Sandbox:log() return H.read(self.log_path) or "" end

-- requests answered so far: every answer logs exactly one "->" line
function Sandbox:requests()
  local n = 0
  for line in self:log():gmatch("[^\n]+") do
    if line:find(" -> ", 1, true) and not line:find("GET /probe-", 1, true) then n = n + 1 end
  end
  return n
end

-- requests for fault NN that reached the sandbox: it logs "-> fault NN"
-- when one arrives (before holding, dripping or answering it)
function Sandbox:arrivals(fault)
  return select(2, self:log():gsub("%-> fault " .. fault .. "\n", ""))
end

function Sandbox:connections()
  local n = 0
  for _ in self:log():gmatch("connection %d+ opened") do n = n + 1 end
  return n
end

-- requests answered before a probe the spec sends now: whatever a call that
-- has returned sent reached the sandbox before the probe did, so when the
-- probe's own line is in the log, so is theirs. Counts no probe.
function Sandbox:requests_now()
  self.probes = (self.probes or 0) + 1
  local path = "/probe-" .. self.probes
  os.execute(("curl -sk -o /dev/null --max-time 5 %s"):format(quote(self.url .. path)))
  H.wait_until(function() return self:log():find("GET " .. path .. " -> ", 1, true) end, 5,
    "the sandbox to log " .. path)
  return self:requests()
end

-- runs a shell command in the background as soon as the log gains a line
-- holding `text` (mid-send events: "kill Redis once the request arrived");
-- close the returned handle to wait for it
function Sandbox:on_log(text, command)
  local _, lines = self:log():gsub("\n", "")
  return io.popen(("until tail -n +%d %s | grep -qF -- %s; do sleep 0.01; done; %s"):format(
    lines + 1, quote(self.log_path), quote(text), command))
end

-- waits for the log to settle: the sandbox logs just after it answers
function Sandbox:requests_settled(expected)
  local deadline = H.now() + 2
  local n = self:requests()
  while n < (expected or 0) and H.now() < deadline do
    H.sleep(0.01)
    n = self:requests()
  end
  return n
end

function Sandbox:stop(signal)
  if self.pid and alive(self.pid) then
    os.execute("kill -" .. (signal or "TERM") .. " " .. self.pid)
    local deadline = H.now() + 5
    while alive(self.pid) and H.now() < deadline do H.sleep(0.01) end
  end
  self.stopped = not alive(self.pid)
  return self.stopped
end

function Sandbox:remove()
  self:stop()
  H.record("sandbox-logs", self:log())
  os.execute("rm -rf " .. quote(self.dir))
end

-- The sandbox that tools/check.sh started, or one of our own.
local shared
function H.shared()
  if shared then return shared end
  local url, log = os.getenv("PAYNET_SANDBOX_URL"), os.getenv("PAYNET_SANDBOX_LOG")
  if url and log then
    shared = setmetatable({ url = url, log_path = log }, Sandbox)
  else
    -- run outside tools/check.sh: ours to stop when Lua closes
    shared = H.start_sandbox()
    H.stop_at_exit = setmetatable({}, { __gc = function() shared:remove() end })
  end
  return shared
end

-- A self-signed certificate for `name` (default localhost + 127.0.0.1).
function H.make_cert(dir, name)
  name = name or "localhost"
  local san = name == "localhost" and "DNS:localhost,IP:127.0.0.1" or ("DNS:" .. name)
  local cert, key = dir .. "/" .. name .. ".crt", dir .. "/" .. name .. ".key"
  local command = string.format(
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 " ..
    "-subj /CN=%s -addext subjectAltName=%s 2>/dev/null",
    quote(key), quote(cert), name, san)
  assert(os.execute(command), "openssl could not make a certificate")
  return { cert = cert, key = key }
end

-- A free TCP port on 127.0.0.1 that nothing listens on.
function H.closed_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

-- ---- a private redis-server ----------------------------------------------

local Redis = {}
Redis.__index = Redis

-- A redis-server of our own on a unix socket in a fresh folder (or opts.dir)
-- and on a free loopback port, no persistence; opts.password sets
-- requirepass.  Stopped by its pid (recorded for tools/check.sh too).
function H.start_redis(opts)
  opts = opts or {}
  local dir = opts.dir or H.tmpdir() -- opts.dir: the same socket path again
  os.execute("rm -f " .. quote(dir .. "/redis.sock"))
  local port = H.closed_port()
  local args = { "--port", tostring(port), "--bind", "127.0.0.1", "--unixsocket", dir .. "/redis.sock",
                 "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", dir,
                 "--daemonize", "no", "--loglevel", "warning" }
  if opts.password then args[#args + 1] = "--requirepass"; args[#args + 1] = opts.password end
  for i, a in ipairs(args) do args[i] = quote(a) end
  local pid = H.capture(("redis-server %s >%s 2>&1 & echo $!"):format(table.concat(args, " "),
    quote(dir .. "/log"))):match("%d+")
  assert(pid, "could not start redis-server")
  remember_pid(pid)
  local self = setmetatable({ pid = pid, dir = dir, port = port, socket = dir .. "/redis.sock",
                              password = opts.password }, Redis)
  local auth = opts.password and (":" .. opts.password .. "@") or ""
  self.url = ("redis://%s127.0.0.1:%d"):format(auth, port)
  self.unix_url = "redis+unix://" .. self.socket
  local deadline = H.now() + 5
  while H.now() < deadline do
    local ok = os.execute("test -S " .. quote(self.socket))
    if ok and self:cli("PING"):find("PONG") then return self end
    if not alive(pid) then break end
    H.sleep(0.02)
  end
  self:stop()
  error("redis-server did not start: " .. (H.read(dir .. "/log") or ""))
end

-- redis-cli over the socket: its output
function Redis:cli(args)
  local auth = self.password and ("--no-auth-warning -a " .. quote(self.password)) or ""
  return (H.capture(("redis-cli -s %s %s %s 2>&1"):format(quote(self.socket), auth, args), true))
end

function Redis:stop()
  if alive(self.pid) then
    os.execute("kill -TERM " .. self.pid)
    local deadline = H.now() + 5
    while alive(self.pid) and H.now() < deadline do H.sleep(0.01) end
  end
  return not alive(self.pid)
end

function Redis:remove()
  self:stop()
  os.execute("rm -rf " .. quote(self.dir))
end

-- A relay (spec/relay.lua) in front of 127.0.0.1:target_port that holds
-- each chunk `delay` seconds both ways: { port =, pid =, stop = function }.
function H.start_relay(target_port, delay)
  local dir = H.tmpdir()
  local pid = H.capture(("lua5.4 spec/relay.lua %s %d %s >/dev/null 2>&1 & echo $!"):format(
    quote(dir), target_port, delay)):match("%d+")
  assert(pid, "could not start the relay")
  remember_pid(pid)
  local port = H.wait_until(function() return tonumber(H.read(dir .. "/port") or "") end, 5, "the relay")
  return { port = port, pid = pid, stop = function()
    os.execute("kill " .. pid .. " 2>/dev/null")
    os.execute("rm -rf " .. quote(dir))
  end }
end

-- A Lua process that sends one OTP through the module (spec/send_child.lua):
-- the shell command, to run with H.capture or in the background.
-- o: url, ledger, gsm, session, timeout, unknown_hold, operator, start_at
function H.child_command(o)
  return ("env LUA_CPATH=%s %s spec/send_child.lua %s %s %s %s %s %s %s %s"):format(
    quote("./" .. H.build .. "/?.so;;"), H.lua,
    quote(o.url), quote(o.ledger), quote(o.gsm), quote(o.session or H.session()),
    quote(o.timeout or 5), quote(o.unknown_hold or 180), quote(o.operator or "child"),
    o.start_at and quote(("%.3f"):format(o.start_at)) or "")
end

-- Runs Lua `code` in a process of its own with the build's module (the
-- sanitizer builds' Lua host takes only a script file): its output.
-- env: "NAME=value ..." to set.
function H.lua_script(code, env)
  local dir = H.tmpdir()
  H.write(dir .. "/script.lua", code)
  local out, code_ = H.capture(("env %s LUA_CPATH=%s %s %s 2>&1"):format(env or "",
    quote("./" .. H.build .. "/?.so;;"), H.lua, quote(dir .. "/script.lua")))
  os.execute("rm -rf " .. quote(dir))
  return out, code_
end

-- ---- the operator screen in tmux -------------------------------------------

H.tui_bin = "./" .. H.build .. "/paynet-tui"

local Tui = {}
Tui.__index = Tui

-- opts: args (list), env (table of NAME = value; PAYNET_SECRET_KEY defaults
-- to the sandbox's key), x, y.  The screen runs in a private tmux server;
-- when it exits, the pane prints "EXIT:<status>" on the restored terminal.
function H.start_tui(opts)
  opts = opts or {}
  local dir = H.tmpdir()
  -- each screen keeps its default ledger in a state folder of its own
  local env = { LANG = "C.UTF-8", TERM = "screen-256color", PAYNET_SECRET_KEY = H.key,
                XDG_STATE_HOME = dir, PAYNET_LEDGER = false }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local parts = { "env", "-u", "NO_COLOR", "-u", "PAYNET_LEDGER", "-u", "LC_ALL", "-u", "LC_MESSAGES",
                  "-u", "LANGUAGE" }
  for k, v in pairs(env) do
    if v ~= false then parts[#parts + 1] = quote(k .. "=" .. v) end
  end
  parts[#parts + 1] = H.tui_bin
  for _, a in ipairs(opts.args or {}) do parts[#parts + 1] = quote(a) end
  if opts.stdin then parts[#parts + 1] = "<" .. quote(opts.stdin) end
  local command = table.concat(parts, " ") .. '; echo "EXIT:$?"; exec sleep 600'
  local self = setmetatable({ dir = dir, sock = dir .. "/sock", secret = env.PAYNET_SECRET_KEY }, Tui)
  local ok = os.execute(("tmux -S %s -f /dev/null new-session -d -x %d -y %d %s"):format(
    quote(self.sock), opts.x or 80, opts.y or 24, quote(command)))
  assert(ok, "tmux could not start")
  -- the tmux server's pid: killing it ends the screen, even if a spec dies
  local server = self:tmux("display-message -p '#{pid}'"):match("%d+")
  if server then remember_pid(server) end
  return self
end

function Tui:tmux(args)
  return H.capture(("tmux -S %s %s 2>&1"):format(quote(self.sock), args))
end

-- the screen as text; with_escapes keeps colours and attributes
function Tui:screen(with_escapes)
  local text = self:tmux("capture-pane -p" .. (with_escapes and " -e" or ""))
  H.record("screens", text)
  if self.secret and #self.secret > 0 then
    assert(not text:find(self.secret, 1, true), "the secret key is on the screen")
  end
  return text
end

-- waits until the screen shows `text` (plain); returns the screen
function Tui:wait_for(text, timeout)
  local deadline = H.now() + (timeout or 5)
  local screen
  repeat
    screen = self:screen()
    if screen:find(text, 1, true) then return screen end
    H.sleep(0.05)
  until H.now() > deadline
  error(("screen never showed %q; it shows:\n%s"):format(text, screen), 2)
end

-- waits until the screen no longer shows `text`; returns the screen
function Tui:wait_gone(text, timeout)
  local screen
  H.wait_until(function()
    screen = self:screen()
    return not screen:find(text, 1, true)
  end, timeout or 5, "the screen to drop " .. text)
  return screen
end

function Tui:keys(...)
  for _, k in ipairs { ... } do self:tmux("send-keys " .. quote(k)) end
end

function Tui:type(text) self:tmux("send-keys -l " .. quote(text)) end

function Tui:format(f) return (self:tmux("display-message -p " .. quote(f)):gsub("\n$", "")) end

function Tui:resize(x, y) self:tmux(("resize-window -x %d -y %d"):format(x, y)) end

function Tui:pid() return self:format("#{pane_pid}") end

-- The pid of the child of `parent` whose command is `name`, read from /proc
-- (procps is not on a minimal Debian).
function H.child_pid(parent, name)
  for pid in H.capture("ls /proc"):gmatch("%d+") do
    local stat = H.read("/proc/" .. pid .. "/stat")
    if stat then
      local comm, ppid = stat:match("^%d+ %((.*)%) %S+ (%d+)")
      if comm == name and ppid == tostring(parent) then return pid end
    end
  end
end

-- The paynet-tui process of this screen.
function Tui:program_pid()
  return H.child_pid(self:pid(), "paynet-tui")
end

function Tui:stop()
  -- the program first, then its terminal: a spec never leaves one running
  local pid = self:program_pid()
  if pid then pcall(H.kill, pid, "TERM") end
  self:tmux("kill-server")
  os.execute("rm -rf " .. quote(self.dir))
end

-- Unique ordinary numbers (51.. to 59..), never the scenario ranges.
local base = math.random(100000000, 800000000)
local count = 0
function H.gsm()
  count = count + 1
  return string.format("5%09d", base + count)
end

function H.session()
  count = count + 1
  return "spec-" .. count
end

return H
