package main

import (
	"fmt"
	"strings"
)

// row is one case of a scenario: the medians of its runs, by key.
type row struct {
	Scenario string             `json:"scenario"`
	Case     string             `json:"case"`
	Runs     int                `json:"runs"`
	Values   map[string]float64 `json:"values"`
	Note     string             `json:"note,omitempty"`
	// Samples are the runs the medians in Values come from, in run order.
	Samples []map[string]float64 `json:"samples,omitempty"`
}

// column is how a table shows one value.
type column struct {
	key, head, format string
}

// chartSpec is one bar chart of a table: one bar per row (and per key when
// there are several keys: grouped bars).
type chartSpec struct {
	file, title string
	keys        []string
	legend      []string
}

// table is a scenario's output.
type table struct {
	scenario, title string
	cols            []column
	rows            []row
	chartSpecs      []chartSpec
	// chartRows, if set, are charted instead of rows.
	chartRows []row
	notes     []string
}

// add appends a case made of the medians of samples.
func (t *table) add(name string, samples []map[string]float64, note string) row {
	r := row{Scenario: t.scenario, Case: name, Runs: len(samples), Values: map[string]float64{}, Note: note, Samples: samples}
	keys := map[string]bool{}
	for _, s := range samples {
		for k := range s {
			keys[k] = true
		}
	}
	for k := range keys {
		var xs []float64
		for _, s := range samples {
			if v, ok := s[k]; ok {
				xs = append(xs, v)
			}
		}
		r.Values[k] = median(xs)
	}
	t.rows = append(t.rows, r)
	return r
}

func (t *table) print() {
	fmt.Printf("\n%s\n\n%s", t.title, t.markdown())
	for _, n := range t.notes {
		fmt.Println(n)
	}
}

// markdown is the table of medians as a markdown table, one line per row.
func (t *table) markdown() string {
	var b strings.Builder
	head, sep := []string{"case"}, []string{"---"}
	for _, c := range t.cols {
		head, sep = append(head, c.head), append(sep, "---")
	}
	fmt.Fprintf(&b, "| %s |\n|%s|\n", strings.Join(head, " | "), strings.Join(sep, "|"))
	for _, r := range t.rows {
		cells := []string{r.Case}
		for _, c := range t.cols {
			v, ok := r.Values[c.key]
			if !ok {
				cells = append(cells, "-")
				continue
			}
			cells = append(cells, fmt.Sprintf(c.format, v))
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	return b.String()
}
