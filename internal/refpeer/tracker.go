package refpeer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// StartTracker starts a minimal HTTP tracker on 127.0.0.1. Every request
// (any path, any parameters) is answered with the given peers as a compact
// peer list (BEP 23; IPv6 peers go to "peers6"), so clients that can only
// discover peers through a tracker (aria2) find our node. It is a discovery
// fixture, not a peer. url is the announce URL; stop shuts it down.
func StartTracker(peers ...netip.AddrPort) (url string, stop func(), err error) {
	var v4, v6 []byte
	for _, p := range peers {
		a := p.Addr().Unmap()
		port := []byte{byte(p.Port() >> 8), byte(p.Port())}
		switch {
		case a.Is4():
			b := a.As4()
			v4 = append(append(v4, b[:]...), port...)
		case a.Is6():
			b := a.As16()
			v6 = append(append(v6, b[:]...), port...)
		default:
			return "", nil, fmt.Errorf("refpeer: tracker: invalid peer %v", p)
		}
	}
	// Bencoded dictionary, keys in sorted order.
	body := "d8:completei1e10:incompletei1e8:intervali30e12:min intervali5e" +
		"5:peers" + strconv.Itoa(len(v4)) + ":" + string(v4)
	if len(v6) > 0 {
		body += "6:peers6" + strconv.Itoa(len(v6)) + ":" + string(v6)
	}
	body += "e"

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(body))
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // nothing to report to; the clients will see failures
		}
	}()
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return "http://" + ln.Addr().String() + "/announce", stop, nil
}
