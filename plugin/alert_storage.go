package plugin

import "fmt"

// Alert type ids of the storage and resume-data alerts: libtorrent 2.0.8's
// own ids, which our 1-20 block does not reach.
const (
	TypeTorrentDeleted       AlertType = 35
	TypeTorrentDeleteFailed  AlertType = 36
	TypeSaveResumeData       AlertType = 37
	TypeSaveResumeDataFailed AlertType = 38
	TypeFileError            AlertType = 43
	TypeFastresumeRejected   AlertType = 53
)

// FileErrorAlert: a disk operation on one of a torrent's files failed
// (libtorrent's file_error_alert). File is the path inside the save
// directory, Op the operation ("open", "read", "write", "sync", "create",
// "close", "hash", "delete"). The torrent is in an error state until Resume
// (see TorrentErrorAlert), except for Op "hash": a piece that seed mode
// trusted failed its hash when first asked for, and the torrent lost that
// piece only (it downloads it again; Err wraps shard.ErrCorruptPiece, or
// the missing or short file's error).
type FileErrorAlert struct {
	TorrentAlert
	File string
	Op   string
	Err  error
}

func (*FileErrorAlert) Type() AlertType    { return TypeFileError }
func (*FileErrorAlert) Category() Category { return CategoryError | CategoryStorage }
func (*FileErrorAlert) Name() string       { return "file_error" }
func (a *FileErrorAlert) Message() string {
	return fmt.Sprintf("%s file (%s) error: %s: %v", a.prefix(), a.File, a.Op, a.Err)
}

// SaveResumeDataAlert carries a torrent's resume data, in libtorrent's
// bencoded format (package resume), in answer to a save request
// (libtorrent's save_resume_data_alert). Data is the caller's to keep.
type SaveResumeDataAlert struct {
	TorrentAlert
	Data []byte
}

func (*SaveResumeDataAlert) Type() AlertType    { return TypeSaveResumeData }
func (*SaveResumeDataAlert) Category() Category { return CategoryStorage }
func (*SaveResumeDataAlert) Name() string       { return "save_resume_data" }
func (a *SaveResumeDataAlert) Message() string {
	return fmt.Sprintf("%s resume data generated (%d bytes)", a.prefix(), len(a.Data))
}

// SaveResumeDataFailedAlert: a save request could not be answered
// (libtorrent's save_resume_data_failed_alert): no metadata yet, or the
// torrent went away.
type SaveResumeDataFailedAlert struct {
	TorrentAlert
	Err error // why
}

func (*SaveResumeDataFailedAlert) Type() AlertType    { return TypeSaveResumeDataFailed }
func (*SaveResumeDataFailedAlert) Category() Category { return CategoryStorage | CategoryError }
func (*SaveResumeDataFailedAlert) Name() string       { return "save_resume_data_failed" }
func (a *SaveResumeDataFailedAlert) Message() string {
	return fmt.Sprintf("%s resume data was not generated: %v", a.prefix(), a.Err)
}

// FastresumeRejectedAlert: resume data given with a torrent did not fit
// (another torrent, a file changed size or time since it was saved), so
// the torrent is checked in full instead (libtorrent's
// fastresume_rejected_alert). File names the file that differs, if one did.
type FastresumeRejectedAlert struct {
	TorrentAlert
	File string
	Err  error // why the resume data did not fit
}

func (*FastresumeRejectedAlert) Type() AlertType    { return TypeFastresumeRejected }
func (*FastresumeRejectedAlert) Category() Category { return CategoryStatus | CategoryError }
func (*FastresumeRejectedAlert) Name() string       { return "fastresume_rejected" }
func (a *FastresumeRejectedAlert) Message() string {
	if a.File != "" {
		return fmt.Sprintf("%s fast resume rejected (%s): %v", a.prefix(), a.File, a.Err)
	}
	return fmt.Sprintf("%s fast resume rejected: %v", a.prefix(), a.Err)
}

// TorrentDeletedAlert: a torrent removed with its files has had them
// deleted (libtorrent's torrent_deleted_alert).
type TorrentDeletedAlert struct{ TorrentAlert }

func (*TorrentDeletedAlert) Type() AlertType    { return TypeTorrentDeleted }
func (*TorrentDeletedAlert) Category() Category { return CategoryStorage }
func (*TorrentDeletedAlert) Name() string       { return "torrent_deleted" }
func (a *TorrentDeletedAlert) Message() string  { return a.prefix() + " deleted" }

// TorrentDeleteFailedAlert: deleting a removed torrent's files failed
// (libtorrent's torrent_delete_failed_alert).
type TorrentDeleteFailedAlert struct {
	TorrentAlert
	Err error // the error deleting the files
}

func (*TorrentDeleteFailedAlert) Type() AlertType    { return TypeTorrentDeleteFailed }
func (*TorrentDeleteFailedAlert) Category() Category { return CategoryStorage | CategoryError }
func (*TorrentDeleteFailedAlert) Name() string       { return "torrent_delete_failed" }
func (a *TorrentDeleteFailedAlert) Message() string {
	return fmt.Sprintf("%s delete of files failed: %v", a.prefix(), a.Err)
}

func init() {
	for _, a := range []Alert{
		(*FileErrorAlert)(nil), (*SaveResumeDataAlert)(nil), (*SaveResumeDataFailedAlert)(nil),
		(*FastresumeRejectedAlert)(nil), (*TorrentDeletedAlert)(nil), (*TorrentDeleteFailedAlert)(nil),
	} {
		alertTypes[a.Type()] = alertTypeInfo{a.Category(), a.Name()}
	}
}
