package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// palette has a distinct color for each of the nine echo servers.
var palette = []color.Color{
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, color.RGBA{0xbc, 0xbd, 0x22, 0xff}, color.RGBA{0x7f, 0x7f, 0x7f, 0xff},
}

// writeCharts draws the echo matrix (each server's rate as a multiple of
// the C floor's, per cell), idle memory and system calls a message. A
// chart that fails is reported and skipped.
func writeCharts(dir string, su *suite) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("charts: %v", p)
		}
	}()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if su.Echo != nil {
		p := plot.New()
		p.Title.Text = "Echo: messages a second, as a multiple of the C epoll floor"
		p.Y.Label.Text = "÷ C epoll (median of rounds)"
		var names []string
		for _, c := range su.Cells {
			names = append(names, fmt.Sprintf("%dx%dB/%d", c.conns, c.size, c.depth))
		}
		n := len(su.Servers)
		w := vg.Points(6)
		top := 0.0
		for i, s := range su.Servers {
			var vals plotter.Values
			for _, c := range su.Cells {
				v := median(roundRatios(su.Echo[s][c], su.Echo[cFloor][c]))
				vals = append(vals, v)
				top = max(top, v)
			}
			b, err := plotter.NewBarChart(vals, w)
			if err != nil {
				return err
			}
			b.LineStyle.Width = 0
			b.Color = palette[i%len(palette)]
			b.Offset = w * vg.Length(i-n/2)
			p.Add(b)
			p.Legend.Add(s, b)
		}
		p.Legend.Top = true
		p.Legend.Left = true
		p.Y.Min, p.Y.Max = 0, top*1.6 // room for the legend above the bars
		p.X.Min, p.X.Max = -0.7, float64(len(names))-0.3
		p.Add(plotter.NewGrid())
		p.NominalX(names...)
		if err := p.Save(32*vg.Centimeter, 15*vg.Centimeter, filepath.Join(dir, "echo-matrix.png")); err != nil {
			return err
		}
	}
	if su.Idle != nil {
		var names []string
		var vals plotter.Values
		for _, s := range strings.Split(suiteIdle, ",") {
			if r, ok := su.Idle[s]; ok {
				names, vals = append(names, s), append(vals, r.PerConnKB)
			}
		}
		if err := bars(filepath.Join(dir, "idle-memory.png"), fmt.Sprintf("RSS a connection, %d idle connections", idleConns), "kB", names, vals, true); err != nil {
			return err
		}
	}
	if su.Syscalls != nil {
		var names []string
		var vals plotter.Values
		for _, s := range su.Servers {
			if r, ok := su.Syscalls[s]; ok && len(r) > 0 {
				names, vals = append(names, s), append(vals, r[0].PerMsg())
			}
		}
		if err := bars(filepath.Join(dir, "syscalls.png"), fmt.Sprintf("System calls a message, %v (strace -c -f)", syscallCells[0].cell), "calls", names, vals, false); err != nil {
			return err
		}
	}
	return nil
}

// bars draws one bar a server with its value written above it (a log
// axis would suit idle memory, but gonum's bars start at 0).
func bars(path, title, ylabel string, names []string, vals plotter.Values, _ bool) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	b, err := plotter.NewBarChart(vals, vg.Points(20))
	if err != nil {
		return err
	}
	b.Color = palette[1]
	xys := make(plotter.XYs, len(vals))
	labels := make([]string, len(vals))
	top := 0.0
	for i, v := range vals {
		xys[i] = plotter.XY{X: float64(i), Y: v}
		labels[i] = fmt.Sprintf("%.3g", v)
		top = max(top, v)
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign = -0.5 // centered over the bar
		l.TextStyle[i].YAlign = 0
	}
	p.Add(plotter.NewGrid(), b, l)
	p.Y.Min, p.Y.Max = 0, top*1.15
	p.X.Min, p.X.Max = -0.6, float64(len(names))-0.4
	p.NominalX(names...)
	return p.Save(22*vg.Centimeter, 10*vg.Centimeter, path)
}
