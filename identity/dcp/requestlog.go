package dcp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/tdsc/tdsc/internal/atomicfile"
)

// RequestLog keeps the Issuer Service's credential requests across restarts
// (IssuerServiceConfig.Requests): every state a request takes is appended
// to a file as one JSON line and synced before the service answers on it,
// so a holder polling GET /requests/{id} after the authority restarted
// gets the status it would have got before. Opening the log reads it back
// and writes it again compacted (each request's last state, the newest max
// requests), so the file stays bounded by the requests remembered. Safe
// for concurrent use.
type RequestLog struct {
	path string
	mu   sync.Mutex
	f    *os.File
	reqs []IssuanceRequest // as read at open, oldest first
}

// OpenRequestLog opens (or creates) the request log at path, keeping the
// newest max requests (the Issuer Service's MaxRequests; 0: 10 000). A
// last line cut short (the process died while writing it) is dropped: its
// request was never answered on. Any other line that is not a request
// fails with an error naming the file, the line and the field.
func OpenRequestLog(path string, max int) (*RequestLog, error) {
	if max == 0 {
		max = defaultMaxRequests
	}
	if max < 0 {
		return nil, fmt.Errorf("dcp: request log %s: max must be positive, got %d", path, max)
	}
	reqs, err := readRequestLog(path)
	if err != nil {
		return nil, err
	}
	if len(reqs) > max {
		reqs = reqs[len(reqs)-max:]
	}
	var buf bytes.Buffer
	for _, r := range reqs {
		line, _ := json.Marshal(r)
		buf.Write(append(line, '\n'))
	}
	if err := atomicfile.Write(path, buf.Bytes(), 0o600); err != nil {
		return nil, fmt.Errorf("dcp: request log %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dcp: request log: %w", err)
	}
	return &RequestLog{path: path, f: f, reqs: reqs}, nil
}

// readRequestLog reads each request's last state from the log at path, in
// the order the requests first appear; a missing file holds none.
func readRequestLog(path string) ([]IssuanceRequest, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dcp: request log: %w", err)
	}
	pos := map[string]int{}
	var out []IssuanceRequest
	ended := bytes.Count(raw, []byte{'\n'}) // lines ended by a newline
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), maxIssuanceBytes)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		last := n > ended // the file ends inside it
		r, err := decodeRequestLine(line)
		if err != nil {
			if last {
				break // cut short by a crash: never synced, never answered on
			}
			return nil, fmt.Errorf("dcp: request log %s: line %d: %w", path, n, err)
		}
		if i, ok := pos[r.ID]; ok {
			out[i] = r
			continue
		}
		pos[r.ID] = len(out)
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dcp: request log %s: %w", path, err)
	}
	return out, nil
}

// decodeRequestLine decodes one line of the log, naming the field at fault.
func decodeRequestLine(line []byte) (IssuanceRequest, error) {
	var r IssuanceRequest
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return r, fmt.Errorf("not a request: %w", err)
	}
	switch {
	case r.ID == "":
		return r, errors.New("field issuerPid: required")
	case r.Holder == "":
		return r, errors.New("field holder: required")
	case r.Status != StatusReceived && r.Status != StatusIssued && r.Status != StatusRejected:
		return r, fmt.Errorf("field status: %q is not %s, %s or %s", r.Status, StatusReceived, StatusIssued, StatusRejected)
	}
	return r, nil
}

// Requests returns the requests the log held when it was opened, oldest
// first.
func (l *RequestLog) Requests() []IssuanceRequest { return append([]IssuanceRequest(nil), l.reqs...) }

// Save appends r's state and syncs it.
func (l *RequestLog) Save(r IssuanceRequest) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("dcp: request log %s: closed", l.path)
	}
	if _, err := l.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("dcp: request log %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("dcp: request log %s: %w", l.path, err)
	}
	return nil
}

// Close closes the file.
func (l *RequestLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
