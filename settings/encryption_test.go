package settings

import "testing"

// TestEncNames: every policy and level parses back from its name (the
// node's flags), the zero values are libtorrent's defaults, and unknown
// names are errors.
func TestEncNames(t *testing.T) {
	for _, p := range []EncPolicy{EncEnabled, EncForced, EncDisabled} {
		if got, err := ParseEncPolicy(p.String()); err != nil || got != p {
			t.Errorf("ParseEncPolicy(%q) = %v, %v", p, got, err)
		}
	}
	for _, l := range []EncLevel{EncLevelBoth, EncLevelPlaintext, EncLevelRC4} {
		if got, err := ParseEncLevel(l.String()); err != nil || got != l {
			t.Errorf("ParseEncLevel(%q) = %v, %v", l, got, err)
		}
	}
	var s Engine
	if s.InEncPolicy.String() != "enabled" || s.OutEncPolicy.String() != "enabled" || s.AllowedEncLevel.String() != "both" || s.PreferRC4 {
		t.Errorf("zero Engine: %v/%v/%v prefer_rc4 %v, want libtorrent's enabled/enabled/both false",
			s.InEncPolicy, s.OutEncPolicy, s.AllowedEncLevel, s.PreferRC4)
	}
	if _, err := ParseEncPolicy("pe_forced"); err == nil {
		t.Error("ParseEncPolicy accepted pe_forced")
	}
	if _, err := ParseEncLevel("aes"); err == nil {
		t.Error("ParseEncLevel accepted aes")
	}
}
