package httpguard

import (
	"fmt"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// TypeRefused is RefusedAlert's type id (issue 12's first custom alert).
const TypeRefused = plugin.UserAlertID + 1201

func init() { plugin.RegisterAlertType(TypeRefused, plugin.CategoryPeer, "rpc_refused") }

// RefusedAlert: the node's HTTP service refused a request (allow-list,
// Host, credentials or the failed-login limit). Immutable once posted;
// safe to read from any goroutine.
type RefusedAlert struct{ Refusal }

// Type implements plugin.Alert.
func (*RefusedAlert) Type() plugin.AlertType { return TypeRefused }

// Category implements plugin.Alert.
func (*RefusedAlert) Category() plugin.Category { return plugin.CategoryPeer }

// Name implements plugin.Alert.
func (*RefusedAlert) Name() string { return "rpc_refused" }

// Message implements plugin.Alert.
func (a *RefusedAlert) Message() string {
	s := fmt.Sprintf("rpc: %s %q from %s refused: %s", a.Method, a.Path, a.Addr, a.Reason)
	if a.User != "" {
		s += fmt.Sprintf(" (user %q)", a.User)
	}
	return s
}
