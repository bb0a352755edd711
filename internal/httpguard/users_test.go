package httpguard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

var (
	hashOnce sync.Once
	hashA    []byte // "alice" / "s3cret", cost MinCost
)

func testHash(t testing.TB) []byte {
	hashOnce.Do(func() {
		var err error
		if hashA, err = HashPassword("s3cret", MinCost); err != nil {
			panic(err)
		}
	})
	return hashA
}

func TestLoadUsersRefusals(t *testing.T) {
	h := string(testHash(t))
	weak, _ := bcrypt.GenerateFromPassword([]byte("x"), 5)
	cases := []struct {
		name string
		body string
		mode os.FileMode
		kind ErrorKind // 0: accepted
		want string
	}{
		{"good", "alice:" + h + "\n", 0o600, 0, ""},
		{"good with comment and owner-only read", "# rpc users\n\nalice:" + h + "\n", 0o400, 0, ""},
		{"group readable", "alice:" + h + "\n", 0o640, ErrAuthFileMode, "mode 0640"},
		{"world readable", "alice:" + h + "\n", 0o604, ErrAuthFileMode, "chmod 600"},
		{"plaintext password", "alice:s3cret\n", 0o600, ErrAuthFileMalformed, "not a bcrypt hash"},
		{"no colon", "alice\n", 0o600, ErrAuthFileMalformed, "want user:bcrypt-hash"},
		{"weak cost", "alice:" + string(weak) + "\n", 0o600, ErrAuthFileMalformed, "cost 5 is below 10"},
		{"duplicate user", "alice:" + h + "\nalice:" + h + "\n", 0o600, ErrAuthFileMalformed, "given twice"},
		{"empty", "# nobody\n", 0o600, ErrAuthFileMalformed, "no user:hash line"},
		{"bad user name", "al ice:" + h + "\n", 0o600, ErrAuthFileMalformed, "printable ASCII"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "auth")
			if err := os.WriteFile(p, []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, c.mode); err != nil {
				t.Fatal(err)
			}
			u, err := LoadUsers(p)
			if c.kind == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !u.Verify("alice", "s3cret") {
					t.Fatal("good password refused")
				}
				return
			}
			if !errors.Is(err, c.kind) {
				t.Fatalf("err %v, want kind %v", err, c.kind)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Flag != "-rpc-auth-file" {
				t.Fatalf("err %#v is not a -rpc-auth-file ConfigError", err)
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err %q: want one line mentioning %q", err, c.want)
			}
		})
	}
	if _, err := LoadUsers(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrAuthFileMalformed) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestVerify(t *testing.T) {
	u, err := ParseUsers([]byte("alice:" + string(testHash(t)) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		user, pass string
		ok         bool
	}{
		{"alice", "s3cret", true},
		{"alice", "s3cret", true}, // from the cache
		{"alice", "wrong", false},
		{"alice", "", false},
		{"bob", "s3cret", false},
		{"", "", false},
		{"alice", strings.Repeat("x", 100), false},
		{"alice", "s3cret", true},
	}
	for i, c := range cases {
		if got := u.Verify(c.user, c.pass); got != c.ok {
			t.Errorf("%d: Verify(%q, %q) = %v, want %v", i, c.user, c.pass, got, c.ok)
		}
	}
}

// TestVerifyCachesLastPassword: once a password is verified, the same one
// is accepted without bcrypt (the hash is swapped for one of another
// password to prove it), and a different one goes to bcrypt again.
func TestVerifyCachesLastPassword(t *testing.T) {
	u, err := ParseUsers([]byte("alice:" + string(testHash(t)) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !u.Verify("alice", "s3cret") {
		t.Fatal("refused")
	}
	other, err := HashPassword("changed", MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u.users[0].hash = other
	if !u.Verify("alice", "s3cret") {
		t.Fatal("the verified password was not cached")
	}
	if !u.Verify("alice", "changed") {
		t.Fatal("a different password did not go to bcrypt")
	}
	if u.Verify("alice", "s3cret") {
		t.Fatal("the cache still holds the old password after a new one was verified")
	}
}

func TestWriteUser(t *testing.T) {
	p := filepath.Join(t.TempDir(), "auth")
	if err := WriteUser(p, "alice", testHash(t)); err != nil {
		t.Fatal(err)
	}
	bob, err := HashPassword("hunter2", MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteUser(p, "bob", bob); err != nil {
		t.Fatal(err)
	}
	if err := WriteUser(p, "alice", bob); err != nil { // alice's password changes
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	b, _ := os.ReadFile(p)
	if strings.Contains(string(b), "s3cret") || strings.Contains(string(b), "hunter2") {
		t.Fatal("plaintext in the auth file")
	}
	u, err := LoadUsers(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.users) != 2 || !u.Verify("bob", "hunter2") || !u.Verify("alice", "hunter2") || u.Verify("alice", "s3cret") {
		t.Fatalf("after updates: %q", b)
	}
	for _, bad := range []struct{ user, pass string }{{"a:b", "x"}, {"", "x"}, {"a", ""}, {"a", strings.Repeat("p", 73)}} {
		h, err := HashPassword(bad.pass, MinCost)
		if err == nil {
			err = WriteUser(p, bad.user, h)
		}
		if err == nil {
			t.Errorf("user %q password %q accepted", bad.user, bad.pass)
		}
	}
}
