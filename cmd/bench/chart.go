package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// Bar charts drawn with the standard library alone: bars, a baseline, grid
// lines, and labels in the 5x7 font of font.go.

var (
	colBG     = color.RGBA{255, 255, 255, 255}
	colInk    = color.RGBA{30, 30, 30, 255}
	colGrid   = color.RGBA{225, 225, 225, 255}
	colSeries = []color.RGBA{{52, 101, 164, 255}, {237, 125, 49, 255}, {84, 160, 84, 255}, {196, 60, 60, 255}}
)

const (
	chartW, chartH = 900, 460
	marginL        = 90
	marginR        = 30
	marginTop      = 70
	marginBottom   = 70
)

// canvas is an RGBA image with text and rectangle helpers.
type canvas struct{ *image.RGBA }

func (c canvas) rect(x0, y0, x1, y1 int, col color.RGBA) {
	for y := max(y0, 0); y < min(y1, chartH); y++ {
		for x := max(x0, 0); x < min(x1, chartW); x++ {
			c.SetRGBA(x, y, col)
		}
	}
}

// textWidth is the width of s drawn at scale.
func textWidth(s string, scale int) int {
	n := len([]rune(s))
	if n == 0 {
		return 0
	}
	return n*6*scale - scale
}

// text draws s with its top-left corner at (x, y).
func (c canvas) text(x, y int, s string, scale int, col color.RGBA) {
	for _, r := range s {
		g, ok := font5x7[unicode.ToUpper(r)]
		if !ok {
			g = font5x7['?']
		}
		for row, line := range g {
			for colI, ch := range line {
				if ch == '#' {
					c.rect(x+colI*scale, y+row*scale, x+(colI+1)*scale, y+(row+1)*scale, col)
				}
			}
		}
		x += 6 * scale
	}
}

// textCentered draws s centred on cx, shrinking the scale until it fits
// width.
func (c canvas) textCentered(cx, y int, s string, scale, width int, col color.RGBA) {
	for scale > 1 && textWidth(s, scale) > width {
		scale--
	}
	c.text(cx-textWidth(s, scale)/2, y, s, scale, col)
}

// fmtValue formats a bar's value with about three significant digits.
func fmtValue(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// fmtAxis formats a grid line's value with the decimals its step needs.
func fmtAxis(v, step float64) string {
	d := max(0, int(-math.Floor(math.Log10(step))))
	return fmt.Sprintf("%.*f", d, v)
}

// niceStep returns a grid step (1, 2 or 5 times a power of ten) giving
// about four lines up to top.
func niceStep(top float64) float64 {
	if top <= 0 {
		return 1
	}
	raw := top / 4
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// drawBars renders one chart: a group per row, a bar per key.
func drawBars(title string, rows []row, keys, legend []string) *image.RGBA {
	c := canvas{image.NewRGBA(image.Rect(0, 0, chartW, chartH))}
	c.rect(0, 0, chartW, chartH, colBG)
	c.textCentered(chartW/2, 18, title, 3, chartW-20, colInk)
	top := 0.0
	for _, r := range rows {
		for _, k := range keys {
			top = max(top, r.Values[k])
		}
	}
	step := niceStep(top * 1.1)
	top = math.Ceil(top*1.1/step) * step
	if top <= 0 {
		top = 1
	}
	plotH := chartH - marginTop - marginBottom
	y := func(v float64) int { return chartH - marginBottom - int(float64(plotH)*v/top+0.5) }
	for v := 0.0; v <= top+step/2; v += step {
		yy := y(v)
		c.rect(marginL, yy, chartW-marginR, yy+1, colGrid)
		lbl := fmtAxis(v, step)
		c.text(marginL-8-textWidth(lbl, 2), yy-7, lbl, 2, colInk)
	}
	plotW := chartW - marginL - marginR
	groupW := plotW / max(len(rows), 1)
	barW := min(groupW*7/10/max(len(keys), 1), 140)
	for i, r := range rows {
		gx := marginL + i*groupW + (groupW-barW*len(keys))/2
		for j, k := range keys {
			v := r.Values[k]
			x0 := gx + j*barW
			c.rect(x0+2, y(v), x0+barW-2, chartH-marginBottom, colSeries[j%len(colSeries)])
			c.textCentered(x0+barW/2, y(v)-20, fmtValue(v), 2, barW+8, colInk)
		}
		c.textCentered(marginL+i*groupW+groupW/2, chartH-marginBottom+12, strings.ToUpper(r.Case), 2, groupW-6, colInk)
	}
	c.rect(marginL, chartH-marginBottom, chartW-marginR, chartH-marginBottom+2, colInk)
	if len(legend) > 1 {
		x := marginL
		for j, l := range legend {
			c.rect(x, chartH-24, x+16, chartH-10, colSeries[j%len(colSeries)])
			c.text(x+22, chartH-24, l, 2, colInk)
			x += 22 + textWidth(l, 2) + 30
		}
	}
	return c.RGBA
}

// charts writes the table's charts into dir and returns their paths.
func (t *table) charts(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rows := t.rows
	if t.chartRows != nil {
		rows = t.chartRows
	}
	var out []string
	for _, cs := range t.chartSpecs {
		img := drawBars(cs.title, rows, cs.keys, cs.legend)
		p := filepath.Join(dir, cs.file)
		f, err := os.Create(p)
		if err != nil {
			return out, err
		}
		if err := png.Encode(f, img); err != nil {
			f.Close()
			return out, err
		}
		if err := f.Close(); err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}
