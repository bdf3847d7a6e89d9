package main

import (
	"fmt"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// writeCharts draws the echo matrix (each server's rate as a multiple of
// the C floor's, per cell), idle memory and system calls a message.
func writeCharts(dir string, su *suite) error {
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
		w := vg.Points(7)
		for i, s := range su.Servers {
			var vals plotter.Values
			for _, c := range su.Cells {
				vals = append(vals, median(roundRatios(su.Echo[s][c], su.Echo[cFloor][c])))
			}
			b, err := plotter.NewBarChart(vals, w)
			if err != nil {
				return err
			}
			b.LineStyle.Width = 0
			b.Color = plotutil.Color(i)
			b.Offset = w * vg.Length(i-n/2)
			p.Add(b)
			p.Legend.Add(s, b)
		}
		p.Legend.Top = true
		p.NominalX(names...)
		if err := p.Save(30*vg.Centimeter, 14*vg.Centimeter, filepath.Join(dir, "echo-matrix.png")); err != nil {
			return err
		}
	}
	if su.Idle != nil {
		var names []string
		var vals plotter.Values
		for _, s := range su.Servers {
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

func bars(path, title, ylabel string, names []string, vals plotter.Values, logY bool) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		for i, v := range vals {
			if v <= 0.001 {
				vals[i] = 0.001
			}
		}
	}
	b, err := plotter.NewBarChart(vals, vg.Points(20))
	if err != nil {
		return err
	}
	b.Color = plotutil.Color(0)
	p.Add(b)
	p.NominalX(names...)
	return p.Save(22*vg.Centimeter, 10*vg.Centimeter, path)
}
