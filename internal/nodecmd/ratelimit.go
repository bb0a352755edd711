package nodecmd

import (
	"flag"

	"github.com/shardtorrent/shardtorrent"
)

// limitFlag is a rate-limit flag: bytes per second with an optional k, M,
// G or T suffix (powers of 1000, as ParseLimit), 0 meaning unlimited. In
// the TOML config it is a string ("5M", "0").
type limitFlag struct{ l shardtorrent.Limit }

func (f *limitFlag) String() string {
	if f == nil || !f.l.IsSet() {
		return "0"
	}
	return f.l.String()
}

func (f *limitFlag) Set(s string) error {
	l, err := shardtorrent.ParseLimit(s, true)
	if err != nil {
		return err
	}
	f.l = l
	return nil
}

// rateFlags are the node's rate-limit flags.
type rateFlags struct {
	up, down limitFlag
	local    *bool
}

func addRateFlags(fs *flag.FlagSet) *rateFlags {
	r := new(rateFlags)
	fs.Var(&r.up, "up-limit", "session upload limit in bytes/s, with k/M/G suffixes (powers of 1000; 0 = unlimited); local-network peers are exempt unless -limit-local")
	fs.Var(&r.down, "down-limit", "session download limit in bytes/s, with k/M/G suffixes (powers of 1000; 0 = unlimited); local-network peers are exempt unless -limit-local")
	r.local = fs.Bool("limit-local", false, "apply -up-limit and -down-limit to local-network peers too (loopback, RFC 1918, link-local, ULA); off by default, as libtorrent's ignore_limits_on_local_network")
	return r
}

// apply puts the flags into the session settings.
func (r *rateFlags) apply(set *shardtorrent.Settings) {
	set.UploadRateLimit = r.up.l
	set.DownloadRateLimit = r.down.l
	set.LimitLocal = *r.local
}
