// Package shardtorrent is a BitTorrent engine built to seed fast: torrents
// are sharded over epoll event loops, each loop the only thread that
// touches its torrents, their peers and their plugins, so torrent state
// needs no locks. Its extension architecture follows libtorrent 2.0.8's
// (package plugin).
//
// # Quick start
//
// Download a magnet link into a directory, with a progress line (the
// package's Example runs this against a second session on 127.0.0.1):
//
//	s, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer s.Close(ctx)
//	p, err := shardtorrent.ParseMagnet(uri)
//	if err != nil {
//		log.Fatal(err)
//	}
//	p.SavePath = dir
//	t, err := s.AddTorrent(ctx, p)
//	if err != nil {
//		log.Fatal(err)
//	}
//	info, err := t.AwaitInfo(ctx) // the metadata, from the peers
//	if err != nil {
//		log.Fatal(err)
//	}
//	fmt.Println(info.Name, info.TotalLength, "bytes")
//	for {
//		wait, cancel := context.WithTimeout(ctx, time.Second)
//		_ = s.WaitForAlert(wait) // an alert, or a second: redraw
//		cancel()
//		s.PopAlerts()
//		st, err := t.Status(ctx)
//		if err != nil {
//			log.Fatal(err)
//		}
//		fmt.Printf("\r%s %5.1f%% %d peers %d kB/s ", t.Name(), 100*st.Progress, st.NumPeers, st.DownloadRate/1000)
//		if st.State == plugin.StateSeeding {
//			break
//		}
//	}
//
// # Sessions and torrents
//
// A Session owns the event loops (Settings.Shards), the disk workers, the
// listener, the tracker client, the DHT and the alert queue. NewSession
// starts them; Close stops them, and after Close every method returns
// ErrClosed at once.
//
// Add torrents with AddTorrent or AddTorrents, from a .torrent file
// (AddTorrentParams.TorrentFile), parsed metadata (MetaInfo) or an
// info-hash alone (a magnet link: ParseMagnet), whose metadata then comes
// from the peers. Each torrent has one *Torrent handle, kept by the
// session: AddTorrent, Session.Torrent (look-up by info-hash), Torrents,
// and every alert about the torrent give the same pointer, so handles
// compare with ==. Adding a torrent the session has returns its handle and
// ErrDuplicateTorrent. Torrent.Info is nil until the metadata is known;
// Torrent.GotInfo is a channel closed when it arrives, and AwaitInfo waits
// for it. Torrent.Files lists the files and their progress.
//
// # Files and priorities
//
// Files are numbered as Torrent.Files lists them, BEP 47 pad files left
// out; SetFilePriority, FilePriorities, NewFileReader,
// AddTorrentParams.FilePriorities and the RPC take that number
// (File.Index). Priorities are libtorrent's (see Priority): 0 skips a
// file, which is then never created (the bytes of pieces it shares with a
// wanted file go to the storage's part file); a torrent with every wanted
// piece is finished, with every piece it is seeding. Piece priorities
// (SetPiecePriority) override the files' until those change.
//
// # Streaming and storage
//
// Torrent.NewReader, File.NewReader and Torrent.NewFileReader return a
// Reader, an io.ReadSeekCloser over the torrent or one of its files
// (readable once the metadata is known: AwaitInfo) that blocks until the
// bytes it reads are verified; ReadContext adds a context. Its readahead
// (SetReadahead) and Torrent.SetPieceDeadline have the pieces needed
// soonest requested first (libtorrent's set_piece_deadline), so a player
// reads a file in order while the torrent downloads; several readers may
// read one torrent at once.
//
// AddTorrentParams.Storage says where pieces live: the file storage by
// default, storage.MemoryOpener for a memory storage bounded by a
// storage.MemoryBudget, or any storage.Storage of your own, which
// storagetest.Run checks as it checks the two built in.
//
// # Settings
//
// Settings configure a session; a zero field takes its default, and
// DefaultSettings holds every default in one place. NewSession and
// ApplySettings refuse a bad value with a *SettingError naming the field.
// Session.Settings returns the settings in effect; change fields and pass
// them to ApplySettings to change rate limits, the queue, the IP filter
// and the engine's tunables while the session runs.
//
// # Threading
//
// Every exported method of Session and Torrent is safe from any goroutine
// (a Reader's Read, ReadContext and Seek are for one goroutine at a time).
// A method that takes a context posts its work to the loop that owns the
// torrent and waits for the answer, or for the context; the others read
// state kept for other goroutines and never wait for a loop. Torrent.Post
// runs a function on the torrent's loop with its plugin handle, without
// waiting.
//
// # Alerts
//
// The session reports what happens through alerts (package plugin, as
// libtorrent's): PopAlerts takes the queued ones, WaitForAlert waits for
// one, Settings.AlertMask and SetAlertMask choose the categories. Every
// alert about a torrent embeds plugin.TorrentAlert, whose Handle is the
// torrent's *Torrent (TorrentOf returns it).
//
// # Errors
//
// Errors are values to match with errors.Is and errors.As: the sentinels
// of each package start with the package's name ("shardtorrent: ",
// "shard: ", ...), and typed errors (shard.ProtocolError, wire.MessageError,
// tracker.Error ...) carry a kind that errors.Is matches.
//
// # Extending
//
// Session plugins (Settings.Extensions, AddExtension), torrent plugins
// (AddTorrentParams.Extensions, Torrent.AddExtension) and peer plugins are
// written against package plugin alone; the built-in extensions in ext/
// (ut_metadata, ut_pex, lt_donthave, upload_only, smart_ban) are
// written that way too.
package shardtorrent
