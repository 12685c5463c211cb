package queue

import "strings"

// prefix starts every message of this package.
const prefix = "queue: "

// opError names the operation that failed in front of err's message,
// without repeating this package's prefix: "queue: Worker.Run: invalid
// argument: ...", not "queue: Worker.Run: queue: invalid argument: ...".
// Other packages' prefixes stay: they say where the error came from. It
// unwraps to err, so errors.Is and errors.As work as through %w.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return prefix + e.op + ": " + strings.TrimPrefix(e.err.Error(), prefix)
}

func (e *opError) Unwrap() error { return e.err }

// wrapOp returns err with op named in front of it (see [opError]).
func wrapOp(op string, err error) error {
	return &opError{op: op, err: err}
}

// runError is the error Worker.Run returns for err; it wraps err once
// however often it is called.
func runError(err error) error {
	if e, ok := err.(*opError); ok && e.op == "Worker.Run" {
		return err
	}
	return wrapOp("Worker.Run", err)
}
