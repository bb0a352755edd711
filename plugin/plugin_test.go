package plugin

import (
	"sync/atomic"
	"testing"
)

type dhtHook struct {
	name    string
	handled bool
	panics  bool
	log     *[]string
}

func (h *dhtHook) OnDHTRequest(r *DHTRequest) bool {
	*h.log = append(*h.log, h.name)
	if h.panics {
		panic("dht plugin bug")
	}
	if h.handled {
		r.Response["answer"] = h.name
	}
	return h.handled
}

func TestDispatchDHTRequest(t *testing.T) {
	cases := []struct {
		name     string
		hooks    []dhtHook
		handled  bool
		called   []string
		panicked int
	}{
		{"none", nil, false, nil, 0},
		{"first true wins", []dhtHook{{name: "a"}, {name: "b", handled: true}, {name: "c", handled: true}}, true, []string{"a", "b"}, 0},
		{"nobody", []dhtHook{{name: "a"}, {name: "b"}}, false, []string{"a", "b"}, 0},
		{"panic skips to the next", []dhtHook{{name: "a", panics: true}, {name: "b", handled: true}}, true, []string{"a", "b"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			var hooks []DHTRequestHook
			for i := range tc.hooks {
				tc.hooks[i].log = &log
				hooks = append(hooks, &tc.hooks[i])
			}
			panics := 0
			r := &DHTRequest{Query: "x_custom", Response: map[string]any{}}
			got := DispatchDHTRequest(hooks, r, func(DHTRequestHook, any) { panics++ })
			if got != tc.handled || panics != tc.panicked || len(log) != len(tc.called) {
				t.Fatalf("handled %v panics %d calls %q; want %v %d %q", got, panics, log, tc.handled, tc.panicked, tc.called)
			}
			for i := range log {
				if log[i] != tc.called[i] {
					t.Fatalf("calls %q, want %q", log, tc.called)
				}
			}
		})
	}
}

type myAlert struct{ n int }

const myAlertType = UserAlertID + 17

func (*myAlert) Type() AlertType    { return myAlertType }
func (*myAlert) Category() Category { return CategoryStats }
func (*myAlert) Name() string       { return "my_alert" }
func (*myAlert) Message() string    { return "mine" }

// regRun numbers TestStaticCategories' runs in this process.
var regRun atomic.Int32

func TestStaticCategories(t *testing.T) {
	if c := CategoryOf[*myAlert](); c != CategoryStats {
		t.Fatalf("CategoryOf = %v", c)
	}
	if c := CategoryOf[*PeerErrorAlert](); c != CategoryPeer|CategoryError {
		t.Fatalf("CategoryOf built-in = %v", c)
	}
	// A fresh id each run: the registry is process-wide and -count=N runs
	// this test N times in one process (with a fixed id the second run
	// found it registered and failed).
	id := myAlertType + AlertType(regRun.Add(1))
	if _, ok := CategoryOfType(id); ok {
		t.Fatal("unregistered type has a category")
	}
	RegisterAlertType(id, CategoryStats, "my_alert")
	RegisterAlertType(id, CategoryStats, "my_alert") // idempotent
	if c, ok := CategoryOfType(id); !ok || c != CategoryStats {
		t.Fatalf("CategoryOfType = %v %v", c, ok)
	}
	if c, ok := CategoryOfType(TypePluginDisabled); !ok || c != CategoryError {
		t.Fatalf("built-in PluginDisabled category %v %v", c, ok)
	}
	for name, f := range map[string]func(){
		"below UserAlertID": func() { RegisterAlertType(TypePeerError, CategoryError, "x") },
		"conflict":          func() { RegisterAlertType(id, CategoryError, "my_alert") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	var a Alert = &myAlert{n: 1}
	if m, ok := Cast[*myAlert](a); !ok || m.n != 1 {
		t.Fatal("Cast failed")
	}
	if _, ok := Cast[*PeerErrorAlert](a); ok {
		t.Fatal("Cast to another type succeeded")
	}
}
