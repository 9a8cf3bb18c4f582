package screen

// rowCache keeps the cells of the rows on screen, so that a row's cells are
// made again only when what they show may have changed (a new generation),
// not every time tview asks. tview asks for a cell several times per draw
// and keeps pointers to the cells during one draw, so every row of a draw
// needs a slot of its own: a draw shows consecutive rows, and the cache has
// twice as many slots as the table has lines. It is sized by the screen
// rather than for the tallest one: a fixed 512 rows of every column of both
// tables were 2.7 MiB of a 200,000-entry screen's 54, and the group view's
// were there before it was ever opened.
type rowCache[Cells any] struct {
	cells []Cells
	row   []int    // the row a slot holds, -1 for none
	gen   []uint64 // the generation of a slot's cells
}

// fit makes room for the rows of a table lines tall. Growing forgets every
// cell; shrinking keeps them (the slots left over cost little).
func (c *rowCache[Cells]) fit(lines int) {
	n := 2 * max(lines, 16)
	if len(c.cells) >= n {
		return
	}
	c.cells = make([]Cells, n)
	c.row = make([]int, n)
	c.gen = make([]uint64, n)
	for i := range c.row {
		c.row[i] = -1
	}
}

// get returns the slot of row, and whether its cells must be made for the
// generation gen: the slot held another row, or older cells.
func (c *rowCache[Cells]) get(row int, gen uint64) (cells *Cells, stale bool) {
	if len(c.cells) == 0 {
		c.fit(0) // asked before the first layout
	}
	s := row % len(c.cells)
	stale = c.row[s] != row || c.gen[s] != gen
	c.row[s], c.gen[s] = row, gen
	return &c.cells[s], stale
}
