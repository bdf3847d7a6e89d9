module github.com/socketkit/socketkit/bench

go 1.26.0

require golang.org/x/sys v0.50.0

replace github.com/socketkit/socketkit => ../
