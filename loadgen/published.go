package loadgen

// Row is one S×P cell of the matrix.
type Row struct {
	S, P int
}

// Published is one row of the November 2016 table (benchmark.md,
// published-2016.csv): mean round time in milliseconds.
type Published struct {
	Row
	DeepstreamMs float64
	SocketIOMs   float64
}

// Published2016 is the table the 2016 blog post published, in its order.
var Published2016 = []Published{
	{Row{10, 1}, 1.28, 0.26},
	{Row{10, 5}, 1.33, 1.15},
	{Row{100, 10}, 1.63, 19.38},
	{Row{100, 50}, 1.81, 93.72},
	{Row{1000, 100}, 10.87, 2118},
	{Row{1000, 500}, 22.97, 10496},
	{Row{10000, 1000}, 194.83, 262665},
	{Row{10000, 5000}, 711.50, 1318330},
}

// QuickRows are the small rows run by `-rows quick`.
var QuickRows = []Row{{10, 1}, {10, 5}, {100, 10}, {100, 50}}

// AllRows returns the eight published rows.
func AllRows() []Row {
	rows := make([]Row, len(Published2016))
	for i, p := range Published2016 {
		rows[i] = p.Row
	}
	return rows
}

func publishedFor(r Row) (Published, bool) {
	for _, p := range Published2016 {
		if p.Row == r {
			return p, true
		}
	}
	return Published{}, false
}
