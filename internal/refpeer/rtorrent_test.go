package refpeer

import "testing"

// TestRTorrentEventLines: only the echo output of our hooks for the torrent
// itself signals; the hook's command line that log.execute also prints, a
// magnet's metadata download and an incomplete check do not.
func TestRTorrentEventLines(t *testing.T) {
	const h = "96510A13AAF5B51C4B7CFEF558E8533FE385A8AB"
	r := &RTorrent{finished: make(chan struct{}), seeding: make(chan struct{})}
	closed := func(ch chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	steps := []struct {
		line              string
		finished, seeding bool
	}{
		{"\x00echo refpeer-event finished " + h + " 0 1", false, false},
		{"\x00refpeer-event finished " + h + " 1 1", false, false}, // the .meta download
		{"\x00refpeer-event hash_done " + h + " 0 0", false, false},
		{"refpeer-event hash_done " + h + " 1 1", false, false},
		{"\x00refpeer-event hash_done " + h + " 0 1", false, true},
		{"\x00refpeer-event finished " + h + " 0 1", true, true},
		{"\x00refpeer-event finished " + h + " 0 1", true, true}, // twice: no double close
	}
	for i, s := range steps {
		r.onLine("out", s.line)
		if closed(r.finished) != s.finished || closed(r.seeding) != s.seeding {
			t.Fatalf("after line %d %q: finished %v seeding %v", i, s.line, closed(r.finished), closed(r.seeding))
		}
	}
}
