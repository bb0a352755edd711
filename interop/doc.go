// Package interop holds shardtorrent's interoperability tests against real
// reference peers (libtorrent 2.0.8, aria2, Transmission 3.00,
// qBittorrent-nox 4.5.2, rtorrent 0.9.8) and trackers (opentracker) driven
// through internal/refpeer. The
// tests carry the build tag "interop", so plain `go test ./...` skips them:
//
//	go test -tags interop -v -count=1 ./interop/
//
// See main_test.go for the environment variables.
package interop
