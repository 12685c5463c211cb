package resilienceotel_test

import (
	"bytes"
	"os/exec"
	"strconv"
)

func itoa(n int) string { return strconv.Itoa(n) }

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// stderrOf returns what a failed command wrote on stderr.
func stderrOf(err error) string {
	if e, ok := err.(*exec.ExitError); ok {
		return string(e.Stderr)
	}
	return ""
}
