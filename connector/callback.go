package connector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A callbackAddress is where this node sends a counterparty's messages, so a
// caller chooses a URL the node will POST to. The node must not become a
// proxy into its operator's network; it calls a callbackAddress only when:
//   - it is an absolute http(s) URL without credentials, query or fragment;
//   - its path is not under a prefix tdsc serves something other than DSP
//     callbacks at: the management API (/api/), the ledger service
//     (/ledger/), the dashboard (/ui/), the data plane (/data/, /push/),
//     /metrics and /healthz;
//   - every address its host resolves to is a unicast address that is not
//     unspecified, link-local (169.254.0.0/16 holds cloud metadata services)
//     or multicast;
//   - a loopback address only when this node itself is on loopback (its
//     publicUrl), as in a space run on one machine;
//   - and it is neither this node's own address nor the ledger service's.
//
// Peer calls follow no redirect, so a callback cannot bounce the node
// elsewhere. Refusals are DSP errors with code callback.invalid.
func checkCallback(s string) error {
	if s == "" {
		return errors.New("callbackAddress is required on an initial request")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("callbackAddress %q must be an absolute http(s) URL without credentials, query or fragment", s)
	}
	p := strings.ToLower(u.EscapedPath())
	for _, bad := range []string{"/api", "/ledger", "/ui", "/data", "/push", "/metrics", "/healthz", "/readyz"} {
		if p == bad || strings.HasPrefix(p, bad+"/") {
			return fmt.Errorf("callbackAddress %q: path %s is a tdsc service's, not a DSP callback", s, bad+"/")
		}
	}
	if strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "%2e") || strings.Contains(p, "%2f") {
		return fmt.Errorf("callbackAddress %q: dot segments and encoded slashes are not allowed in its path", s)
	}
	return nil
}

// checkCallbackHost is the address half of the rules above, run once the
// request is otherwise acceptable (it resolves the host).
func (n *Node) checkCallbackHost(ctx context.Context, s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	addrs, err := resolve(ctx, u)
	if err != nil {
		return fmt.Errorf("callbackAddress %q: host %s does not resolve: %v", s, u.Hostname(), err)
	}
	selfLoopback := false
	if su, err := url.Parse(n.cfg.PublicURL); err == nil {
		if own, err := resolve(ctx, su); err == nil && len(own) > 0 && own[0].Addr().IsLoopback() {
			selfLoopback = true
		}
	}
	own := map[string]string{}
	for what, raw := range map[string]string{"this node's own address": n.cfg.PublicURL, "the space ledger's address": n.cfg.LedgerURL} {
		if ou, err := url.Parse(raw); err == nil && ou.Host != "" {
			if as, err := resolve(ctx, ou); err == nil {
				for _, a := range as {
					own[a.String()] = what
				}
			}
		}
	}
	if n.cfg.Listen != "" {
		if as, err := resolve(ctx, &url.URL{Scheme: "http", Host: n.cfg.Listen}); err == nil {
			for _, a := range as {
				own[a.String()] = "this node's own address"
			}
		}
	}
	for _, a := range addrs {
		ip := a.Addr()
		switch {
		case ip.IsUnspecified() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast():
			return fmt.Errorf("callbackAddress %q resolves to %s: a node never calls unspecified, link-local or multicast addresses", s, ip)
		case ip.IsLoopback() && !selfLoopback:
			return fmt.Errorf("callbackAddress %q resolves to loopback %s, and this node is not on loopback", s, ip)
		}
		if what, ok := own[a.String()]; ok {
			return fmt.Errorf("callbackAddress %q is %s", s, what)
		}
	}
	return nil
}

// resolve is the host's addresses with the URL's port (default by scheme).
func resolve(ctx context.Context, u *url.URL) ([]netip.AddrPort, error) {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		pn, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("port %q: %v", port, err)
		}
		out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(pn)))
	}
	return out, nil
}
