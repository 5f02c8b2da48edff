// Package settings holds what the Config types of the plugins share: the
// JSON Duration type and the helpers that apply defaults.
package settings

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a string such as
// "1m30s". It also reads a number, as nanoseconds.
type Duration time.Duration

// String formats d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// errDuration is the error of a JSON value that is neither a string nor a
// number.
var errDuration = errors.New("a duration must be a string such as \"30s\" or a number of nanoseconds")

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		n, nerr := strconv.ParseInt(string(b), 10, 64)
		if nerr != nil {
			return errDuration
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// SetDefault sets *p to v when *p is the zero value.
func SetDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
