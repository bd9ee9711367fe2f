package statestore

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// UnreadableRecord is a history record that is listed but cannot be read:
// not valid JSON, truncated, empty, another stack/environment's, named for
// another serial (ErrCorrupt), or of a newer schema (ErrFutureSchema). Its
// name still says its serial and start time.
type UnreadableRecord struct {
	Name     string    // the record's name (HistoryName form)
	Location string    // bucket/key or file path
	Serial   int64     // the serial its name says
	Named    time.Time // the start time its name says
	Err      error     // why it cannot be read, naming Location and what to do
}

// UnreadableError is the error History returns, together with the records
// it could read, when records of the page cannot be read (and nothing else
// failed). A caller that can go on without them (listing the history,
// looking for one deployment) takes them with Unreadable; any other sees
// the error of the first, as when History returned nothing.
type UnreadableError struct {
	Key     Key
	Records []UnreadableRecord // newest first (SortHistory order)
}

func (e *UnreadableError) Error() string {
	if len(e.Records) == 1 {
		return e.Records[0].Err.Error()
	}
	more := make([]string, 0, len(e.Records)-1)
	for _, r := range e.Records[1:] {
		more = append(more, fmt.Sprint(r.Serial))
	}
	return fmt.Sprintf("%v (history records %s of %s cannot be read either)", e.Records[0].Err, strings.Join(more, ", "), e.Key)
}

// Unwrap makes errors.Is see each record's error (ErrCorrupt,
// ErrFutureSchema).
func (e *UnreadableError) Unwrap() []error {
	errs := make([]error, len(e.Records))
	for i, r := range e.Records {
		errs[i] = r.Err
	}
	return errs
}

// Unreadable splits err, from History, into the records it names as
// unreadable (an *UnreadableError) and any other error (nil when that was
// all that went wrong: the records History returned with it are the
// others of the page).
func Unreadable(err error) ([]UnreadableRecord, error) {
	var ue *UnreadableError
	if errors.As(err, &ue) {
		return ue.Records, nil
	}
	return nil, err
}

// unreadableRecord reports whether err, from reading the record at location,
// leaves it unreadable (rather than unread: a storage error fails History).
func unreadableRecord(location string, err error) (UnreadableRecord, bool) {
	if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFutureSchema) {
		return UnreadableRecord{}, false
	}
	name := path.Base(strings.ReplaceAll(location, `\`, "/"))
	serial, _ := ParseHistoryName(name)
	at, _ := historyNameTime(name)
	return UnreadableRecord{Name: name, Location: location, Serial: serial, Named: at, Err: err}, true
}

// HistoryReader collects the records of one History page as a backend
// reads them, in the page's order: those it reads, and those that cannot
// be read (ErrCorrupt, ErrFutureSchema), which do not stop the others.
type HistoryReader struct {
	key  Key
	recs []*Deployment
	bad  []*UnreadableRecord
}

// NewHistoryReader returns a HistoryReader for a page of n records of key.
func NewHistoryReader(key Key, n int) *HistoryReader {
	return &HistoryReader{key: key, recs: make([]*Deployment, n), bad: make([]*UnreadableRecord, n)}
}

// Set records the outcome of reading record i of the page, at location,
// and returns the error that fails the page (nil when the record was read
// or is only unreadable). Calls for different i may run concurrently.
func (r *HistoryReader) Set(i int, location string, d *Deployment, err error) error {
	if err == nil {
		r.recs[i] = d
		return nil
	}
	if u, ok := unreadableRecord(location, err); ok {
		r.bad[i] = &u
		return nil
	}
	return err
}

// Result returns the records read, in order (those left unset, as records
// gone since they were listed, are left out), and an *UnreadableError
// naming those that could not be read, if any.
func (r *HistoryReader) Result() ([]*Deployment, error) {
	out := make([]*Deployment, 0, len(r.recs))
	var bad []UnreadableRecord
	for i, d := range r.recs {
		if d != nil {
			out = append(out, d)
		}
		if r.bad[i] != nil {
			bad = append(bad, *r.bad[i])
		}
	}
	if len(bad) > 0 {
		return out, &UnreadableError{Key: r.key, Records: bad}
	}
	return out, nil
}

// NewestSerial returns the serial of the newest record of key's history (0
// when there is none). A newest record that cannot be read counts by the
// serial its name says: a state numbered after the history must not fall
// behind a record only because its content is damaged.
func NewestSerial(ctx context.Context, s Store, key Key) (int64, error) {
	h, err := s.History(ctx, key, 0, 1)
	bad, err := Unreadable(err)
	if err != nil {
		return 0, err
	}
	var n int64
	if len(h) > 0 {
		n = h[0].Serial
	}
	if len(bad) > 0 {
		n = max(n, bad[0].Serial)
	}
	return n, nil
}
