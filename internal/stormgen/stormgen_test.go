package stormgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/ext/mse"
	"github.com/shardtorrent/shardtorrent/wire"
)

var testIH = [20]byte{1, 2, 3}

// target is a loopback listener answering BitTorrent handshakes for
// testIH, in plaintext or inside MSE (with the ext/mse Receiver); other
// info-hashes get theirs answered with a wrong one.
func target(t *testing.T, answer [20]byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if err := serve(c, answer); err != nil {
					t.Log("target:", err)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func serve(c net.Conn, answer [20]byte) error {
	buf := make([]byte, 4096)
	// 20 bytes tell a plaintext handshake from MSE's Ya (whose first
	// byte alone is 19 once in 256 keys, and the generator reuses its key).
	n, err := io.ReadAtLeast(c, buf, 20)
	if err != nil {
		return err
	}
	in := buf[:n]
	var w io.Writer = c
	if !bytes.HasPrefix(in, []byte("\x13BitTorrent protocol")) {
		rcv, err := mse.NewReceiver(func(h [20]byte) ([20]byte, bool) { return testIH, h == mse.SKeyHash(testIH) }, mse.MethodBoth, rand.Reader)
		if err != nil {
			return err
		}
		for {
			k, err := rcv.Step(in)
			if err != nil {
				return err
			}
			if _, err := c.Write(rcv.Output()); err != nil {
				return err
			}
			if rcv.Done() {
				if res := rcv.Result(); res.Cipher != nil {
					w = cipherWriter{c, res.Cipher}
				}
				// The generator's handshake rides as MSE's initial payload.
				if hs, err := wire.ParseHandshake(rcv.Result().InitialPayload); err != nil || hs.InfoHash != testIH {
					return errors.New("initial payload is not our handshake")
				}
				break
			}
			if k != len(in) {
				return errors.New("an unfinished receiver left bytes")
			}
			m, err := c.Read(buf)
			if err != nil {
				return err
			}
			in = buf[:m]
		}
	}
	h := wire.Handshake{InfoHash: answer}
	_, err = w.Write(wire.AppendHandshake(nil, &h))
	return err
}

type cipherWriter struct {
	c net.Conn
	r *mse.RC4
}

func (w cipherWriter) Write(p []byte) (int, error) {
	w.r.Encrypt([][]byte{p})
	return w.c.Write(p)
}

// TestRunCounts: a fixed number of handshakes, plaintext and MSE, all
// complete against a target that answers; latencies are measured.
func TestRunCounts(t *testing.T) {
	addr := target(t, testIH)
	for _, m := range []bool{false, true} {
		res, err := Run(context.Background(), Config{Addr: addr, InfoHash: testIH, Dialers: 4, Handshakes: 50, MSE: m, Duration: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if res.Handshakes != 50 || res.Failures != 0 || res.P50ms <= 0 || res.P99ms < res.P50ms {
			t.Fatalf("MSE %v: %+v", m, res)
		}
	}
}

// TestRunWrongInfoHash: a target answering for another torrent counts as
// failures, never as handshakes.
func TestRunWrongInfoHash(t *testing.T) {
	addr := target(t, [20]byte{9})
	res, err := Run(context.Background(), Config{Addr: addr, InfoHash: testIH, Dialers: 2, Handshakes: 10, Duration: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Handshakes != 0 || res.Failures != 10 || res.Errors[errWrongInfoHash.Error()] != 10 {
		t.Fatalf("%+v", res)
	}
}
