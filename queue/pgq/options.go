package pgq

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync/atomic"
)

// DefaultSchema is the schema used when [Options.Schema] is empty.
const DefaultSchema = "resilience"

// Options configure a [Broker], a [DeadLetterStore] and [Migrate]. The zero
// value is usable. Give a broker and the store its workers use the same
// Options: a task whose row does not decode is dead-lettered by the broker
// into the store of its schema.
type Options struct {
	// Schema is the PostgreSQL schema that holds the tables: brokers with
	// the same schema share their queues, leases, results and dead
	// letters; different schemas are independent. Empty means
	// DefaultSchema ("resilience"). It must be a plain lower-case
	// identifier: a letter or '_' first, then letters, digits or '_', at
	// most 48 bytes. Any other name is kept as an error wrapping the
	// invalid-argument sentinel of the package of the call, which every
	// call returns.
	Schema string
}

// ErrCorruptTask is wrapped by the error of [Broker.Get] and
// [Broker.Enqueue] for a task whose row does not decode (a payload or
// result that is not JSON, headers that are not an object of strings, a
// state that does not exist: data written by something other than this
// package). A worker never runs such a task: [Broker.Claim] and
// [Broker.Recover] fail it into the dead letters of the schema with the
// reason, and carry on.
var ErrCorruptTask = errors.New("pgq: task row does not decode")

var schemaPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// names is the layout of one schema: the quoted schema and the channel.
type names struct {
	schema  string // as given, e.g. resilience
	quoted  string // "resilience"
	channel string // resilience_pgq
}

// newNames checks a schema name and returns its layout.
func newNames(schema string) (names, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	if !schemaPattern.MatchString(schema) {
		return names{}, fmt.Errorf("Options.Schema %q is not a plain identifier; want a lower-case letter or '_' "+
			"first, then lower-case letters, digits or '_', at most 48 bytes", schema)
	}
	return names{schema: schema, quoted: `"` + schema + `"`, channel: schema + "_pgq"}, nil
}

// tokenPrefix makes the lease tokens of this process unlike those of any
// other (72 random bits); a counter makes them unique within it.
var (
	tokenPrefix = func() string {
		var b [9]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		return base64.RawURLEncoding.EncodeToString(b[:])
	}()
	tokenSeq atomic.Uint64
)

// newToken returns a lease token unique among all processes sharing a
// database.
func newToken() string {
	return tokenPrefix + strconv.FormatUint(tokenSeq.Add(1), 36)
}
