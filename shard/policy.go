package shard

import (
	"time"

	"github.com/shardtorrent/shardtorrent/resume"
)

// A torrent's own policy in its resume data (package resume's policy
// keys): its rate limits, share-ratio and idle rules and whether it is
// auto-managed survive a restart. ResumeData writes them; AddTorrent
// restores them from AddParams.Resume, whether or not its pieces are
// accepted. Auto-management itself is restored by the session, through
// AddParams.Paused / NotAutoManaged (shardtorrent.ParamsFromResume).

// savePolicy records t's policy in d. Loop only.
func (t *Torrent) savePolicy(d *resume.Data) {
	d.Policy = true
	d.AutoManaged = t.autoManaged
	up, down := t.rlUpB.rate, t.rlDownB.rate
	d.UploadLimit, d.DownloadLimit = max(up, 0), max(down, 0)
	if up == 0 {
		d.ZeroLimits |= resume.ZeroUploadLimit
	}
	if down == 0 {
		d.ZeroLimits |= resume.ZeroDownloadLimit
	}
	d.RatioMode, d.RatioLimit = uint8(t.sl.mode), t.sl.ratio
	d.IdleMode, d.IdleLimit = uint8(t.sl.idleMode), int64(t.sl.idle/time.Second)
}

// restorePolicy applies the policy d records to a torrent being added
// (rate limits, ratio and idle rules); data without policy keys changes
// nothing. Loop only.
func (t *Torrent) restorePolicy(d *resume.Data) {
	if d.UploadLimit > 0 {
		t.SetUploadLimit(d.UploadLimit)
	} else if d.ZeroLimits&resume.ZeroUploadLimit != 0 {
		t.SetUploadLimit(0)
	}
	if d.DownloadLimit > 0 {
		t.SetDownloadLimit(d.DownloadLimit)
	} else if d.ZeroLimits&resume.ZeroDownloadLimit != 0 {
		t.SetDownloadLimit(0)
	}
	if d.RatioMode <= resume.MaxPolicyMode && (d.RatioMode != 0 || d.RatioLimit != 0) {
		t.SetRatioLimit(RatioMode(d.RatioMode), d.RatioLimit)
	}
	if d.IdleMode <= resume.MaxPolicyMode && (d.IdleMode != 0 || d.IdleLimit != 0) {
		t.SetIdleLimit(IdleMode(d.IdleMode), time.Duration(d.IdleLimit)*time.Second)
	}
}
