//go:build !linux

package cli

// The explanations describe Linux's errno values and causes; elsewhere
// sock explain knows none and says so.
var explanations []explanation
