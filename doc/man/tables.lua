-- tables.lua -- pandoc filter for the man pages: fit every table in an
-- 80-column terminal. pandoc's man writer gives a table 70 en in all,
-- which with tbl's 3 en between columns and man's 7 en indent overflows
-- 80 columns (groff warns "table wider than line width"). What is left
-- after the gaps is shared by the columns in proportion to their longest
-- cell (counted from 8 to 40 characters), so a column of short names stays
-- narrow and one of sentences gets the room.
local stringify = pandoc.utils.stringify

local function measure(rows, longest)
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row.cells) do
      local n = math.min(40, math.max(8, #stringify(cell.contents)))
      longest[i] = math.max(longest[i] or 8, n)
    end
  end
end

function Table(t)
  local n = #t.colspecs
  local longest = {}
  measure(t.head.rows, longest)
  for _, body in ipairs(t.bodies) do
    measure(body.body, longest)
  end
  local sum = 0
  for i = 1, n do
    sum = sum + (longest[i] or 8)
  end
  local total = 0.92 - 0.045 * (n - 1)
  for i, spec in ipairs(t.colspecs) do
    t.colspecs[i] = {spec[1], total * (longest[i] or 8) / sum}
  end
  return t
end
