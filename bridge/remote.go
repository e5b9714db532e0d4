package bridge

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// client finds the address a request comes from: the peer's, or, when the
// peer is one of the trusted proxies, the right-most address of
// X-Forwarded-For that is not a trusted proxy. Addresses left of it are
// whatever the client wrote and prove nothing. ip is what failed
// authentications are throttled by; viaProxy says X-Forwarded-For named it.
func (s *Server) client(r *http.Request) (ip string, viaProxy bool) {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	if len(s.opts.TrustedProxies) == 0 {
		s.untrustedForward(r, peer)
		return peer, false
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil || !s.trusted(addr) {
		s.untrustedForward(r, peer)
		return peer, false
	}
	hops := r.Header.Values("X-Forwarded-For")
	if len(hops) == 0 {
		return peer, false
	}
	found := addr
	for i := len(hops) - 1; i >= 0; i-- {
		list := hops[i]
		for list != "" {
			var hop string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				list, hop = list[:j], list[j+1:]
			} else {
				list, hop = "", list
			}
			a, ok := parseHop(strings.TrimSpace(hop))
			if !ok {
				// A proxy we trust wrote something else: keep the last
				// address it vouched for.
				return found.String(), found != addr
			}
			found = a
			if !s.trusted(a) {
				return a.String(), true
			}
		}
	}
	// Every hop is a trusted proxy: the left-most is as close to the
	// client as the header gets.
	return found.String(), found != addr
}

// untrustedForward warns, once per process, that a request came with
// X-Forwarded-For from a peer that is not a trusted proxy. Behind a proxy
// that is not listed, every sender shares the proxy's address, so one
// sender's failed authentications would get them all throttled.
func (s *Server) untrustedForward(r *http.Request, peer string) {
	if s.warnedForward.Load() || r.Header.Get("X-Forwarded-For") == "" || !s.warnedForward.CompareAndSwap(false, true) {
		return
	}
	s.log.Warn().Str("peer", peer).Msg("a request carries X-Forwarded-For from a peer not in BRIDGE_TRUSTED_PROXIES: " +
		"the log and the failed-authentication throttle take the peer for the client; if it is a proxy, list it, " +
		"or one sender's failures get every sender behind it throttled (shown once)")
}

// trusted reports whether a is one of Options.TrustedProxies.
func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads one X-Forwarded-For entry: an IP, or an IP and port.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
