package dataplane_test

import (
	"fmt"

	"github.com/tdsc/tdsc/connector/dataplane"
)

func ExampleParseRange() {
	// A client resuming a 1000-byte object after 600 bytes.
	r, partial, err := dataplane.ParseRange("bytes=600-", 1000)
	fmt.Println(r.Start, r.Length, partial, err)
	_, _, err = dataplane.ParseRange("bytes=1000-", 1000)
	fmt.Println(err)
	// Output:
	// 600 400 true <nil>
	// dataplane: range not satisfiable
}

func ExampleDataURL() {
	fmt.Println(dataplane.DataURL("https://provider.example:8443", "tr-42", ""))
	fmt.Println(dataplane.DataURL("https://provider.example:8443", "tr-42", "2026/q3 report.csv"))
	// Output:
	// https://provider.example:8443/data/tr-42
	// https://provider.example:8443/data/tr-42/2026/q3%20report.csv
}
