package tracker

import "sync/atomic"

// Stats are the Manager's request counters since NewManager, for metrics.
type Stats struct {
	// Announces and Scrapes were sent (each attempt counts);
	// AnnounceErrors and ScrapeErrors of them failed (transport error,
	// timeout or a tracker's failure reason).
	Announces, AnnounceErrors uint64
	Scrapes, ScrapeErrors     uint64
	// PeersReceived counts the peers announce replies carried (our own
	// address left out).
	PeersReceived uint64
	// InFlight is the number of requests out now.
	InFlight int
}

// stats are the Manager's counters, bumped once per request by its
// request goroutines.
type stats struct {
	announces, announceErrors, scrapes, scrapeErrors, peers atomic.Uint64
}

// count records one finished request.
func (s *stats) count(scrape bool, err error, peers int) {
	switch {
	case scrape && err != nil:
		s.scrapes.Add(1)
		s.scrapeErrors.Add(1)
	case scrape:
		s.scrapes.Add(1)
	case err != nil:
		s.announces.Add(1)
		s.announceErrors.Add(1)
	default:
		s.announces.Add(1)
		s.peers.Add(uint64(peers))
	}
}

// Stats returns the request counters. Safe from any goroutine.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	inFlight := m.s.inFlight
	m.mu.Unlock()
	return Stats{
		Announces: m.st.announces.Load(), AnnounceErrors: m.st.announceErrors.Load(),
		Scrapes: m.st.scrapes.Load(), ScrapeErrors: m.st.scrapeErrors.Load(),
		PeersReceived: m.st.peers.Load(), InFlight: inFlight,
	}
}
