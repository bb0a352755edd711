package rpc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// field is one torrent-get key.
type field uint8

const (
	fActivityDate field = iota
	fAddedDate
	fBandwidthPriority
	fComment
	fCorruptEver
	fCreator
	fDateCreated
	fDesiredAvailable
	fDoneDate
	fDownloadDir
	fDownloadedEver
	fDownloadLimit
	fDownloadLimited
	fEditDate
	fError
	fErrorString
	fEta
	fEtaIdle
	fFileCount
	fFiles
	fFileStats
	fGroup
	fHashString
	fHaveUnchecked
	fHaveValid
	fHonorsSessionLimits
	fID
	fIsFinished
	fIsPrivate
	fIsStalled
	fLabels
	fLeftUntilDone
	fMagnetLink
	fManualAnnounceTime
	fMaxConnectedPeers
	fMetadataPercentComplete
	fName
	fPeerLimit
	fPeers
	fPeersConnected
	fPeersFrom
	fPeersGettingFromUs
	fPeersSendingToUs
	fPercentComplete
	fPercentDone
	fPieces
	fPieceCount
	fPieceSize
	fPriorities
	fPrimaryMimeType
	fQueuePosition
	fRateDownload
	fRateUpload
	fRecheckProgress
	fSecondsDownloading
	fSecondsSeeding
	fSeedIdleLimit
	fSeedIdleMode
	fSeedRatioLimit
	fSeedRatioMode
	fSizeWhenDone
	fStartDate
	fStatus
	fTrackers
	fTrackerList
	fTrackerStats
	fTotalSize
	fTorrentFile
	fUploadedEver
	fUploadLimit
	fUploadLimited
	fUploadRatio
	fWanted
	fWebseeds
	fWebseedsSendingToUs
	numFields
)

// fieldNames are the keys as the spec spells them, indexed by field.
var fieldNames = [numFields]string{
	"activityDate", "addedDate", "bandwidthPriority", "comment", "corruptEver", "creator", "dateCreated",
	"desiredAvailable", "doneDate", "downloadDir", "downloadedEver", "downloadLimit", "downloadLimited",
	"editDate", "error", "errorString", "eta", "etaIdle", "file-count", "files", "fileStats", "group",
	"hashString", "haveUnchecked", "haveValid", "honorsSessionLimits", "id", "isFinished", "isPrivate",
	"isStalled", "labels", "leftUntilDone", "magnetLink", "manualAnnounceTime", "maxConnectedPeers",
	"metadataPercentComplete", "name", "peer-limit", "peers", "peersConnected", "peersFrom",
	"peersGettingFromUs", "peersSendingToUs", "percentComplete", "percentDone", "pieces", "pieceCount",
	"pieceSize", "priorities", "primary-mime-type", "queuePosition", "rateDownload", "rateUpload",
	"recheckProgress", "secondsDownloading", "secondsSeeding", "seedIdleLimit", "seedIdleMode",
	"seedRatioLimit", "seedRatioMode", "sizeWhenDone", "startDate", "status", "trackers", "trackerList",
	"trackerStats", "totalSize", "torrentFile", "uploadedEver", "uploadLimit", "uploadLimited",
	"uploadRatio", "wanted", "webseeds", "webseedsSendingToUs",
}

var fieldByName = func() map[string]field {
	m := make(map[string]field, numFields)
	for i, n := range fieldNames {
		m[n] = field(i)
	}
	return m
}()

// Heavy fields need a per-torrent read beyond the views.
const (
	needFiles = 1 << iota
	needPeers
	needTrackers
	needPieces
)

func (f field) needs() int {
	switch f {
	case fFiles, fFileStats, fPriorities, fWanted:
		return needFiles
	case fPeers, fPeersFrom:
		return needPeers
	case fTrackerStats, fTrackers, fTrackerList:
		return needTrackers
	case fPieces:
		return needPieces
	}
	return 0
}

// Transmission's torrent status numbers (tr_torrent_activity).
const (
	statusStopped      = 0
	statusCheckWait    = 1
	statusCheck        = 2
	statusDownloadWait = 3
	statusDownload     = 4
	statusSeedWait     = 5
	statusSeed         = 6
)

// trStatus maps a torrent's state to Transmission's number.
func trStatus(v *shardtorrent.TorrentView) int {
	seed := v.State == plugin.StateSeeding || v.State == plugin.StateFinished
	switch {
	case v.Paused && v.AutoManaged && v.Err == nil && seed:
		return statusSeedWait // queued (torrent-start under a queue limit)
	case v.Paused && v.AutoManaged && v.Err == nil:
		return statusDownloadWait
	case v.Paused || v.Err != nil:
		return statusStopped
	case v.Checking || v.State == plugin.StateCheckingFiles || v.State == plugin.StateCheckingResume:
		return statusCheck
	case seed:
		return statusSeed
	default:
		return statusDownload
	}
}

// Transmission's eta values.
const (
	etaNotAvail = -1
	etaUnknown  = -2
)

func eta(v *shardtorrent.TorrentView) int64 {
	left := v.TotalWanted - v.TotalWantedDone
	switch {
	case !v.HasMetadata:
		return etaUnknown
	case left <= 0 || v.Paused || v.Err != nil:
		return etaNotAvail
	case v.DownloadRate > 0:
		return left / v.DownloadRate
	}
	return etaUnknown
}

// ratio is Transmission's tr_getRatio: -1 when nothing moved, -2
// (infinite) when something was uploaded against nothing downloaded.
func ratio(up, down int64) float64 {
	switch {
	case down > 0:
		return float64(up) / float64(down)
	case up > 0:
		return -2
	}
	return -1
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// heavy holds the per-torrent reads of one torrent.
type heavy struct {
	files    []shardtorrent.File
	peers    []shardtorrent.PeerInfo
	trackers []shardtorrent.TrackerStatus
	pieces   []byte
	// kb is the torrent's remembered (upload, download) speed limits in
	// kB/s, shown while disabled (speed.go).
	kb [2]int64
}

// torrentGetArgs is torrent-get's request.
type torrentGetArgs struct {
	IDs    json.RawMessage `json:"ids"`
	Fields []string        `json:"fields"`
	Format string          `json:"format"`
}

// listing is one read of every torrent's view, with the ids.
type listing struct {
	views []shardtorrent.TorrentView
	ids   []int
	sel   []selected
}

// list reads every view, updates the registry and selects set. Under
// h.mu (the reads and the registry stay in step: an add or remove over
// RPC never interleaves with a listing).
func (h *Handler) list(ctx context.Context, set idSet) (*listing, time.Time, error) {
	l := &h.scratch
	views, err := h.sess.TorrentViews(ctx, l.views)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := h.now()
	l.views = views
	l.ids = h.reg.update(views, l.ids, now)
	l.sel = h.reg.selectIDs(set, views, l.ids, now, l.sel)
	return l, now, nil
}

func (h *Handler) torrentGet(ctx context.Context, raw json.RawMessage, out []byte) ([]byte, error) {
	var a torrentGetArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return out, &ArgError{Arg: "arguments", Reason: err.Error()}
	}
	if len(a.Fields) == 0 {
		return out, &ArgError{Arg: "fields", Reason: "torrent-get needs a list of fields"}
	}
	table := false
	switch a.Format {
	case "", "objects":
	case "table":
		table = true
	default:
		return out, &ArgError{Arg: "format", Reason: "want \"objects\" or \"table\""}
	}
	set, err := parseIDs(a.IDs)
	if err != nil {
		return out, err
	}
	// Unknown keys are left out, as Transmission does; repeats once.
	var fields []field
	var seen [numFields]bool
	need := 0
	for _, n := range a.Fields {
		if f, ok := fieldByName[n]; ok && !seen[f] {
			seen[f] = true
			fields = append(fields, f)
			need |= f.needs()
		}
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	l, now, err := h.list(ctx, set)
	if err != nil {
		return out, err
	}
	out = append(out, `{"torrents":[`...)
	if table {
		out = append(out, '[')
		for i, f := range fields {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendString(out, fieldNames[f])
		}
		out = append(out, ']')
	}
	var hv heavy
	peerLimit := int64(h.sess.Settings().Engine.MaxConnsPerTorrent)
	for i, s := range l.sel {
		v := &l.views[s.vi]
		if need != 0 {
			if err := h.readHeavy(ctx, v, need, &hv); err != nil {
				return out, err
			}
		}
		e := h.reg.byID[s.id]
		hv.kb = h.torrentKB[v.InfoHash.Short()]
		if i > 0 || table {
			out = append(out, ',')
		}
		if table {
			out = append(out, '[')
		} else {
			out = append(out, '{')
		}
		for j, f := range fields {
			if !table {
				out = appendKey(out, fieldNames[f], j == 0)
			} else if j > 0 {
				out = append(out, ',')
			}
			out = appendField(out, f, v, s.id, e, &hv, now, peerLimit)
		}
		if table {
			out = append(out, ']')
		} else {
			out = append(out, '}')
		}
	}
	out = append(out, ']')
	if set.recent {
		out = append(out, `,"removed":[`...)
		for i, id := range h.reg.recentlyRemoved(now, nil) {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendInt(out, int64(id))
		}
		out = append(out, ']')
	}
	return append(out, '}'), nil
}

// readHeavy reads the per-torrent fields need asks for. A torrent removed
// in between reads as empty.
func (h *Handler) readHeavy(ctx context.Context, v *shardtorrent.TorrentView, need int, hv *heavy) error {
	*hv = heavy{}
	t, err := h.sess.FindTorrent(ctx, v.InfoHash.Short())
	if err != nil {
		return ignoreGone(err)
	}
	if need&needFiles != 0 {
		if hv.files, err = t.Files(ctx); err != nil {
			return ignoreGone(err)
		}
	}
	if need&needPeers != 0 {
		if hv.peers, err = t.Peers(ctx); err != nil {
			return ignoreGone(err)
		}
	}
	if need&needTrackers != 0 {
		if hv.trackers, err = t.Trackers(ctx); err != nil {
			return ignoreGone(err)
		}
	}
	if need&needPieces != 0 {
		if hv.pieces, _, err = t.Pieces(ctx); err != nil {
			return ignoreGone(err)
		}
	}
	return nil
}

func ignoreGone(err error) error {
	if err == shardtorrent.ErrTorrentGone {
		return nil
	}
	return err
}

// Transmission's tr_stat error numbers.
const (
	errNone       = 0
	errLocalError = 3
)

// appendField appends field f of torrent v (id, registry entry e, heavy
// reads hv, the engine's per-torrent connection cap peerLimit).
func appendField(b []byte, f field, v *shardtorrent.TorrentView, id int, e *entry, hv *heavy, now time.Time, peerLimit int64) []byte {
	left := v.TotalWanted - v.TotalWantedDone
	switch f {
	case fActivityDate:
		if e == nil {
			return append(b, '0')
		}
		return appendInt(b, unix(e.changed))
	case fAddedDate:
		return appendInt(b, unix(v.AddedAt))
	case fComment:
		return appendString(b, v.About.Comment)
	case fCreator:
		return appendString(b, v.About.CreatedBy)
	case fDateCreated:
		return appendInt(b, v.About.CreationDate)
	case fUploadLimit:
		return appendInt(b, torrentSpeed(v.UploadLimit, hv.kb[0]).kb)
	case fDownloadLimit:
		return appendInt(b, torrentSpeed(v.DownloadLimit, hv.kb[1]).kb)
	case fUploadLimited:
		return strconv.AppendBool(b, v.UploadLimit >= 0)
	case fDownloadLimited:
		return strconv.AppendBool(b, v.DownloadLimit >= 0)
	case fBandwidthPriority, fCorruptEver, fDesiredAvailable, fEditDate,
		fHaveUnchecked, fSecondsDownloading, fSecondsSeeding,
		fWebseedsSendingToUs, fManualAnnounceTime:
		return append(b, '0')
	case fMaxConnectedPeers, fPeerLimit:
		return appendInt(b, peerLimit)
	case fSeedRatioLimit:
		return appendFloat(b, v.SeedRatioLimit)
	case fSeedRatioMode:
		return appendInt(b, int64(v.RatioMode)) // TR_RATIOLIMIT_GLOBAL, _SINGLE, _UNLIMITED
	case fSeedIdleMode:
		return appendInt(b, int64(v.IdleMode)) // TR_IDLELIMIT_GLOBAL, _SINGLE, _UNLIMITED
	case fSeedIdleLimit:
		return appendInt(b, int64(v.SeedIdleLimit/time.Minute)) // minutes
	case fGroup, fPrimaryMimeType, fTorrentFile:
		return append(b, `""`...)
	case fDoneDate:
		return appendInt(b, unix(v.DoneAt))
	case fDownloadDir:
		return appendString(b, v.SavePath)
	case fDownloadedEver:
		return appendInt(b, v.DownloadedEver)
	case fIsFinished, fIsStalled:
		return append(b, "false"...)
	case fHonorsSessionLimits:
		return append(b, "true"...)
	case fError:
		if v.Err != nil {
			return appendInt(b, errLocalError)
		}
		return appendInt(b, errNone)
	case fErrorString:
		if v.Err == nil {
			return append(b, `""`...)
		}
		msg := v.Err.Error()
		if v.ErrorFile != "" && !strings.Contains(msg, v.ErrorFile) {
			msg += " (" + v.ErrorFile + ")"
		}
		return appendString(b, msg)
	case fEta:
		return appendInt(b, eta(v))
	case fEtaIdle:
		return appendInt(b, etaNotAvail)
	case fFileCount:
		return appendInt(b, int64(v.NumFiles))
	case fFiles:
		b = append(b, '[')
		for i, file := range hv.files {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"bytesCompleted":`...)
			b = appendInt(b, file.Completed)
			b = append(b, `,"length":`...)
			b = appendInt(b, file.Size)
			b = append(b, `,"name":`...)
			b = appendString(b, file.Path)
			b = append(b, '}')
		}
		return append(b, ']')
	case fFileStats:
		b = append(b, '[')
		for i, file := range hv.files {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"bytesCompleted":`...)
			b = appendInt(b, file.Completed)
			b = append(b, `,"priority":`...)
			b = appendTrPriority(b, file.Priority) // files.go
			b = append(b, `,"wanted":`...)
			b = strconv.AppendBool(b, file.Priority != shardtorrent.PriorityDontDownload)
			b = append(b, '}')
		}
		return append(b, ']')
	case fPriorities, fWanted:
		b = append(b, '[')
		for i, file := range hv.files {
			if i > 0 {
				b = append(b, ',')
			}
			switch {
			case f == fPriorities:
				b = appendTrPriority(b, file.Priority) // files.go
			case file.Priority == shardtorrent.PriorityDontDownload:
				b = append(b, '0')
			default:
				b = append(b, '1')
			}
		}
		return append(b, ']')
	case fHashString:
		return appendHash(b, v.InfoHash)
	case fHaveValid:
		return appendInt(b, v.TotalDone)
	case fID:
		return appendInt(b, int64(id))
	case fIsPrivate:
		return appendBool(b, v.Private)
	case fLabels, fWebseeds:
		return append(b, "[]"...)
	case fLeftUntilDone:
		return appendInt(b, left)
	case fMagnetLink:
		return appendString(b, magnetLink(v))
	case fMetadataPercentComplete:
		if v.HasMetadata {
			return append(b, '1')
		}
		return append(b, '0')
	case fName:
		return appendString(b, v.Name)
	case fPeers:
		return appendPeers(b, hv.peers)
	case fPeersConnected:
		return appendInt(b, int64(v.NumPeers))
	case fPeersFrom:
		return appendPeersFrom(b, hv.peers)
	case fPeersGettingFromUs:
		return appendInt(b, int64(v.PeersGettingFromUs))
	case fPeersSendingToUs:
		return appendInt(b, int64(v.PeersSendingToUs))
	case fPercentComplete: // of the whole torrent
		if v.TotalSize <= 0 {
			return append(b, '0')
		}
		return appendFloat(b, float64(v.TotalDone)/float64(v.TotalSize))
	case fPercentDone: // of the files wanted
		if v.TotalWanted <= 0 {
			return append(b, '0')
		}
		return appendFloat(b, float64(v.TotalWantedDone)/float64(v.TotalWanted))
	case fPieces:
		n := base64.StdEncoding.EncodedLen(len(hv.pieces))
		b = append(b, '"')
		start := len(b)
		b = append(b, make([]byte, n)...)
		base64.StdEncoding.Encode(b[start:], hv.pieces)
		return append(b, '"')
	case fPieceCount:
		return appendInt(b, int64(v.NumPieces))
	case fPieceSize:
		return appendInt(b, v.PieceSize)
	case fQueuePosition:
		return appendInt(b, int64(v.QueuePosition))
	case fRateDownload:
		return appendInt(b, v.DownloadRate)
	case fRateUpload:
		return appendInt(b, v.UploadRate)
	case fRecheckProgress:
		if trStatus(v) == statusCheck {
			return appendFloat(b, v.Progress)
		}
		return append(b, '0')
	case fSizeWhenDone:
		return appendInt(b, v.TotalWanted)
	case fTotalSize:
		return appendInt(b, v.TotalSize)
	case fStartDate:
		return appendInt(b, unix(v.StartedAt))
	case fStatus:
		return appendInt(b, int64(trStatus(v)))
	case fTrackers:
		b = append(b, '[')
		for i, t := range hv.trackers {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"announce":`...)
			b = appendString(b, t.URL)
			b = append(b, `,"id":`...)
			b = appendInt(b, int64(i))
			b = append(b, `,"scrape":`...)
			b = appendString(b, scrapeURL(t.URL))
			b = append(b, `,"sitename":`...)
			b = appendString(b, siteName(t.URL))
			b = append(b, `,"tier":`...)
			b = appendInt(b, int64(t.Tier))
			b = append(b, '}')
		}
		return append(b, ']')
	case fTrackerList:
		// One URL a line, a blank line between tiers.
		var sb strings.Builder
		for i, t := range hv.trackers {
			if i > 0 && t.Tier != hv.trackers[i-1].Tier {
				sb.WriteString("\n")
			}
			sb.WriteString(t.URL)
			sb.WriteString("\n")
		}
		return appendString(b, sb.String())
	case fTrackerStats:
		return appendTrackerStats(b, hv.trackers)
	case fUploadedEver:
		return appendInt(b, v.UploadedEver)
	case fUploadRatio:
		down := v.DownloadedEver
		if down == 0 {
			down = v.TotalDone // as Transmission: a seed's ratio is against what it has
		}
		return appendFloat(b, ratio(v.UploadedEver, down))
	}
	return append(b, "null"...)
}

// appendHash appends the info-hash as Transmission's hashString: the v1
// hash in lower-case hex (the v2 hash for a v2-only torrent).
func appendHash(b []byte, ih metainfo.InfoHash) []byte {
	b = append(b, '"')
	var src []byte
	if ih.HasV1() || !ih.HasV2() {
		src = ih.V1[:]
	} else {
		src = ih.V2[:]
	}
	for _, c := range src {
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return append(b, '"')
}

// magnetLink builds the torrent's magnet URI: its hashes, name and
// trackers once each.
func magnetLink(v *shardtorrent.TorrentView) string {
	m := metainfo.Magnet{InfoHash: v.InfoHash, Name: v.Name}
	seen := map[string]bool{}
	for _, tier := range v.Trackers {
		for _, u := range tier {
			if !seen[u] {
				seen[u] = true
				m.Trackers = append(m.Trackers, u)
			}
		}
	}
	return m.String()
}

// scrapeURL is BEP 48's announce-to-scrape rule for HTTP trackers ("" when
// the URL has none); a UDP tracker scrapes at its own address.
func scrapeURL(announce string) string {
	if strings.HasPrefix(announce, "udp://") {
		return announce
	}
	i := strings.LastIndexByte(announce, '/')
	if i < 0 || !strings.HasPrefix(announce[i:], "/announce") {
		return ""
	}
	return announce[:i] + "/scrape" + announce[i+len("/announce"):]
}

// siteName is the tracker's host without port.
func siteName(announce string) string {
	u, err := url.Parse(announce)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// hostOf is Transmission's trackerStats "host": scheme://host:port.
func hostOf(announce string) string {
	u, err := url.Parse(announce)
	if err != nil {
		return announce
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	if port == "" {
		return u.Scheme + "://" + u.Hostname()
	}
	return u.Scheme + "://" + u.Hostname() + ":" + port
}

// Transmission's tracker announce states (tr_tracker_state).
const (
	trackerInactive = 0
	trackerWaiting  = 1
	trackerActive   = 3
)

func appendTrackerStats(b []byte, ts []shardtorrent.TrackerStatus) []byte {
	b = append(b, '[')
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		state := trackerInactive
		switch {
		case t.Updating:
			state = trackerActive
		case !t.NextAnnounce.IsZero():
			state = trackerWaiting
		}
		result := ""
		switch {
		case t.Working:
			result = "Success"
		case t.Message != "":
			result = t.Message
		case t.LastError != nil:
			result = t.LastError.Error()
		}
		b = append(b, `{"announce":`...)
		b = appendString(b, t.URL)
		b = append(b, `,"announceState":`...)
		b = appendInt(b, int64(state))
		b = append(b, `,"downloadCount":`...)
		b = appendInt(b, int64(t.Downloaded))
		b = append(b, `,"hasAnnounced":`...)
		b = appendBool(b, t.Working || t.Fails > 0)
		b = append(b, `,"hasScraped":`...)
		b = appendBool(b, t.Seeders >= 0)
		b = append(b, `,"host":`...)
		b = appendString(b, hostOf(t.URL))
		b = append(b, `,"id":`...)
		b = appendInt(b, int64(i))
		b = append(b, `,"isBackup":false,"lastAnnouncePeerCount":0,"lastAnnounceResult":`...)
		b = appendString(b, result)
		b = append(b, `,"lastAnnounceStartTime":0,"lastAnnounceSucceeded":`...)
		b = appendBool(b, t.Working)
		b = append(b, `,"lastAnnounceTime":0,"lastAnnounceTimedOut":false,"lastScrapeResult":"","lastScrapeStartTime":0,"lastScrapeSucceeded":false,"lastScrapeTime":0,"lastScrapeTimedOut":false,"leecherCount":`...)
		b = appendInt(b, int64(t.Leechers))
		b = append(b, `,"nextAnnounceTime":`...)
		b = appendInt(b, unix(t.NextAnnounce))
		b = append(b, `,"nextScrapeTime":0,"scrape":`...)
		b = appendString(b, scrapeURL(t.URL))
		b = append(b, `,"scrapeState":0,"seederCount":`...)
		b = appendInt(b, int64(t.Seeders))
		b = append(b, `,"sitename":`...)
		b = appendString(b, siteName(t.URL))
		b = append(b, `,"tier":`...)
		b = appendInt(b, int64(t.Tier))
		b = append(b, '}')
	}
	return append(b, ']')
}

// flagStr is Transmission's peer flag string, for the flags we know:
// D downloading from, d we want but are choked, U uploading to, u it
// wants but we choke, ? we unchoked it but it is not interested, I
// incoming, H from the DHT, X from PEX.
func flagStr(p *shardtorrent.PeerInfo) string {
	var f [8]byte
	n := 0
	add := func(c byte) { f[n] = c; n++ }
	switch {
	case p.AmInterested && !p.PeerChoking:
		add('D')
	case p.AmInterested:
		add('d')
	}
	switch {
	case p.PeerInterest && !p.AmChoking:
		add('U')
	case p.PeerInterest:
		add('u')
	case !p.AmChoking:
		add('?')
	}
	if !p.Outgoing {
		add('I')
	}
	if p.Source&plugin.SourceDHT != 0 {
		add('H')
	}
	if p.Source&plugin.SourcePEX != 0 {
		add('X')
	}
	return string(f[:n])
}

func appendPeers(b []byte, ps []shardtorrent.PeerInfo) []byte {
	b = append(b, '[')
	for i := range ps {
		p := &ps[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"address":`...)
		b = appendString(b, p.Addr.Addr().Unmap().String())
		b = append(b, `,"clientIsChoked":`...)
		b = appendBool(b, p.PeerChoking)
		b = append(b, `,"clientIsInterested":`...)
		b = appendBool(b, p.AmInterested)
		b = append(b, `,"clientName":`...)
		b = appendString(b, p.Client)
		b = append(b, `,"flagStr":`...)
		b = appendString(b, flagStr(p))
		b = append(b, `,"isDownloadingFrom":`...)
		b = appendBool(b, p.AmInterested && !p.PeerChoking)
		b = append(b, `,"isEncrypted":false,"isIncoming":`...)
		b = appendBool(b, !p.Outgoing)
		b = append(b, `,"isUTP":false,"isUploadingTo":`...)
		b = appendBool(b, p.PeerInterest && !p.AmChoking)
		b = append(b, `,"peerIsChoked":`...)
		b = appendBool(b, p.AmChoking)
		b = append(b, `,"peerIsInterested":`...)
		b = appendBool(b, p.PeerInterest)
		b = append(b, `,"port":`...)
		b = appendInt(b, int64(p.Addr.Port()))
		b = append(b, `,"progress":`...)
		if p.Seed {
			b = append(b, '1')
		} else {
			b = append(b, '0')
		}
		b = append(b, `,"rateToClient":`...)
		b = appendInt(b, p.DownloadRate)
		b = append(b, `,"rateToPeer":`...)
		b = appendInt(b, p.UploadRate)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendPeersFrom(b []byte, ps []shardtorrent.PeerInfo) []byte {
	var dht, incoming, pex, tracker, lpd, cache int64
	for i := range ps {
		s := ps[i].Source
		switch {
		case !ps[i].Outgoing || s&plugin.SourceIncoming != 0:
			incoming++
		case s&plugin.SourceTracker != 0:
			tracker++
		case s&plugin.SourceDHT != 0:
			dht++
		case s&plugin.SourcePEX != 0:
			pex++
		case s&plugin.SourceLSD != 0:
			lpd++
		case s&plugin.SourceResumeData != 0:
			cache++
		}
	}
	b = append(b, `{"fromCache":`...)
	b = appendInt(b, cache)
	b = append(b, `,"fromDht":`...)
	b = appendInt(b, dht)
	b = append(b, `,"fromIncoming":`...)
	b = appendInt(b, incoming)
	b = append(b, `,"fromLpd":`...)
	b = appendInt(b, lpd)
	b = append(b, `,"fromLtep":0,"fromPex":`...)
	b = appendInt(b, pex)
	b = append(b, `,"fromTracker":`...)
	b = appendInt(b, tracker)
	return append(b, '}')
}
