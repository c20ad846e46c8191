package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// uniqueMembers refuses a JWS whose header or payload repeats a member name
// at any depth. encoding/json keeps the last of duplicates, other JSON
// parsers the first: a token {"iss":"A",...,"iss":"B"} signed by B would
// read as issued by A elsewhere (RFC 7515 §5.2 and RFC 7519 §4 say to
// reject such a token or use the last; tdsc rejects).
func uniqueMembers(token string) error {
	parts := strings.SplitN(token, ".", 3)
	for i, name := range []string{"header", "payload"} {
		if i >= len(parts) {
			return nil
		}
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil // the JWT parser reports the encoding
		}
		if err := noDuplicates(raw); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
		}
	}
	return nil
}

func noDuplicates(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var walk func() error
	walk = func() error {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				if seen[key] {
					return fmt.Errorf("member %q appears twice", key)
				}
				seen[key] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	if err := walk(); err != nil {
		if strings.Contains(err.Error(), "appears twice") {
			return err
		}
		return nil // not JSON: the JWT parser reports it
	}
	return nil
}
