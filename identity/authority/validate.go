package authority

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid reports an input the authority refuses before anything reaches the
// ledger; the message names the field and the rule. Fix the input and retry.
var ErrInvalid = errors.New("authority: invalid input")

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: field %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// uscc is the alphabet of the unified social credit code (GB 32100-2015):
// digits and upper-case letters without I, O, Z, S, V.
const uscc = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// ValidateCreditCode checks a unified social credit code (统一社会信用代码,
// GB 32100-2015): 18 characters from the code's alphabet, the registering
// authority and organisation category, a six-digit administrative division
// code in positions 3-8, and the check digit in position 18 (weighted sum
// modulo 31).
func ValidateCreditCode(code string) error {
	if len(code) != 18 {
		return invalid("creditCode", "must be 18 characters, got %d", len(code))
	}
	sum := 0
	for i := range 18 {
		v := strings.IndexByte(uscc, code[i])
		if v < 0 {
			return invalid("creditCode", "character %d %q is not in the code's alphabet (digits and A-Y without I, O, S, V, Z)", i+1, code[i])
		}
		if i >= 2 && i < 8 && (code[i] < '0' || code[i] > '9') {
			return invalid("creditCode", "positions 3-8 are the administrative division code and must be digits, got %q", code[2:8])
		}
		if i < 17 {
			sum += v * usccWeights[i]
		}
	}
	if want := uscc[(31-sum%31)%31]; code[17] != want {
		return invalid("creditCode", "check digit is %q, the code's first 17 characters give %q", code[17], want)
	}
	return nil
}

// ValidateRegion checks a region code as policy uses them: an ISO 3166-1
// alpha-2 country code, optionally followed by "-" and a subdivision of one to
// three letters or digits ("CN", "CN-BJ", "DE-BE", "CN-HK").
func ValidateRegion(code string) error {
	country, sub, hasSub := strings.Cut(code, "-")
	if len(country) != 2 || !isUpper(country) {
		return invalid("region", "%q: must start with a two-letter upper-case ISO 3166-1 country code, e.g. CN or CN-BJ", code)
	}
	if hasSub {
		if len(sub) < 1 || len(sub) > 3 {
			return invalid("region", "%q: the subdivision after '-' must be 1-3 characters", code)
		}
		for _, c := range sub {
			if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
				return invalid("region", "%q: the subdivision must be upper-case letters or digits", code)
			}
		}
	}
	return nil
}

func isUpper(s string) bool {
	for _, c := range s {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// validateID checks a participant or space id: 1-128 characters of letters,
// digits and . _ : -, and %HH escapes (a did:web writes its port's colon as
// %3A): the forms that are safe in URLs, ledger ids and logs.
func validateID(field, id string) error {
	if id == "" {
		return invalid(field, "required")
	}
	if len(id) > 128 {
		return invalid(field, "%d characters, at most 128", len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c == '%' {
			if i+2 >= len(id) || !isHex(id[i+1]) || !isHex(id[i+2]) {
				return invalid(field, "%q: '%%' at byte %d must start a %%HH escape (two hex digits)", id, i+1)
			}
			i += 2
			continue
		}
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-'
		if !ok {
			return invalid(field, "%q: only letters, digits, . _ : - and %%HH escapes are allowed", id)
		}
	}
	return nil
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// validateLabel checks a free-text attribute: required when req, no control
// characters, at most 256 bytes.
func validateLabel(field, v string, req bool) error {
	if strings.TrimSpace(v) == "" {
		if req {
			return invalid(field, "required")
		}
		return nil
	}
	if len(v) > 256 {
		return invalid(field, "%d bytes, at most 256", len(v))
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return invalid(field, "must not contain control characters")
		}
	}
	return nil
}
