package httpguard

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Limits and defaults of the auth file.
const (
	// MinCost is the lowest bcrypt cost an auth file may hold. htpasswd -B
	// defaults to 5, which a GPU tries at millions a second; 10 is bcrypt's
	// own default.
	MinCost = bcrypt.DefaultCost
	// DefaultCost is what WriteUser hashes with: about a quarter of a second
	// on this project's machines, paid once per password change thanks to
	// the verified-credential cache.
	DefaultCost = 12
	// MaxAuthFileSize bounds how much of an auth file is read.
	MaxAuthFileSize = 64 << 10
	// MaxUserLen bounds a user name.
	MaxUserLen = 64
	// MaxPasswordLen is bcrypt's limit: bytes past 72 would be ignored, so
	// such passwords are refused rather than silently truncated.
	MaxPasswordLen = 72
)

// Users is the parsed auth file: user names and bcrypt hashes, one
// "user:hash" line each (the htpasswd bcrypt format; # starts a comment).
// Safe from any goroutine.
type Users struct {
	users []*user
	// key keys the HMAC of the last verified password of each user; made
	// at load, never leaves memory.
	key [32]byte
	// dummy is hashed against when the user is unknown, so an unknown user
	// costs the same time as a wrong password. Made on first need.
	dummyOnce sync.Once
	dummy     []byte
}

type user struct {
	name []byte
	hash []byte
	mu   sync.Mutex
	// verified is the HMAC of the last password bcrypt accepted, nil
	// before the first. Guarded by mu.
	verified []byte
}

// LoadUsers reads an auth file, refusing one that group or others can read
// or write (ErrAuthFileMode) or that is not bcrypt "user:hash" lines with a
// cost of at least MinCost (ErrAuthFileMalformed). Safe from any goroutine.
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ConfigError{Kind: ErrAuthFileMalformed, Flag: "-rpc-auth-file", Detail: "cannot read it", Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &ConfigError{Kind: ErrAuthFileMalformed, Flag: "-rpc-auth-file", Detail: "cannot stat it", Err: err}
	}
	if !fi.Mode().IsRegular() {
		return nil, &ConfigError{Kind: ErrAuthFileMalformed, Flag: "-rpc-auth-file", Detail: path + " is not a regular file"}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, &ConfigError{Kind: ErrAuthFileMode, Flag: "-rpc-auth-file",
			Detail: fmt.Sprintf("%s has mode %04o: group or others can access it (chmod 600 %s)", path, perm, path)}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxAuthFileSize+1))
	if err != nil {
		return nil, &ConfigError{Kind: ErrAuthFileMalformed, Flag: "-rpc-auth-file", Detail: "cannot read it", Err: err}
	}
	if len(b) > MaxAuthFileSize {
		return nil, &ConfigError{Kind: ErrAuthFileMalformed, Flag: "-rpc-auth-file", Detail: fmt.Sprintf("%s is larger than %d bytes", path, MaxAuthFileSize)}
	}
	u, err := ParseUsers(b)
	if err != nil {
		return nil, &ConfigError{Kind: ErrAuthFileMalformed, Flag: "-rpc-auth-file", Detail: path, Err: err}
	}
	return u, nil
}

// ParseUsers parses auth file contents (see Users). Errors name the line.
// Safe from any goroutine.
func ParseUsers(b []byte) (*Users, error) {
	u := &Users{}
	if _, err := rand.Read(u.key[:]); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), MaxAuthFileSize+1)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want user:bcrypt-hash", ln)
		}
		if err := ValidUser(name); err != nil {
			return nil, fmt.Errorf("line %d: %w", ln, err)
		}
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return nil, fmt.Errorf("line %d: user %q: not a bcrypt hash (the file holds a hash, never the password: make it with node rpc-passwd)", ln, name)
		}
		if cost < MinCost {
			return nil, fmt.Errorf("line %d: user %q: bcrypt cost %d is below %d (make it with node rpc-passwd, or htpasswd -B -C 12)", ln, name, cost, MinCost)
		}
		for _, o := range u.users {
			if string(o.name) == name {
				return nil, fmt.Errorf("line %d: user %q given twice", ln, name)
			}
		}
		u.users = append(u.users, &user{name: []byte(name), hash: []byte(hash)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(u.users) == 0 {
		return nil, errors.New("no user:hash line")
	}
	return u, nil
}

// ValidUser reports whether name can be a user: 1 to MaxUserLen bytes of
// printable ASCII without ':' or space. Safe from any goroutine.
func ValidUser(name string) error {
	if name == "" || len(name) > MaxUserLen {
		return fmt.Errorf("user name must be 1 to %d bytes", MaxUserLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Errorf("user name %q: only printable ASCII without ':' or space", name)
		}
	}
	return nil
}

// Verify reports whether user and password match an entry. The user is
// looked up in constant time over all entries; an unknown user still costs
// a bcrypt comparison; a password equal to the last one verified for that
// user costs one HMAC. Safe from any goroutine.
func (u *Users) Verify(name, password string) bool {
	var match *user
	for _, e := range u.users {
		if subtle.ConstantTimeCompare(e.name, []byte(name)) == 1 {
			match = e
		}
	}
	if match == nil || len(password) > MaxPasswordLen {
		u.burn(password)
		return false
	}
	m := hmac.New(sha256.New, u.key[:])
	m.Write([]byte(password))
	sum := m.Sum(nil)
	match.mu.Lock()
	cached := match.verified
	match.mu.Unlock()
	if cached != nil && hmac.Equal(cached, sum) {
		return true
	}
	if bcrypt.CompareHashAndPassword(match.hash, []byte(password)) != nil {
		return false
	}
	match.mu.Lock()
	match.verified = sum
	match.mu.Unlock()
	return true
}

// burn spends what a real comparison would, against a hash of the first
// user's cost.
func (u *Users) burn(password string) {
	u.dummyOnce.Do(func() {
		cost, _ := bcrypt.Cost(u.users[0].hash)
		u.dummy, _ = bcrypt.GenerateFromPassword([]byte("shardtorrent-unknown-user"), cost)
	})
	if len(password) > MaxPasswordLen {
		password = password[:MaxPasswordLen]
	}
	_ = bcrypt.CompareHashAndPassword(u.dummy, []byte(password))
}

// HashPassword returns the bcrypt hash of password at cost, refusing empty
// and over-long (MaxPasswordLen) passwords. Safe from any goroutine.
func HashPassword(password string, cost int) ([]byte, error) {
	if password == "" {
		return nil, errors.New("empty password")
	}
	if len(password) > MaxPasswordLen {
		return nil, fmt.Errorf("password longer than %d bytes (bcrypt's limit)", MaxPasswordLen)
	}
	if cost < MinCost {
		return nil, fmt.Errorf("bcrypt cost %d is below %d", cost, MinCost)
	}
	return bcrypt.GenerateFromPassword([]byte(password), cost)
}

// WriteUser sets name's hash in the auth file at path, keeping its other
// lines, or creates the file. The file is replaced atomically (a temporary
// file in the same directory, fsynced, renamed, the directory fsynced) and
// is always mode 0600. Safe from any goroutine; concurrent writers of one
// file race, the last rename wins.
func WriteUser(path, name string, hash []byte) error {
	if err := ValidUser(name); err != nil {
		return err
	}
	if _, err := bcrypt.Cost(hash); err != nil {
		return fmt.Errorf("not a bcrypt hash: %w", err)
	}
	var out bytes.Buffer
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		if len(old) > MaxAuthFileSize {
			return fmt.Errorf("%s is larger than %d bytes", path, MaxAuthFileSize)
		}
		for _, line := range strings.Split(string(old), "\n") {
			t := strings.TrimSpace(line)
			if t == "" {
				continue
			}
			if n, _, ok := strings.Cut(t, ":"); ok && n == name && !strings.HasPrefix(t, "#") {
				continue
			}
			out.WriteString(t)
			out.WriteByte('\n')
		}
	}
	fmt.Fprintf(&out, "%s:%s\n", name, hash)

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".rpc-auth-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: ENOENT, ignored
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(out.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
