package settings

import "fmt"

// EncPolicy is libtorrent's in_enc_policy / out_enc_policy. The zero value
// is EncEnabled, libtorrent's default.
type EncPolicy uint8

// Encryption policies.
const (
	// EncEnabled: incoming peers may use MSE or plaintext; outgoing
	// connections try MSE first and redial once in plaintext when the
	// encrypted attempt fails before its handshake completes.
	EncEnabled EncPolicy = iota
	// EncForced: only MSE; plaintext incoming handshakes are refused and
	// outgoing connections never fall back.
	EncForced
	// EncDisabled: never start MSE; incoming MSE handshakes are refused.
	EncDisabled
)

var encPolicyNames = [...]string{EncEnabled: "enabled", EncForced: "forced", EncDisabled: "disabled"}

// String returns the policy's name as ParseEncPolicy accepts it.
func (p EncPolicy) String() string {
	if int(p) < len(encPolicyNames) {
		return encPolicyNames[p]
	}
	return fmt.Sprintf("EncPolicy(%d)", uint8(p))
}

// ParseEncPolicy parses "disabled", "enabled" or "forced".
func ParseEncPolicy(s string) (EncPolicy, error) {
	for i, n := range encPolicyNames {
		if n == s {
			return EncPolicy(i), nil
		}
	}
	return 0, fmt.Errorf("settings: unknown encryption policy %q (want disabled, enabled or forced)", s)
}

// EncLevel is libtorrent's allowed_enc_level: what an MSE connection may
// carry after its handshake. The zero value is EncLevelBoth, libtorrent's
// default.
type EncLevel uint8

// Encryption levels.
const (
	// EncLevelBoth: plaintext or RC4; a receiver offered both selects
	// plaintext, or RC4 with Settings.PreferRC4 (as libtorrent).
	EncLevelBoth EncLevel = iota
	// EncLevelPlaintext: only the handshake is encrypted.
	EncLevelPlaintext
	// EncLevelRC4: the whole stream is RC4.
	EncLevelRC4
)

var encLevelNames = [...]string{EncLevelBoth: "both", EncLevelPlaintext: "plaintext", EncLevelRC4: "rc4"}

// String returns the level's name as ParseEncLevel accepts it.
func (l EncLevel) String() string {
	if int(l) < len(encLevelNames) {
		return encLevelNames[l]
	}
	return fmt.Sprintf("EncLevel(%d)", uint8(l))
}

// ParseEncLevel parses "plaintext", "rc4" or "both".
func ParseEncLevel(s string) (EncLevel, error) {
	for i, n := range encLevelNames {
		if n == s {
			return EncLevel(i), nil
		}
	}
	return 0, fmt.Errorf("settings: unknown encryption level %q (want plaintext, rc4 or both)", s)
}
