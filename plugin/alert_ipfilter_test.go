package plugin

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestBlockAlertBudget(t *testing.T) {
	var b BlockAlertBudget
	t0 := time.Unix(1000, 0)
	for i := 0; i < PeerBlockedAlertsPerSecond; i++ {
		if ok, sup := b.Allow(t0); !ok || sup != 0 {
			t.Fatalf("alert %d: ok=%v suppressed=%d", i, ok, sup)
		}
	}
	for i := 0; i < 5; i++ {
		if ok, _ := b.Allow(t0.Add(999 * time.Millisecond)); ok {
			t.Fatal("over budget allowed")
		}
	}
	if ok, sup := b.Allow(t0.Add(time.Second)); !ok || sup != 5 {
		t.Fatalf("next second: ok=%v suppressed=%d, want true 5", ok, sup)
	}
	if ok, sup := b.Allow(t0.Add(time.Second)); !ok || sup != 0 {
		t.Fatalf("after reporting: ok=%v suppressed=%d", ok, sup)
	}
}

func TestPeerBlockedAlert(t *testing.T) {
	a := &PeerBlockedAlert{Addr: netip.MustParseAddrPort("127.0.0.2:6881"), Incoming: true, Suppressed: 3}
	if a.Type() != TypePeerBlocked || a.Category() != CategoryIPBlock || a.Name() != "peer_blocked" {
		t.Fatal("identity")
	}
	if m := a.Message(); !strings.Contains(m, "incoming") || !strings.Contains(m, "ip_filter") || !strings.Contains(m, "3 more") {
		t.Fatalf("message %q", m)
	}
	if CategoryDefault&CategoryIPBlock == 0 {
		t.Fatal("ip_block not in the default mask")
	}
}
