-- Writes the sandbox's fault list into the README's table and the man
-- page, from the one table in sandbox/sandbox.c (paynet-sandbox --scenarios
-- on standard input). Each file keeps the list between two marker lines.
--   lua5.4 tools/scenarios.lua          rewrite README.md and man/paynet-sandbox.1
--   lua5.4 tools/scenarios.lua --check  exit 1 if either differs from the list
local check = arg[1] == "--check"
local faults = {}
for line in io.read("a"):gmatch("[^\n]+") do
  local number, meaning = line:match("^(50000001%d%d)  (.+)$")
  if number then faults[#faults + 1] = { number = number, meaning = meaning } end
end
if #faults == 0 then
  io.stderr:write("scenarios: no fault lines on standard input\n")
  os.exit(2)
end

local function readme_rows()
  local rows = { "", "| number | answer |", "|---|---|",
                 "| `50000000NN` (NN = 01..99) | HTTP 200 with result code NN (`5000000007` → 7 unauthorized) |" }
  for _, f in ipairs(faults) do rows[#rows + 1] = ("| `%s` | %s |"):format(f.number, f.meaning) end
  rows[#rows + 1] = ""
  return table.concat(rows, "\n")
end

local function man_items()
  local items = {}
  for i, f in ipairs(faults) do
    items[i] = (".TP\n.B %s\n%s"):format(f.number:sub(9), (f.meaning:gsub("\\", "\\e"):gsub("%-", "\\-")))
  end
  return table.concat(items, "\n")
end

local files = {
  { path = "README.md", first = "<!-- faults: from paynet-sandbox --scenarios (make scenarios) -->",
    last = "<!-- end of faults -->", body = readme_rows },
  { path = "man/paynet-sandbox.1", first = '.\\" faults: from paynet-sandbox --scenarios (make scenarios)',
    last = '.\\" end of faults', body = man_items },
}

local stale = 0
for _, f in ipairs(files) do
  local fh = assert(io.open(f.path, "rb"))
  local text = fh:read("a")
  fh:close()
  local a = text:find(f.first, 1, true)
  local b = a and text:find(f.last, a, true)
  if not (a and b) then
    io.stderr:write(("scenarios: %s lacks the marker lines\n"):format(f.path))
    os.exit(2)
  end
  local new = text:sub(1, a + #f.first) .. f.body() .. "\n" .. text:sub(b)
  if new ~= text then
    stale = stale + 1
    if check then
      io.stderr:write(("scenarios: %s does not list the sandbox's faults: run make scenarios\n"):format(f.path))
    else
      fh = assert(io.open(f.path, "wb"))
      fh:write(new)
      fh:close()
      print("scenarios: rewrote " .. f.path)
    end
  end
end
os.exit(check and stale > 0 and 1 or 0)
