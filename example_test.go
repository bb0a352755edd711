package shardtorrent_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// Download a magnet link into a directory, with a progress line. (The
// example's seeder is a second session on 127.0.0.1, named in the magnet's
// x.pe; a real magnet finds its peers through its trackers and the DHT.)
func Example() {
	magnet, dir, stop := quickstartSeeder() // a magnet URI, and a directory to download into
	defer stop()
	ctx := context.Background()

	s, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)
	p, err := shardtorrent.ParseMagnet(magnet)
	if err != nil {
		log.Fatal(err)
	}
	p.SavePath = dir
	t, err := s.AddTorrent(ctx, p)
	if err != nil {
		log.Fatal(err)
	}
	info, err := t.AwaitInfo(ctx) // the metadata, from the peers (ut_metadata)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d files, %d bytes\n", info.Name, len(info.Files), info.TotalLength)
	for {
		wait, cancel := context.WithTimeout(ctx, time.Second)
		_ = s.WaitForAlert(wait) // an alert, or a second: redraw the progress line
		cancel()
		s.PopAlerts()
		st, err := t.Status(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "\r%s %5.1f%% %d peers %d kB/s ", t.Name(), 100*st.Progress, st.NumPeers, st.DownloadRate/1000)
		if st.State == plugin.StateSeeding {
			break
		}
	}
	fmt.Fprintln(os.Stderr)
	fmt.Println("done:", t.Name())
	// Output:
	// quickstart: 2 files, 1300000 bytes
	// done: quickstart
}
