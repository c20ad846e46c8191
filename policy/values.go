package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseDateTime reads an xsd:dateTime with a time zone. Seconds may be
// omitted ("2023-12-31T06:00Z", as in the DSP examples). A bound without a
// zone is refused: it would mean different instants on different machines.
func parseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if _, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
		return time.Time{}, fmt.Errorf("dateTime %q has no time zone; add Z or an offset such as +08:00", s)
	}
	return time.Time{}, fmt.Errorf("%q is not an xsd:dateTime such as 2027-01-01T00:00:00+08:00", s)
}

// parseDuration reads an ISO 8601 duration of weeks, days, hours, minutes
// and seconds ("P30D", "PT12H", "P1W", "P1DT0.5S"). Years and months are
// refused: they have no fixed length.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not an ISO 8601 duration such as P30D or PT12H", s)
	if len(s) < 3 || s[0] != 'P' {
		return 0, bad
	}
	var total float64
	inTime, any := false, false
	rest := s[1:]
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, bad
			}
			inTime, rest = true, rest[1:]
			if rest == "" {
				return 0, bad
			}
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, bad
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || n < 0 {
			return 0, bad
		}
		var unit float64
		switch unit_ := rest[i]; {
		case !inTime && unit_ == 'W':
			unit = float64(7 * 24 * time.Hour)
		case !inTime && unit_ == 'D':
			unit = float64(24 * time.Hour)
		case inTime && unit_ == 'H':
			unit = float64(time.Hour)
		case inTime && unit_ == 'M':
			unit = float64(time.Minute)
		case inTime && unit_ == 'S':
			unit = float64(time.Second)
		case !inTime && (unit_ == 'Y' || unit_ == 'M'):
			return 0, fmt.Errorf("duration %q uses years or months, which have no fixed length; use days (P30D)", s)
		default:
			return 0, bad
		}
		total += n * unit
		any = true
		rest = rest[i+1:]
	}
	if !any || total > float64(math.MaxInt64/2) {
		return 0, bad
	}
	return time.Duration(total), nil
}

// formatDuration writes d as an ISO 8601 duration in days and seconds.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "PT0S"
	}
	day := 24 * time.Hour
	var b strings.Builder
	b.WriteByte('P')
	if d >= day {
		b.WriteString(strconv.FormatInt(int64(d/day), 10))
		b.WriteByte('D')
		d %= day
	}
	if d > 0 {
		b.WriteByte('T')
		if d%time.Second == 0 {
			b.WriteString(strconv.FormatInt(int64(d/time.Second), 10))
		} else {
			b.WriteString(strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
		}
		b.WriteByte('S')
	}
	return b.String()
}

// normRegion validates a region code (ISO 3166-1 alpha-2, optionally with a
// subdivision: "CN", "CN-BJ") and returns it upper-case.
func normRegion(s string) (string, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	ok := len(u) >= 2 && isAlpha(u[0]) && isAlpha(u[1])
	if ok && len(u) > 2 {
		sub := u[2:]
		ok = len(sub) >= 2 && len(sub) <= 4 && sub[0] == '-'
		for i := 1; ok && i < len(sub); i++ {
			ok = isAlpha(sub[i]) || sub[i] >= '0' && sub[i] <= '9'
		}
	}
	if !ok || len(u) < 2 {
		return "", fmt.Errorf("%q is not a region code such as CN or CN-BJ", s)
	}
	return u, nil
}

func isAlpha(c byte) bool { return c >= 'A' && c <= 'Z' }

// normValue validates one right-operand value for an operand kind and
// returns its normal form.
func normValue(k operandKind, s string) (string, error) {
	switch k {
	case kindString, kindMembers:
		if strings.TrimSpace(s) == "" {
			return "", fmt.Errorf("value must not be empty")
		}
		return s, nil
	case kindRegion:
		return normRegion(s)
	case kindTime:
		if _, err := parseDateTime(s); err != nil {
			return "", err
		}
		return s, nil
	case kindDuration:
		if _, err := parseDuration(s); err != nil {
			return "", err
		}
		return s, nil
	case kindCount:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > math.MaxInt32 {
			return "", fmt.Errorf("%q is not a count (a whole number from 0)", s)
		}
		return strconv.FormatInt(n, 10), nil
	case kindLevel:
		c := Classification(strings.ToLower(strings.TrimSpace(s)))
		if err := c.Validate(); err != nil {
			return "", err
		}
		return string(c), nil
	}
	return "", fmt.Errorf("unsupported operand kind")
}
