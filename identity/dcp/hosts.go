package dcp

import (
	"fmt"
	"net/url"
	"strings"
)

// Hosts is an allow-list of the hosts a node's DCP side may fetch from: DID
// documents, Credential Services and status lists. A verifier must resolve
// the DID an unverified token names, so without a list a caller chooses which
// HTTPS address the verifier fetches; with one, any other host is refused
// before a connection is made. Entries are host names ("authority.example"),
// host:port ("127.0.0.1:8443"), or "*." suffixes ("*.example.com": any
// subdomain, not the name itself). An empty list allows every host.
type Hosts []string

// Validate checks the entries' form, naming the one at fault.
func (h Hosts) Validate() error {
	for i, p := range h {
		name := strings.TrimPrefix(p, "*.")
		if name == "" || strings.ContainsAny(name, "/*@ ") || strings.HasPrefix(name, ".") {
			return fmt.Errorf("dcp: allowed hosts[%d]: %q is not a host, host:port or *.domain", i, p)
		}
	}
	return nil
}

// Allow reports whether rawURL's host is on the list (always, for an empty
// list); the error names the host and the rule.
func (h Hosts) Allow(rawURL string) error {
	if len(h) == 0 {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: %q is not an absolute URL", ErrDID, rawURL)
	}
	host, name := strings.ToLower(u.Host), strings.ToLower(u.Hostname())
	for _, p := range h {
		p = strings.ToLower(p)
		switch {
		case strings.HasPrefix(p, "*."):
			if strings.HasSuffix(name, p[1:]) {
				return nil
			}
		case strings.Contains(p, ":") && !strings.HasPrefix(p, "["):
			if host == p {
				return nil
			}
		case name == strings.Trim(p, "[]") || host == p:
			return nil
		}
	}
	return fmt.Errorf("%w: host %s is not among the hosts this node fetches DCP documents from (dcpAllowedHosts)", ErrDID, u.Host)
}
