// Package toxiproxy runs socketkit's servers behind toxiproxy (v2.12.0,
// in-process) to check what they do with latency, sliced reads, cut
// streams, resets and blackholes. It is a module of its own so that
// toxiproxy's fifty dependencies stay out of socketkit's.
package toxiproxy
