package rpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/rpc"
)

// A client written from Transmission's rpc-spec, with its own types: it
// shares nothing with the server but the wire.

type specRequest struct {
	Method    string `json:"method"`
	Arguments any    `json:"arguments,omitempty"`
	Tag       int    `json:"tag,omitempty"`
}

type specResponse struct {
	Result    string          `json:"result"`
	Arguments json.RawMessage `json:"arguments"`
	Tag       *int            `json:"tag"`
}

type specClient struct {
	t    testing.TB
	url  string
	sid  string
	http *http.Client
}

// post sends body with the current session id and returns the raw reply.
func (c *specClient) post(body []byte) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.sid != "" {
		req.Header.Set("X-Transmission-Session-Id", c.sid)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// call runs method as a Transmission client does: a 409 hands it the
// session id, and it sends the request again. The reply's arguments are
// decoded into out (if not nil); the result string is returned.
func (c *specClient) call(method string, args any, out any) string {
	c.t.Helper()
	body, err := json.Marshal(specRequest{Method: method, Arguments: args, Tag: 7})
	if err != nil {
		c.t.Fatal(err)
	}
	resp := c.post(body)
	if resp.StatusCode == http.StatusConflict {
		resp.Body.Close()
		c.sid = resp.Header.Get("X-Transmission-Session-Id")
		if c.sid == "" {
			c.t.Fatal("409 without X-Transmission-Session-Id")
		}
		resp = c.post(body)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("%s: HTTP %d: %s", method, resp.StatusCode, data)
	}
	var r specResponse
	if err := json.Unmarshal(data, &r); err != nil {
		c.t.Fatalf("%s: reply is not JSON: %v: %s", method, err, data)
	}
	if r.Tag == nil || *r.Tag != 7 {
		c.t.Fatalf("%s: tag not echoed: %s", method, data)
	}
	if out != nil && r.Result == "success" {
		if err := json.Unmarshal(r.Arguments, out); err != nil {
			c.t.Fatalf("%s: arguments: %v: %s", method, err, r.Arguments)
		}
	}
	return r.Result
}

// mustCall is call that fails the test unless the result is "success".
func (c *specClient) mustCall(method string, args any, out any) {
	c.t.Helper()
	if res := c.call(method, args, out); res != "success" {
		c.t.Fatalf("%s: result %q", method, res)
	}
}

// specTorrent has the torrent-get fields as the spec types them.
type specTorrent struct {
	ID                 int      `json:"id"`
	Name               string   `json:"name"`
	HashString         string   `json:"hashString"`
	Status             *int     `json:"status"`
	PercentDone        *float64 `json:"percentDone"`
	RateUpload         *int64   `json:"rateUpload"`
	RateDownload       *int64   `json:"rateDownload"`
	UploadedEver       *int64   `json:"uploadedEver"`
	DownloadedEver     *int64   `json:"downloadedEver"`
	UploadRatio        *float64 `json:"uploadRatio"`
	PeersConnected     *int     `json:"peersConnected"`
	PeersGettingFromUs *int     `json:"peersGettingFromUs"`
	PeersSendingToUs   *int     `json:"peersSendingToUs"`
	Eta                *int64   `json:"eta"`
	Error              *int     `json:"error"`
	ErrorString        *string  `json:"errorString"`
	TotalSize          *int64   `json:"totalSize"`
	SizeWhenDone       *int64   `json:"sizeWhenDone"`
	LeftUntilDone      *int64   `json:"leftUntilDone"`
	AddedDate          *int64   `json:"addedDate"`
	DoneDate           *int64   `json:"doneDate"`
	PieceCount         *int     `json:"pieceCount"`
	PieceSize          *int64   `json:"pieceSize"`
	DownloadDir        *string  `json:"downloadDir"`
	IsPrivate          *bool    `json:"isPrivate"`
	IsFinished         *bool    `json:"isFinished"`
	MagnetLink         *string  `json:"magnetLink"`
	Comment            *string  `json:"comment"`
	Creator            *string  `json:"creator"`
	StartDate          *int64   `json:"startDate"`
	Pieces             *string  `json:"pieces"`
	Files              []struct {
		BytesCompleted int64  `json:"bytesCompleted"`
		Length         int64  `json:"length"`
		Name           string `json:"name"`
	} `json:"files"`
	FileStats []struct {
		BytesCompleted int64 `json:"bytesCompleted"`
		Wanted         bool  `json:"wanted"`
		Priority       int   `json:"priority"`
	} `json:"fileStats"`
	Priorities   []int      `json:"priorities"`
	Wanted       []int      `json:"wanted"`
	Peers        []specPeer `json:"peers"`
	TrackerStats []struct {
		Announce    string `json:"announce"`
		Host        string `json:"host"`
		ID          int    `json:"id"`
		Tier        int    `json:"tier"`
		SeederCount int    `json:"seederCount"`
	} `json:"trackerStats"`
}

type specPeer struct {
	Address      string  `json:"address"`
	Port         int     `json:"port"`
	ClientName   string  `json:"clientName"`
	FlagStr      string  `json:"flagStr"`
	Progress     float64 `json:"progress"`
	RateToClient int64   `json:"rateToClient"`
	RateToPeer   int64   `json:"rateToPeer"`
	IsIncoming   bool    `json:"isIncoming"`
}

type specTorrents struct {
	Torrents []specTorrent `json:"torrents"`
	Removed  []int         `json:"removed"`
}

type specAdded struct {
	Added *struct {
		ID         int    `json:"id"`
		Name       string `json:"name"`
		HashString string `json:"hashString"`
	} `json:"torrent-added"`
	Duplicate *struct {
		ID         int    `json:"id"`
		Name       string `json:"name"`
		HashString string `json:"hashString"`
	} `json:"torrent-duplicate"`
}

// Field lists transmission-remote 3.00 sends (utils/remote.c): -l, -i,
// -if, -ip (peers), -ic (pieces), -it.
var (
	remoteList = []string{"error", "errorString", "eta", "id", "isFinished", "leftUntilDone", "name",
		"peersGettingFromUs", "peersSendingToUs", "rateDownload", "rateUpload", "sizeWhenDone", "status", "uploadRatio"}
	remoteDetails = []string{"activityDate", "addedDate", "bandwidthPriority", "comment", "corruptEver", "creator",
		"dateCreated", "desiredAvailable", "doneDate", "downloadDir", "downloadedEver", "downloadLimit",
		"downloadLimited", "error", "errorString", "eta", "hashString", "haveUnchecked", "haveValid",
		"honorsSessionLimits", "id", "isFinished", "isPrivate", "labels", "leftUntilDone", "magnetLink", "name",
		"peersConnected", "peersGettingFromUs", "peersSendingToUs", "peer-limit", "pieceCount", "pieceSize",
		"rateDownload", "rateUpload", "recheckProgress", "secondsDownloading", "secondsSeeding", "seedRatioMode",
		"seedRatioLimit", "sizeWhenDone", "startDate", "status", "totalSize", "uploadedEver", "uploadLimit",
		"uploadLimited", "webseeds", "webseedsSendingToUs"}
	remoteFiles    = []string{"files", "name", "priorities", "wanted"}
	remotePeers    = []string{"peers"}
	remotePieces   = []string{"pieces", "pieceCount"}
	remoteTrackers = []string{"trackerStats"}
)

// fixture is a real session behind the handler on an httptest server.
type fixture struct {
	t      testing.TB
	sess   *shardtorrent.Session
	h      *rpc.Handler
	srv    *httptest.Server
	c      *specClient
	root   string // the allowed root: data and .torrent files live here
	closed chan struct{}
	clock  *fakeClock
}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func newFixture(t testing.TB, listen string) *fixture { return newFixtureWith(t, listen, false) }

// offlineBackend drops the peers a torrent-add brings (a magnet's x.pe),
// for the fuzzer, whose magnets may name any address: tests dial
// 127.0.0.1 only.
type offlineBackend struct{ *rpc.SessionBackend }

func (b offlineBackend) AddTorrent(ctx context.Context, p shardtorrent.AddTorrentParams) (*shardtorrent.Torrent, error) {
	p.Peers = nil
	return b.SessionBackend.AddTorrent(ctx, p)
}

// newFixtureWith makes a fixture; offline turns the tracker client off
// and drops added peers, so arbitrary input never reaches the network.
func newFixtureWith(t testing.TB, listen string, offline bool) *fixture {
	return newFixtureSet(t, shardtorrent.Settings{
		ListenAddr: listen, Shards: 2, Pool: bufpool.New(), DisableDHT: true,
		Tracker: shardtorrent.TrackerSettings{Disable: offline},
	}, offline)
}

// newFixtureSet makes a fixture over a session with settings set.
func newFixtureSet(t testing.TB, set shardtorrent.Settings, offline bool) *fixture {
	t.Helper()
	sess, err := shardtorrent.NewSession(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	root := t.TempDir()
	f := &fixture{t: t, sess: sess, root: root, closed: make(chan struct{}), clock: &fakeClock{now: time.Now()}}
	be := &rpc.SessionBackend{S: sess, Set: rpc.Settings{Version: "test", DownloadDir: root, PeerPort: 6881, PEX: true},
		OnClose: func() { close(f.closed) }}
	var b rpc.Backend = be
	if offline {
		b = offlineBackend{be}
	}
	f.h = rpc.New(b, rpc.Config{Confine: f.confine, Now: f.clock.Now})
	mux := http.NewServeMux()
	mux.Handle(rpc.Path, f.h)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.c = &specClient{t: t, url: f.srv.URL + rpc.Path, http: f.srv.Client()}
	return f
}

var errOutside = errors.New("outside the test root")

// confine allows paths inside f.root only.
func (f *fixture) confine(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(f.root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", errOutside
	}
	return abs, nil
}

// makeTorrent writes a file of size bytes named name under dir and a
// .torrent for it under f.root; it returns the .torrent's path and
// metainfo.
func (f *fixture) makeTorrent(dir, name string, size int, pieceLen int64) (string, *metainfo.MetaInfo) {
	f.t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + len(name))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		f.t.Fatal(err)
	}
	raw, mi, err := metainfo.Create(path, metainfo.CreateOptions{PieceLength: pieceLen, Comment: "c", CreatedBy: "test"})
	if err != nil {
		f.t.Fatal(err)
	}
	tf := filepath.Join(f.root, name+".torrent")
	if err := os.WriteFile(tf, raw, 0o644); err != nil {
		f.t.Fatal(err)
	}
	return tf, mi
}

// waitFor waits until cond holds, re-checking after every alert the
// session posts (no sleeping): checks and transfers post alerts as they
// move.
func (f *fixture) waitFor(what string, cond func() bool) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !cond() {
		if err := f.sess.WaitForAlert(ctx); err != nil {
			f.t.Fatalf("waiting for %s: %v", what, err)
		}
		f.sess.PopAlerts()
	}
}

// waitAlert waits for an alert matching ok.
func (f *fixture) waitAlert(what string, ok func(plugin.Alert) bool) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if err := f.sess.WaitForAlert(ctx); err != nil {
			f.t.Fatalf("waiting for %s: %v", what, err)
		}
		for _, a := range f.sess.PopAlerts() {
			if ok(a) {
				return
			}
		}
	}
}

// get runs torrent-get with fields for ids (nil: all).
func (f *fixture) get(ids any, fields ...string) []specTorrent {
	f.t.Helper()
	args := map[string]any{"fields": fields}
	if ids != nil {
		args["ids"] = ids
	}
	var out specTorrents
	f.c.mustCall("torrent-get", args, &out)
	return out.Torrents
}
