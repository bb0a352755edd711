package httpguard

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// BenchmarkGuardCachedLogin: what the guard adds to a request whose
// password was verified before (transmission-remote sends it with every
// request): allow-list, limiter, HMAC of the password.
func BenchmarkGuardCachedLogin(b *testing.B) {
	users, err := ParseUsers([]byte("alice:" + string(testHash(b)) + "\n"))
	if err != nil {
		b.Fatal(err)
	}
	allow, _ := ParseAllowList("10.0.0.0/8")
	g, err := New(Config{Listen: "0.0.0.0:9091", Users: users, Allow: allow})
	if err != nil {
		b.Fatal(err)
	}
	h := g.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("POST", "/transmission/rpc", nil)
	r.RemoteAddr = "10.0.0.1:5000"
	r.SetBasicAuth("alice", "s3cret")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		b.Fatal(w.Code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.ServeHTTP(w, r)
	}
}

// BenchmarkBcrypt: one password check against a hash of each cost, what a
// first login (or a changed password, or a guess) costs.
func BenchmarkBcrypt(b *testing.B) {
	for _, cost := range []int{MinCost, DefaultCost} {
		h, err := bcrypt.GenerateFromPassword([]byte("s3cret"), cost)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("cost%d", cost), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if bcrypt.CompareHashAndPassword(h, []byte("s3cret")) != nil {
					b.Fatal("mismatch")
				}
			}
		})
	}
}
