package policy

import "strings"

// Region codes are ISO 3166-1 alpha-2 country codes, optionally followed by a
// subdivision: "CN", "CN-BJ", "CN-SH", "SG", "DE-BE". The border a region lies
// in is its country code, except that the special administrative regions of
// Hong Kong, Macao and Taiwan ("CN-HK", "CN-MO", "CN-TW") count as their own
// border for data-export purposes, as Chinese cross-border rules treat them.

// Border is the jurisdiction a region belongs to for cross-border rules.
func Border(region string) string {
	region = strings.ToUpper(strings.TrimSpace(region))
	switch region {
	case "CN-HK", "HK":
		return "HK"
	case "CN-MO", "MO":
		return "MO"
	case "CN-TW", "TW":
		return "TW"
	}
	if i := strings.IndexByte(region, '-'); i >= 0 {
		return region[:i]
	}
	return region
}

// CrossBorder reports whether data moving from one region to another leaves its border.
func CrossBorder(from, to string) bool { return Border(from) != Border(to) }

// IsPartOf reports whether region lies within area: "CN-BJ" is part of "CN" and
// of "CN-BJ"; "CN" is not part of "CN-BJ".
func IsPartOf(region, area string) bool {
	region, area = strings.ToUpper(region), strings.ToUpper(area)
	return region == area || strings.HasPrefix(region, area+"-")
}
