package socket

import "strings"

// ServByPortIn and ServByNameIn run the services lookups over a table read
// from text in the services(5) format, or over the built-in table (the one
// used on a machine without /etc/services) when text is "".
func ServByPortIn(text string, port int, proto string) (string, bool) {
	return servTableOf(text).byPort(port, proto)
}

func ServByNameIn(text, name, proto string) (int, bool) {
	return servTableOf(text).byName(name, proto)
}

func servTableOf(text string) servTable {
	if text == "" {
		return builtinServices
	}
	return parseServices(strings.NewReader(text))
}
