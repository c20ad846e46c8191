package dcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/tdsc/tdsc/internal/atomicfile"
)

// credentialFile is the store file's content: the JWTs of the credentials
// issuers delivered, oldest first.
type credentialFile struct {
	Credentials []string `json:"credentials"`
}

// OpenStore keeps the credentials issuers deliver in the file path (JSON,
// mode 0600), so that a restarted node still holds what it was issued. It
// files the credentials path holds already, leaving out the expired ones; a
// missing file is an empty store. A file that does not read as a store
// stops it with the file and the field: the node would otherwise start
// without credentials it was issued. Call it before the Credential Service
// serves.
func (cs *CredentialService) OpenStore(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("dcp: credential store: %w", err)
	}
	var f credentialFile
	if b != nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil || dec.More() {
			if err == nil {
				err = errors.New("data after the object")
			}
			return fmt.Errorf("dcp: credential store %s: %v (want {\"credentials\": [JWT, …]})", path, err)
		}
	}
	now := cs.sts.now()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for i, j := range f.Credentials {
		sc, err := cs.parseStored(j)
		if err != nil {
			return fmt.Errorf("dcp: credential store %s: field credentials[%d]: %w", path, i, err)
		}
		if sc.expired(now) {
			continue
		}
		sc.delivered = true
		cs.file(sc)
	}
	cs.path = path
	return nil
}

// save writes the delivered credentials that have not expired to the store
// file, whole or not at all; cs.mu held. Without a file it does nothing.
func (cs *CredentialService) save() error {
	if cs.path == "" {
		return nil
	}
	now := cs.sts.now()
	f := credentialFile{Credentials: []string{}}
	for _, c := range cs.creds {
		if c.delivered && !c.expired(now) {
			f.Credentials = append(f.Credentials, c.jwt)
		}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(cs.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("dcp: credential store: %w", err)
	}
	return nil
}

// signal wakes those waiting on changes; cs.mu held.
func (cs *CredentialService) signal() {
	close(cs.changed)
	cs.changed = make(chan struct{})
}

// changes is closed when the next offer or CredentialMessage arrives.
func (cs *CredentialService) changes() <-chan struct{} {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	return cs.changed
}
