package shardtorrent

import (
	"errors"
	"testing"
)

func TestParseLimit(t *testing.T) {
	cases := []struct {
		in            string
		zeroUnlimited bool
		want          Limit
		bad           bool
	}{
		{"", false, Limit{}, false},
		{"unlimited", false, Unlimited(), false},
		{"-1", false, Unlimited(), false},
		{"0", false, LimitTo(0), false},
		{"0", true, Unlimited(), false},
		{"100", false, LimitTo(100), false},
		{"100k", false, LimitTo(100_000), false},
		{"50M", false, LimitTo(50_000_000), false},
		{"1.5G", false, LimitTo(1_500_000_000), false},
		{"100kB/s", false, LimitTo(100_000), false},
		{"2T", false, LimitTo(2_000_000_000_000), false},
		{"-5", false, Limit{}, true},
		{"abc", false, Limit{}, true},
		{"5X", false, Limit{}, true},
		{"NaN", false, Limit{}, true},
	}
	for _, c := range cases {
		got, err := ParseLimit(c.in, c.zeroUnlimited)
		if c.bad {
			if !errors.Is(err, ErrBadLimit) {
				t.Errorf("ParseLimit(%q) = %v, %v; want ErrBadLimit", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseLimit(%q, %v) = %v, %v; want %v", c.in, c.zeroUnlimited, got, err, c.want)
		}
	}
}

func TestLimitOr(t *testing.T) {
	def := LimitTo(8)
	if (Limit{}).Or(def) != def || Unlimited().Or(def) != Unlimited() || LimitTo(0).Or(def) != LimitTo(0) {
		t.Fatal("Or")
	}
	if v, ok := LimitTo(3).Value(); !ok || v != 3 {
		t.Fatal("Value")
	}
	if _, ok := Unlimited().Value(); ok {
		t.Fatal("Unlimited has a value")
	}
}
