package tracker

import (
	"net/url"
	"strings"
	"testing"
)

// TestAnnounceURL: a private tracker's passkey query comes first, binary
// fields are percent-encoded, the tracker id is echoed, a stopped wants
// no peers, an unknown left is sent as the largest number.
func TestAnnounceURL(t *testing.T) {
	u, _ := url.Parse("http://t.example/announce.php?passkey=abc")
	r := Request{Port: 6881, Uploaded: 1, Downloaded: 2, Left: -1, Event: EventStarted, NumWant: 50, Key: 0xbeef, TrackerID: "a b"}
	copy(r.InfoHash[:], "\x00\x01ab~.-_\xff"+strings.Repeat("z", 11))
	copy(r.PeerID[:], "-ST0010-abcdefghijkl")
	got := AnnounceURL(u, r)
	want := "http://t.example/announce.php?passkey=abc&info_hash=%00%01ab~.-_%FFzzzzzzzzzzz&peer_id=-ST0010-abcdefghijkl&port=6881" +
		"&uploaded=1&downloaded=2&left=9223372036854775807&corrupt=0&key=beef&event=started&numwant=50&compact=1&no_peer_id=1&supportcrypto=1&trackerid=a+b"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestScrapeURL(t *testing.T) {
	var ih [20]byte
	ih[0] = 0xff
	for in, want := range map[string]string{
		"http://t/announce":           "http://t/scrape?info_hash=%FF" + strings.Repeat("%00", 19),
		"http://t/x/announce.php?k=1": "http://t/x/scrape.php?k=1&info_hash=%FF" + strings.Repeat("%00", 19),
		"http://t/a":                  "",
		"http://t/announce/other":     "",
	} {
		u, _ := url.Parse(in)
		got, ok := ScrapeURL(u, ih)
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %v, want %q", in, got, ok, want)
		}
	}
}
