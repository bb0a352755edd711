package plugin

import "fmt"

// Alert type ids of the metadata alerts. They are outside the iota block
// of alert.go so branches adding alerts there do not collide; 44 and 45
// are libtorrent's own ids for these two alerts.
const (
	TypeMetadataFailed   AlertType = 44
	TypeMetadataReceived AlertType = 45
)

// MetadataReceivedAlert: a torrent added without metadata (a magnet URI)
// received its info dictionary, which matched the info-hash; the torrent
// now checks its files and downloads like any other (libtorrent's
// metadata_received_alert).
type MetadataReceivedAlert struct{ TorrentAlert }

func (*MetadataReceivedAlert) Type() AlertType    { return TypeMetadataReceived }
func (*MetadataReceivedAlert) Category() Category { return CategoryStatus }
func (*MetadataReceivedAlert) Name() string       { return "metadata_received" }
func (a *MetadataReceivedAlert) Message() string {
	return a.prefix() + " metadata successfully received"
}

// MetadataFailedAlert: metadata received from peers was refused (libtorrent's
// metadata_failed_alert); Err matches ErrMismatchingInfoHash when it did not
// hash to the info-hash. The torrent keeps asking.
type MetadataFailedAlert struct {
	TorrentAlert
	Err error
}

func (*MetadataFailedAlert) Type() AlertType    { return TypeMetadataFailed }
func (*MetadataFailedAlert) Category() Category { return CategoryError }
func (*MetadataFailedAlert) Name() string       { return "metadata_failed" }
func (a *MetadataFailedAlert) Message() string {
	return fmt.Sprintf("%s invalid metadata received: %v", a.prefix(), a.Err)
}

func init() {
	for _, a := range []Alert{(*MetadataFailedAlert)(nil), (*MetadataReceivedAlert)(nil)} {
		alertTypes[a.Type()] = alertTypeInfo{a.Category(), a.Name()}
	}
}
