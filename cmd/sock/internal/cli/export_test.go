package cli

// Helpers the black-box tests use to print facts as the lessons do.
var (
	Thousands  = thousands
	ErrnoText  = errnoText
	ErrnoCName = errnoCName
	SelfSigned = selfSigned
	HeadEnd    = headEnd
)
