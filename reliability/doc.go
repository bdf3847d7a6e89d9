// Package reliability holds the reliability suite of socketkit: tests
// that hold load, survive faults and take bad input, and report their
// figures as "FIGURE name=value" lines (collected into RELIABILITY.md by
// scripts/reliability.sh). It has no API; see the _test.go files.
package reliability
