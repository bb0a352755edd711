// Package interop holds shardtorrent's interoperability tests against real
// reference peers (libtorrent, aria2) driven through internal/refpeer. The
// tests carry the build tag "interop", so plain `go test ./...` skips them:
//
//	go test -tags interop -v -count=1 ./interop/
//
// See main_test.go for the environment variables.
package interop
