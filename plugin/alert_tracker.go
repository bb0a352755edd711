package plugin

import "fmt"

// Alert type ids of the tracker alerts. They are outside the iota block of
// alert.go so branches adding alerts there do not collide. libtorrent's own
// ids for these (11 to 17) are taken by that block, so each is 1000 plus
// libtorrent's id: tracker_error 11, tracker_warning 12, scrape_reply 13,
// scrape_failed 14, tracker_reply 15, tracker_announce 17.
const (
	TypeTrackerError    AlertType = 1011
	TypeTrackerWarning  AlertType = 1012
	TypeScrapeReply     AlertType = 1013
	TypeScrapeFailed    AlertType = 1014
	TypeTrackerReply    AlertType = 1015
	TypeTrackerAnnounce AlertType = 1017
)

// TrackerAlert is embedded by every alert about one tracker of a torrent.
type TrackerAlert struct {
	TorrentAlert
	// URL is the tracker's announce URL.
	URL string
}

func (a TrackerAlert) prefix() string { return fmt.Sprintf("%s (%s)", a.TorrentAlert.prefix(), a.URL) }

// TrackerAnnounceAlert: an announce is being sent (libtorrent's
// tracker_announce_alert). Event is "started", "completed", "stopped" or
// "" for a periodic announce.
type TrackerAnnounceAlert struct {
	TrackerAlert
	Event string
}

func (*TrackerAnnounceAlert) Type() AlertType    { return TypeTrackerAnnounce }
func (*TrackerAnnounceAlert) Category() Category { return CategoryTracker }
func (*TrackerAnnounceAlert) Name() string       { return "tracker_announce" }
func (a *TrackerAnnounceAlert) Message() string {
	ev := a.Event
	if ev == "" {
		ev = "none"
	}
	return fmt.Sprintf("%s sending announce (%s)", a.prefix(), ev)
}

// TrackerReplyAlert: a tracker answered an announce (libtorrent's
// tracker_reply_alert). NumPeers is the peers it gave that we kept.
type TrackerReplyAlert struct {
	TrackerAlert
	NumPeers int
}

func (*TrackerReplyAlert) Type() AlertType    { return TypeTrackerReply }
func (*TrackerReplyAlert) Category() Category { return CategoryTracker }
func (*TrackerReplyAlert) Name() string       { return "tracker_reply" }
func (a *TrackerReplyAlert) Message() string {
	return fmt.Sprintf("%s received peers: %d", a.prefix(), a.NumPeers)
}

// TrackerWarningAlert: a tracker's reply carried a "warning message"
// (libtorrent's tracker_warning_alert); the reply was used.
type TrackerWarningAlert struct {
	TrackerAlert
	Warning string // the tracker's text
}

func (*TrackerWarningAlert) Type() AlertType    { return TypeTrackerWarning }
func (*TrackerWarningAlert) Category() Category { return CategoryTracker | CategoryError }
func (*TrackerWarningAlert) Name() string       { return "tracker_warning" }
func (a *TrackerWarningAlert) Message() string {
	return fmt.Sprintf("%s warning: %s", a.prefix(), a.Warning)
}

// TrackerErrorAlert: an announce failed (libtorrent's tracker_error_alert).
// Fails is the tracker's consecutive failures; FailureReason is the
// tracker's own "failure reason", if it gave one; Err is the typed error
// (*tracker.Error, matchable by its kinds). The tracker is retried after a
// back-off.
type TrackerErrorAlert struct {
	TrackerAlert
	Fails         int
	FailureReason string
	Err           error
}

func (*TrackerErrorAlert) Type() AlertType    { return TypeTrackerError }
func (*TrackerErrorAlert) Category() Category { return CategoryTracker | CategoryError }
func (*TrackerErrorAlert) Name() string       { return "tracker_error" }
func (a *TrackerErrorAlert) Message() string {
	return fmt.Sprintf("%s (%d times in a row) %v", a.prefix(), a.Fails, a.Err)
}

// ScrapeReplyAlert: a tracker answered a scrape (libtorrent's
// scrape_reply_alert); -1 means the tracker did not say.
type ScrapeReplyAlert struct {
	TrackerAlert
	Complete, Incomplete, Downloaded int // seeds, leechers, completed downloads
}

func (*ScrapeReplyAlert) Type() AlertType    { return TypeScrapeReply }
func (*ScrapeReplyAlert) Category() Category { return CategoryTracker }
func (*ScrapeReplyAlert) Name() string       { return "scrape_reply" }
func (a *ScrapeReplyAlert) Message() string {
	return fmt.Sprintf("%s scrape reply: %d %d", a.prefix(), a.Incomplete, a.Complete)
}

// ScrapeFailedAlert: a scrape failed (libtorrent's scrape_failed_alert).
type ScrapeFailedAlert struct {
	TrackerAlert
	Err error // why the scrape failed
}

func (*ScrapeFailedAlert) Type() AlertType    { return TypeScrapeFailed }
func (*ScrapeFailedAlert) Category() Category { return CategoryTracker | CategoryError }
func (*ScrapeFailedAlert) Name() string       { return "scrape_failed" }
func (a *ScrapeFailedAlert) Message() string {
	return fmt.Sprintf("%s scrape failed: %v", a.prefix(), a.Err)
}

func init() {
	for _, a := range []Alert{
		(*TrackerAnnounceAlert)(nil), (*TrackerReplyAlert)(nil), (*TrackerWarningAlert)(nil),
		(*TrackerErrorAlert)(nil), (*ScrapeReplyAlert)(nil), (*ScrapeFailedAlert)(nil),
	} {
		alertTypes[a.Type()] = alertTypeInfo{a.Category(), a.Name()}
	}
}
