-- bench/run.lua — make bench: paynet against the transport limit and the
-- peers, over HTTP and HTTPS, in one run on one machine.
--
-- Usage: lua5.4 bench/run.lua BUILD
-- Environment: BENCH_ROUNDS (default 5), BENCH_CALLS (default 3000 for the
-- libcurl-based contenders), BENCH_TUI_SECONDS (default 60).
--
-- Each contender runs BENCH_ROUNDS times, the contenders taking turns in a
-- rotating order, so that drift of the machine hits all alike; the table
-- shows the median of each and its ratio to (a), measured in the same run.
local socket = require "socket"

local build = arg[1] or "build"
local rounds = tonumber(os.getenv("BENCH_ROUNDS") or "5")
local calls = tonumber(os.getenv("BENCH_CALLS") or "3000")
local tui_seconds = tonumber(os.getenv("BENCH_TUI_SECONDS") or "60")

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function capture(command)
  local p = assert(io.popen(command, "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local work = capture("mktemp -d"):gsub("%s+$", "")
local pids = {}

local function cleanup()
  for _, pid in ipairs(pids) do os.execute("kill " .. pid .. " 2>/dev/null") end
  os.execute("tmux -S " .. quote(work .. "/tmux") .. " kill-server 2>/dev/null")
  os.execute("rm -rf " .. quote(work))
end

local function start_sandbox(name, extra)
  local out = work .. "/" .. name .. ".out"
  local pid = capture(("%s/paynet-sandbox --port 0 --quiet %s > %s 2>&1 & echo $!"):format(
    build, extra or "", quote(out))):match("%d+")
  pids[#pids + 1] = pid
  local deadline = socket.gettime() + 5
  while socket.gettime() < deadline do
    local url = (read(out) or ""):match("listening on (%S+)")
    if url then return url, pid end
    socket.sleep(0.01)
  end
  error("paynet-sandbox did not start")
end

-- runs a contender: its calls/s, and its CPU time over its wall time
-- (the shell's `times` reports the child's user and system seconds)
local last_cpu, last_cpu_per_call
local function run(command)
  local out, ok = capture("sh -c " .. quote(command .. " 2>&1; rc=$?; times; exit $rc"))
  local n, seconds, own = out:match("(%d+) ([%d.]+) ?([%d.]*)\n[^\n]*\n[^\n]*\n?$")
  local um, us, sm, ss = out:match("(%d+)m([%d.]+)s (%d+)m([%d.]+)s\n?$")
  if not ok or not n or not um then error(command .. " failed:\n" .. out) end
  if own ~= "" then
    -- the loop's own CPU time, to the microsecond or better: (a), (b), (c)
    last_cpu = tonumber(own) / tonumber(seconds)
    last_cpu_per_call = tonumber(own) / tonumber(n)
  else
    -- the shell's `times` (children included: the curl command line),
    -- in ticks of 10 ms: a run shorter than 0.2 s says nothing
    local cpu = tonumber(um) * 60 + tonumber(us) + tonumber(sm) * 60 + tonumber(ss)
    -- (start-up and child processes included: no per-call figure)
    last_cpu = tonumber(seconds) >= 0.2 and cpu / tonumber(seconds) or false
    last_cpu_per_call = false
  end
  return tonumber(n) / tonumber(seconds)
end

local median
-- the median CPU share of the runs long enough to time (nil: none was)
local function cpu_share(list)
  local timed = {}
  for _, v in ipairs(list) do if v then timed[#timed + 1] = v end end
  return #timed > 0 and median(timed) or nil
end

function median(list)
  local t = {}
  for i, v in ipairs(list) do t[i] = v end
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

local ok, failure = pcall(function()
  -- the machine
  local cpu = (read("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)") or "unknown CPU"
  local cores = capture("nproc"):gsub("%s+$", "")
  local kernel = capture("uname -sr"):gsub("%s+$", "")
  print(("machine: %s, %s cores, %s, %s"):format(cpu, cores, kernel, os.date("!%Y-%m-%d %H:%M UTC")))
  print(("method: %d rounds, contenders in rotating order; median calls/s; ratio to (a)"):format(rounds))
  print()

  os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 " ..
    "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null"):format(
    quote(work .. "/key.pem"), quote(work .. "/cert.pem")))
  local cainfo = work .. "/cert.pem"
  local http_url = start_sandbox("http", "--ttl 0")
  local https_url = start_sandbox("https", ("--ttl 0 --tls-cert %s --tls-key %s"):format(
    quote(cainfo), quote(work .. "/key.pem")))

  local results = {}
  for _, scheme in ipairs { "http", "https" } do
    local url = scheme == "http" and http_url or https_url
    local ca = scheme == "https" and quote(cainfo) or ""
    local peer_name = scheme == "http" and "luasocket socket.http.request" or "luasec ssl.https.request"
    local contenders = {
      { "(a) libcurl, one reused handle (the limit)", ("%s/bench-limit %s %d %s"):format(build, url, calls, ca) },
      { "(b) libpaynet paynet_send_otp (C)", ("%s/bench-core %s %d %s"):format(build, url, calls, ca) },
      { "(c) paynet Lua module client:send_otp", ("lua5.4 bench/module.lua %s %s %d %s"):format(build, url, calls, ca) },
      { "(d) " .. peer_name, ("lua5.4 bench/peer.lua %s %d %s"):format(url, calls // 30, ca) },
      { "(d) curl command line, once per call", ("sh bench/curl-cli.sh %s %d %s"):format(url, calls // 60, ca) },
    }
    local rates, cpus, per_call = {}, {}, {}
    for i = 1, #contenders do rates[i], cpus[i], per_call[i] = {}, {}, {} end
    for r = 1, rounds do
      for k = 0, #contenders - 1 do
        local i = (r - 1 + k) % #contenders + 1
        rates[i][#rates[i] + 1] = run(contenders[i][2])
        cpus[i][#cpus[i] + 1] = last_cpu
        per_call[i][#per_call[i] + 1] = last_cpu_per_call
      end
    end
    print(("%s (sandbox --ttl 0 on loopback)"):format(scheme:upper()))
    print(("  %-46s %10s %8s %10s %12s"):format("contender", "calls/s", "ratio", "client CPU",
      "CPU µs/call"))
    local limit = median(rates[1])
    local cpu_call = {}
    for i, c in ipairs(contenders) do
      local m = median(rates[i])
      local share = cpu_share(cpus[i])
      cpu_call[i] = cpu_share(per_call[i])
      local cpu = share and ("%9.0f %%"):format(100 * share) or ("%11s"):format("(too short)")
      local us = cpu_call[i] and ("%12.1f"):format(1e6 * cpu_call[i]) or ("%12s"):format("")
      print(("  %-46s %10.0f %8.3f %s %s"):format(c[1], m, m / limit, cpu, us))
    end
    -- which regime this run measured: when the bare loop keeps its CPU busy
    -- (its CPU time near its wall time), a ratio is the client's own cost;
    -- when it mostly waits (on the server, on wake-ups), ratios near 1.0
    -- hide that cost and only the instruction counts below show it
    local busy = cpu_share(cpus[1])
    if not busy then error("(a) ran under 0.2 s: raise BENCH_CALLS for a CPU share") end
    local regime = busy >= 0.85 and "CPU-bound" or "latency-bound"
    print(("  regime: %s ((a) spends %.0f %% of its wall time on the CPU)"):format(regime, 100 * busy))
    -- what a CPU-bound run would give, from each client's CPU time (user
    -- and system, loopback's kernel work included) per call: calls per
    -- CPU-second, (b) and (c) against (a)
    local cpu_bound = cpu_call[1] and cpu_call[3] and cpu_call[1] / cpu_call[3]
    if cpu_bound then
      print(("  calls per CPU-second, the CPU-bound ratio: (b) %.3f, (c) %.3f of (a)"):format(
        cpu_call[1] / cpu_call[2], cpu_bound))
    end
    results[scheme] = { limit = limit, module = median(rates[3]) / limit, regime = regime,
                        cpu_bound = cpu_bound }
    print()
  end

  -- the ledgers: the module's calls/s with each, and what each adds a send
  -- (claim and settle: two durable SQLite commits, two Redis round trips)
  do
    local redis_dir = work .. "/redis"
    os.execute("mkdir -p " .. quote(redis_dir))
    local redis_pid = capture(("redis-server --port 0 --unixsocket %s --save '' --appendonly no " ..
      "--dir %s --loglevel warning > %s 2>&1 & echo $!"):format(quote(redis_dir .. "/sock"),
      quote(redis_dir), quote(redis_dir .. "/log"))):match("%d+")
    pids[#pids + 1] = redis_pid
    local probe = assert(socket.bind("127.0.0.1", 0))
    local redis_port = select(2, probe:getsockname())
    probe:close()
    local tcp_pid
    if redis_port then
      tcp_pid = capture(("redis-server --port %s --bind 127.0.0.1 --save '' --appendonly no --dir %s " ..
        "--loglevel warning > %s 2>&1 & echo $!"):format(redis_port, quote(redis_dir),
        quote(redis_dir .. "/log-tcp"))):match("%d+")
      pids[#pids + 1] = tcp_pid
    end
    local deadline = socket.gettime() + 5
    while not os.execute("test -S " .. quote(redis_dir .. "/sock")) and socket.gettime() < deadline do
      socket.sleep(0.02)
    end
    socket.sleep(0.2)
    local ledgers = {
      { "memory", "memory" },
      { "sqlite: (WAL, synchronous=FULL)", "sqlite:" .. work .. "/ledger.db" },
      { "redis+unix:// (loopback socket)", "redis+unix://" .. redis_dir .. "/sock" },
    }
    if redis_port then
      ledgers[#ledgers + 1] = { "redis:// (TCP on 127.0.0.1)", "redis://127.0.0.1:" .. redis_port }
    end
    local ledger_calls = calls // 3
    local rates = {}
    for i = 1, #ledgers do rates[i] = {} end
    for r = 1, rounds do
      for k = 0, #ledgers - 1 do
        local i = (r - 1 + k) % #ledgers + 1
        rates[i][#rates[i] + 1] = run(("PAYNET_LEDGER=%s lua5.4 bench/module.lua %s %s %d"):format(
          quote(ledgers[i][2]), build, http_url, ledger_calls))
      end
    end
    print("Ledgers: (c) over HTTP with each ledger (claim before, settle after every send)")
    print(("  %-46s %10s %14s"):format("ledger", "calls/s", "adds a send"))
    local base = median(rates[1])
    results.ledger = {}
    for i, l in ipairs(ledgers) do
      local m = median(rates[i])
      local adds = (1 / m - 1 / base) * 1000
      results.ledger[l[1]] = adds
      print(("  %-46s %10.0f %11.3f ms"):format(l[1], m, adds))
    end
    print()

    -- what a send costs with many live holds: 0, 20 000 of this client's
    -- own sends (the ledger and its private copy hold them), and 1 000 000
    -- other desks' holds written straight into the ledger
    local holds_url = start_sandbox("holds") -- codes live 180 s: holds stay
    local holds_calls = tonumber(os.getenv("BENCH_HOLDS_CALLS") or "1000")
    print(("Live holds: the core's CPU per send (%d sends to new numbers) with N live holds"):format(holds_calls))
    print(("  %-34s %14s %14s %14s"):format("ledger", "0", "20 000 (own)", "1 000 000"))
    results.holds = {}
    for _, l in ipairs {
      { "memory", function() return "memory" end },
      { "sqlite:", function(n) local p = work .. "/holds-" .. n .. ".db"; os.remove(p); return "sqlite:" .. p end },
      { "redis+unix://", function()
          os.execute("redis-cli -s " .. quote(redis_dir .. "/sock") .. " FLUSHALL > /dev/null")
          return "redis+unix://" .. redis_dir .. "/sock" end },
    } do
      local us = {}
      for i, case in ipairs { { 0, "sends" }, { 20000, "sends" }, { 1000000, "direct" } } do
        local out, ok = capture(("%s/bench-holds %s %s %d %d %s 2>&1"):format(build, holds_url,
          quote(l[2](i)), case[1], holds_calls, case[2]))
        local cpu = out:match("^%d+ %d+ ([%d.]+)")
        if not ok or not cpu then error("bench-holds failed:\n" .. out) end
        us[i] = tonumber(cpu) / holds_calls * 1e6
      end
      results.holds[l[1]] = math.max(us[2], us[3]) / us[1]
      print(("  %-34s %11.0f us %11.0f us %11.0f us   (x%.2f, x%.2f)"):format(l[1], us[1], us[2], us[3],
        us[2] / us[1], us[3] / us[1]))
    end
    print()
  end

  -- the client's own CPU per call, in instructions: repeatable, whatever
  -- else the machine is doing (callgrind counts, not times).  Start-up is
  -- excluded: the difference of a short and a long run, per extra call.
  if os.execute("command -v valgrind > /dev/null") then
    local short, long = 200, 1200
    local function instructions(command)
      local out = capture(("valgrind --tool=callgrind --callgrind-out-file=/dev/null %s 2>&1"):format(command))
      local total = out:match("Collected : (%d+)")
      if not total then error("callgrind failed:\n" .. out) end
      return tonumber(total)
    end
    -- over HTTP, then over HTTPS (the verdict uses HTTP, as the issue asks)
    for _, scheme in ipairs { "http", "https" } do
      local url = scheme == "http" and http_url or https_url
      local ca = scheme == "https" and quote(cainfo) or ""
      local per_call = {}
      local commands = {
        { "(a)", function(n) return ("%s/bench-limit %s %d %s"):format(build, url, n, ca) end },
        { "(b)", function(n) return ("%s/bench-core %s %d %s"):format(build, url, n, ca) end },
        { "(c)", function(n) return ("lua5.4 bench/module.lua %s %s %d %s"):format(build, url, n, ca) end },
      }
      for i, c in ipairs(commands) do
        per_call[i] = (instructions(c[2](long)) - instructions(c[2](short))) / (long - short)
      end
      print(("Client CPU per call (%s, callgrind, start-up excluded): (a) %.1fk instructions, " ..
        "(b) %.1fk (x%.2f), (c) %.1fk (x%.2f)"):format(scheme:upper(), per_call[1] / 1000,
        per_call[2] / 1000, per_call[2] / per_call[1], per_call[3] / 1000, per_call[3] / per_call[1]))
      if scheme == "http" then
        results.instructions = { core = per_call[2] / per_call[1], module = per_call[3] / per_call[1] }
      end
    end
  end

  -- is the sandbox what (a) measures?  two clients at once
  local single, pair = {}, {}
  for _ = 1, 3 do
    single[#single + 1] = run(("%s/bench-limit %s %d"):format(build, http_url, calls))
    local a = work .. "/pair-a"
    local b = work .. "/pair-b"
    local t0 = socket.gettime()
    os.execute(("%s/bench-limit %s %d > %s & %s/bench-limit %s %d > %s; wait"):format(
      build, http_url, calls, quote(a), build, http_url, calls, quote(b)))
    local elapsed = socket.gettime() - t0
    assert(read(a):match("^%d+") and read(b):match("^%d+"), "a parallel client failed")
    pair[#pair + 1] = 2 * calls / elapsed
  end
  print(("Sandbox headroom (HTTP): one client %.0f calls/s, two clients together %.0f calls/s (x%.2f)"):format(
    median(single), median(pair), median(pair) / median(single)))

  -- resident memory of (c)
  local out = capture(("lua5.4 bench/module.lua %s %s 100000 --rss 2>&1"):format(build, http_url))
  local at10k = tonumber(out:match("rss 10000 (%d+)"))
  local at100k = tonumber(out:match("rss 100000 (%d+)"))
  if not at10k or not at100k then error("memory run failed:\n" .. out) end
  print(("Memory of (c): resident %d KiB after 10 000 calls, %d KiB after 100 000 (growth %d KiB)"):format(
    at10k, at100k, at100k - at10k))

  -- the operator screen during a countdown
  local sandbox_url = start_sandbox("tui")
  local sock = quote(work .. "/tmux")
  os.execute(("tmux -S %s -f /dev/null new-session -d -x 80 -y 24 %s"):format(sock,
    quote(("env LANG=C.UTF-8 PAYNET_SECRET_KEY=sck_sandbox XDG_STATE_HOME=%s %s/paynet-tui --base-url %s"):format(
      work, build, sandbox_url))))
  socket.sleep(0.5)
  os.execute(("tmux -S %s send-keys -l 5321234567; tmux -S %s send-keys Tab F2 Enter"):format(sock, sock))
  socket.sleep(1)
  local screen = capture(("tmux -S %s capture-pane -p"):format(sock))
  if not screen:find("valid", 1, true) then error("the screen did not start its countdown:\n" .. screen) end
  local pane = capture(("tmux -S %s display-message -p '#{pane_pid}'"):format(sock)):match("%d+")
  if not (read("/proc/" .. pane .. "/comm") or ""):match("^paynet%-tui") then
    -- the shell tmux started did not exec: the screen is its child
    for pid in capture("ls /proc"):gmatch("%d+") do
      local stat = read("/proc/" .. pid .. "/stat") or ""
      local comm, ppid = stat:match("^%d+ %((.*)%) %S+ (%d+)")
      if comm == "paynet-tui" and ppid == pane then pane = pid end
    end
  end
  assert((read("/proc/" .. pane .. "/comm") or ""):match("^paynet%-tui"), "paynet-tui not found")
  local function usage()
    local stat = read("/proc/" .. pane .. "/stat")
    local fields = {}
    for f in stat:match("%) (.*)"):gmatch("%S+") do fields[#fields + 1] = f end
    local status = read("/proc/" .. pane .. "/status")
    return tonumber(fields[12]) + tonumber(fields[13]),
           tonumber(status:match("voluntary_ctxt_switches:%s*(%d+)"))
  end
  local hz = tonumber((capture("getconf CLK_TCK"):gsub("%s+$", "")))
  local ticks0, wakes0 = usage()
  local t0 = socket.gettime()
  socket.sleep(tui_seconds)
  local ticks1, wakes1 = usage()
  local elapsed = socket.gettime() - t0
  local cpu = (ticks1 - ticks0) / hz / elapsed * 100
  print(("Operator screen during a countdown: %.2f %% CPU over %.0f s, %.1f wake-ups a second"):format(
    cpu, elapsed, (wakes1 - wakes0) / elapsed))

  print()
  local verdict = {}
  for _, scheme in ipairs { "http", "https" } do
    verdict[#verdict + 1] = ("(c)/(a) %s %.3f %s 0.95 (%s)"):format(scheme:upper(), results[scheme].module,
      results[scheme].module >= 0.95 and ">=" or "<", results[scheme].regime)
    local bound = results[scheme].cpu_bound
    if bound and results[scheme].regime ~= "CPU-bound" then
      verdict[#verdict + 1] = ("(c)/(a) %s per CPU-second %.3f %s 0.95"):format(scheme:upper(), bound,
        bound >= 0.95 and ">=" or "<")
    end
  end
  if results.instructions then
    verdict[#verdict + 1] = ("instructions (b)/(a) %.2f %s 1.10"):format(results.instructions.core,
      results.instructions.core <= 1.10 and "<=" or ">")
    verdict[#verdict + 1] = ("instructions (c)/(a) %.2f %s 1.20"):format(results.instructions.module,
      results.instructions.module <= 1.20 and "<=" or ">")
  end
  local sqlite_adds = results.ledger["sqlite: (WAL, synchronous=FULL)"]
  local redis_adds = results.ledger["redis+unix:// (loopback socket)"]
  local redis_tcp = results.ledger["redis:// (TCP on 127.0.0.1)"]
  verdict[#verdict + 1] = ("SQLite adds %.3f ms %s 1"):format(sqlite_adds, sqlite_adds < 1 and "<" or ">=")
  verdict[#verdict + 1] = ("Redis (unix) adds %.3f ms %s 0.3"):format(redis_adds, redis_adds < 0.3 and "<" or ">=")
  if redis_tcp then
    verdict[#verdict + 1] = ("Redis (TCP) adds %.3f ms %s 0.3"):format(redis_tcp, redis_tcp < 0.3 and "<" or ">=")
  end
  for _, name in ipairs { "memory", "sqlite:", "redis+unix://" } do
    local x = results.holds[name]
    verdict[#verdict + 1] = ("%s flat in live holds x%.2f %s 1.5"):format(name, x, x <= 1.5 and "<=" or ">")
  end
  verdict[#verdict + 1] = ("memory growth %d KiB %s 256"):format(at100k - at10k, at100k - at10k < 256 and "<" or ">=")
  verdict[#verdict + 1] = ("screen CPU %.2f %% %s 0.5"):format(cpu, cpu < 0.5 and "<" or ">=")
  print("targets: " .. table.concat(verdict, "; "))
end)

cleanup()
if not ok then
  io.stderr:write("make bench: ", tostring(failure), "\n")
  os.exit(1)
end
