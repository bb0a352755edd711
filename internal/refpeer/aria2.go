package refpeer

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
)

// Aria2Path is the aria2 executable.
var Aria2Path = "aria2c"

var aria2Probe toolProbe

// Aria2Available reports whether aria2c runs; Aria2Version returns its version.
func Aria2Available() error {
	return aria2Probe.check(Aria2Path, "aria2", []string{"--version"}, trimPrefix("aria2 version"))
}

// Aria2Version is the aria2 version found by Aria2Available ("" if none).
func Aria2Version() string {
	_ = Aria2Available()
	return aria2Probe.version
}

// Aria2Options configure an aria2 download. aria2 cannot be told to connect
// to a peer, so the torrent's announce URL must be a tracker (StartTracker)
// that hands out the seeder's address.
type Aria2Options struct {
	Torrent           string
	Dir               string // a torrent named X is saved at Dir/X
	ListenPort        int    // TCP port on 127.0.0.1 (required; see FreePort)
	RequireEncryption bool   // --bt-require-crypto --bt-min-crypto-level=arc4
	ExtraArgs         []string
	Log               io.Writer
	Name              string // label for logs; default "aria2"
}

// Aria2 is a running aria2c download. It exits by itself once the download
// is complete (--seed-time=0); use Wait.
type Aria2 struct {
	*Process
}

// StartAria2 starts aria2c downloading o.Torrent. It binds to 127.0.0.1
// only, with DHT, LPD and PEX off, and stops if this process dies.
func StartAria2(ctx context.Context, o Aria2Options) (*Aria2, error) {
	if err := Aria2Available(); err != nil {
		return nil, err
	}
	if o.Torrent == "" || o.Dir == "" || o.ListenPort <= 0 {
		return nil, errors.New("refpeer: Aria2Options needs Torrent, Dir and ListenPort")
	}
	args := []string{
		"--no-conf=true",
		"--interface=127.0.0.1",
		"--disable-ipv6=true",
		"--enable-dht=false", "--enable-dht6=false",
		"--bt-enable-lpd=false",
		"--enable-peer-exchange=false",
		"--seed-time=0",
		"--listen-port=" + strconv.Itoa(o.ListenPort),
		"--dir=" + o.Dir,
		"--check-integrity=false",
		"--file-allocation=none",
		"--summary-interval=0",
		"--console-log-level=warn",
		"--auto-file-renaming=false",
		"--allow-overwrite=true",
		"--bt-stop-timeout=120",
		"--stop-with-process=" + strconv.Itoa(os.Getpid()),
	}
	if o.RequireEncryption {
		args = append(args, "--bt-require-crypto=true", "--bt-min-crypto-level=arc4")
	} else {
		args = append(args, "--bt-require-crypto=false")
	}
	args = append(args, o.ExtraArgs...)
	args = append(args, o.Torrent)
	name := o.Name
	if name == "" {
		name = "aria2"
	}
	p, err := StartProcess(ctx, ProcOptions{Name: name, Path: Aria2Path, Args: args, Log: o.Log})
	if err != nil {
		return nil, err
	}
	return &Aria2{p}, nil
}
