package ipfilter

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
)

// The loaders read the common blocklist formats, detected line by line, so
// one file may mix them:
//
//	# comment, // comment, blank lines       skipped
//	Some name:1.2.3.0-1.2.3.255              P2P plain text (also Org:2001:db8::1-2001:db8::ff)
//	001.002.003.000 - 001.002.003.255 , 100 , name   eMule DAT
//	1.2.3.0/24    2001:db8::/32              CIDR
//	1.2.3.4    1.2.3.0-1.2.3.9    2001:db8::1-2001:db8::9   a bare address or range
//
// IPv4 octets may carry leading zeros (DAT files pad them). A DAT line
// blocks when its level is <= 127 and is ignored (allowed) above that, as
// libtorrent's and qBittorrent's readers do. A gzip-compressed file is
// recognised by its magic bytes.
//
// Bad lines follow qBittorrent's policy: a line that does not parse is
// skipped and counted (Stats.BadLines; the first few are kept in
// Stats.Errors as *LineError), and the rest of the file still loads. Only a
// file that cannot be read, whose gzip stream is corrupt, or that has bad
// lines and not a single usable one, fails the load.

// Sentinel errors, matched with errors.Is on a *LineError or a load error.
var (
	// ErrSyntax: a line in none of the formats.
	ErrSyntax = errors.New("ipfilter: unrecognised line")
	// ErrBadAddress: a field that should be an address is not one.
	ErrBadAddress = errors.New("ipfilter: bad address")
	// ErrBadLevel: a DAT line whose level is not an integer.
	ErrBadLevel = errors.New("ipfilter: bad DAT level")
	// ErrLineTooLong: a line longer than MaxLineLen.
	ErrLineTooLong = errors.New("ipfilter: line too long")
	// ErrNoRanges: a file with bad lines and no usable line at all.
	ErrNoRanges = errors.New("ipfilter: no valid range in the file")
)

// MaxLineLen bounds one line of a blocklist; longer lines are bad lines.
const MaxLineLen = 4096

// maxKeptErrors is how many *LineError a Stats keeps.
const maxKeptErrors = 10

// LineError is a bad line: its 1-based number, its start, and why.
type LineError struct {
	Line int
	Text string // at most 80 bytes of the line
	Err  error  // one of the sentinels above, possibly wrapped
}

func (e *LineError) Error() string {
	return fmt.Sprintf("ipfilter: line %d: %v: %q", e.Line, e.Err, e.Text)
}

func (e *LineError) Unwrap() error { return e.Err }

// Stats says what a load read.
type Stats struct {
	Lines    int          // lines read
	Rules    int          // lines that blocked a range
	Allowed  int          // DAT lines with level > 127 (ignored)
	BadLines int          // lines skipped as bad
	Errors   []*LineError // the first bad lines (up to 10)
	Ranges   int          // ranges stored after merging
}

// LoadFile reads a blocklist file (see Load). Safe from any goroutine.
func LoadFile(path string) (*Filter, Stats, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, Stats{}, err
	}
	defer fh.Close()
	return Load(fh)
}

// Load reads a blocklist (plain or gzip) into a new Filter whose ranges are
// all Blocked. Safe from any goroutine.
func Load(r io.Reader) (*Filter, Stats, error) {
	var st Stats
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, st, fmt.Errorf("ipfilter: gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	var v4, v6 []rng
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || (len(line) > MaxLineLen) {
			st.Lines++
			st.bad(line, ErrLineTooLong)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, st, fmt.Errorf("ipfilter: read: %w", err)
			}
			continue
		}
		if len(line) > 0 {
			st.Lines++
			first, last, res, perr := parseLine(line)
			switch {
			case perr != nil:
				st.bad(line, perr)
			case res == lineBlock:
				st.Rules++
				if first.Is4() {
					v4 = append(v4, rng{keyOf(first), keyOf(last), Blocked})
				} else {
					v6 = append(v6, rng{keyOf(first), keyOf(last), Blocked})
				}
			case res == lineAllow:
				st.Allowed++
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, st, fmt.Errorf("ipfilter: read: %w", err)
		}
	}
	if st.BadLines > 0 && st.Rules == 0 && st.Allowed == 0 {
		return nil, st, fmt.Errorf("%w (%d bad lines; first: %w)", ErrNoRanges, st.BadLines, st.Errors[0])
	}
	f := &Filter{v4: table{mergeBlocked(v4)}, v6: table{mergeBlocked(v6)}}
	st.Ranges = f.Len()
	return f, st, nil
}

func (st *Stats) bad(line []byte, err error) {
	st.BadLines++
	if len(st.Errors) < maxKeptErrors {
		t := bytes.TrimRight(line, "\r\n")
		if len(t) > 80 {
			t = t[:80]
		}
		st.Errors = append(st.Errors, &LineError{Line: st.Lines, Text: string(t), Err: err})
	}
}

// mergeBlocked sorts ranges of equal flags and merges overlapping and
// adjacent ones in place: with one flag value, the order rules were added
// in does not matter.
func mergeBlocked(r []rng) []rng {
	if len(r) == 0 {
		return nil
	}
	if !slices.IsSortedFunc(r, cmpFirst) {
		slices.SortFunc(r, cmpFirst)
	}
	out := r[:1]
	for _, x := range r[1:] {
		p := &out[len(out)-1]
		if !p.last.less(x.first) || adjacent(p.last, x.first) {
			if p.last.less(x.last) {
				p.last = x.last
			}
			continue
		}
		out = append(out, x)
	}
	return slices.Clip(out)
}

func cmpFirst(a, b rng) int {
	switch {
	case a.first.less(b.first):
		return -1
	case b.first.less(a.first):
		return 1
	}
	return 0
}

type lineResult uint8

const (
	lineSkip  lineResult = iota // comment or blank
	lineBlock                   // a range to block
	lineAllow                   // a DAT line above level 127
)

// parseLine reads one line in any of the formats.
func parseLine(line []byte) (first, last netip.Addr, res lineResult, err error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] == '#' || bytes.HasPrefix(line, []byte("//")) {
		return first, last, lineSkip, nil
	}
	if c := bytes.IndexByte(line, ','); c >= 0 { // DAT, or a P2P name with a comma
		first, last, res, err = parseDAT(line, c)
		if err != nil && bytes.IndexByte(line[c:], ':') >= 0 {
			if f, l, perr := parseP2P(line); perr == nil {
				return f, l, lineBlock, nil
			}
		}
		return first, last, res, err
	}
	if s := bytes.IndexByte(line, '/'); s >= 0 { // CIDR
		p, perr := netip.ParsePrefix(string(line))
		if perr != nil {
			a, aerr := parseAddr(line[:s])
			bits, berr := strconv.Atoi(string(line[s+1:]))
			if aerr != nil || berr != nil {
				return first, last, lineSkip, fmt.Errorf("%w: %v", ErrBadAddress, perr)
			}
			if p, perr = a.Prefix(bits); perr != nil {
				return first, last, lineSkip, fmt.Errorf("%w: %v", ErrBadAddress, perr)
			}
		}
		p = p.Masked()
		first = p.Addr().Unmap()
		last = lastOf(p)
		return first, last, lineBlock, nil
	}
	if addrChars(line) { // bare address or range
		if f, l, rerr := parseRange(line); rerr == nil {
			return f, l, lineBlock, nil
		}
	}
	if bytes.IndexByte(line, ':') >= 0 { // P2P
		first, last, err = parseP2P(line)
		if err != nil {
			return first, last, lineSkip, err
		}
		return first, last, lineBlock, nil
	}
	return first, last, lineSkip, ErrSyntax
}

// parseP2P reads "name:first-last". The range starts after the first ':'
// of the name whose rest parses as an address, and ends after the last
// '-', so names may hold ':' and '-' and the range may be IPv6
// ("Org:Label:2001:db8::1-2001:db8::ff"), as qBittorrent reads it.
func parseP2P(line []byte) (first, last netip.Addr, err error) {
	d := bytes.LastIndexByte(line, '-')
	if d < 0 {
		return first, last, ErrSyntax
	}
	head := line[:d]
	found := false
	for i := bytes.IndexByte(head, ':'); i >= 0; {
		rest := bytes.TrimSpace(head[i+1:])
		if a, aerr := parseAddr(rest); aerr == nil {
			first, found = a, true
			break
		}
		j := bytes.IndexByte(head[i+1:], ':')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	if !found {
		return first, last, ErrBadAddress
	}
	if last, err = parseAddr(bytes.TrimSpace(line[d+1:])); err != nil {
		return first, last, err
	}
	if first.Is4() != last.Is4() {
		return first, last, fmt.Errorf("%w: %v-%v mixes families", ErrBadAddress, first, last)
	}
	if last.Less(first) {
		return first, last, fmt.Errorf("%w: %v is after %v", ErrBadAddress, first, last)
	}
	return first, last, nil
}

// parseDAT reads "first - last , level , name"; c is the first comma.
func parseDAT(line []byte, c int) (first, last netip.Addr, res lineResult, err error) {
	rest := line[c+1:]
	if c2 := bytes.IndexByte(rest, ','); c2 >= 0 {
		rest = rest[:c2]
	}
	level := 0 // an empty level blocks, as in qBittorrent
	if rest = bytes.TrimSpace(rest); len(rest) > 0 {
		var lerr error
		if level, lerr = strconv.Atoi(string(rest)); lerr != nil {
			return first, last, lineSkip, ErrBadLevel
		}
	}
	first, last, err = parseRange(line[:c])
	if err != nil {
		return first, last, lineSkip, err
	}
	if level > 127 {
		return first, last, lineAllow, nil
	}
	return first, last, lineBlock, nil
}

// addrChars reports whether b holds only characters of addresses and
// ranges, so that a P2P line ("name:range") is not first tried as a bare
// range, which would cost an allocation.
func addrChars(b []byte) bool {
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F',
			c == ':', c == '.', c == '-', c == ' ', c == '\t':
		default:
			return false
		}
	}
	return true
}

// lastOf is the last address of a masked prefix.
func lastOf(p netip.Prefix) netip.Addr {
	a := p.Addr()
	bits := p.Bits()
	if a.Is4() {
		b := a.As4()
		for i := bits; i < 32; i++ {
			b[i/8] |= 0x80 >> (i % 8)
		}
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	for i := bits; i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b).Unmap()
}

// parseRange reads "a-b" (spaces allowed around '-') or a single address.
func parseRange(b []byte) (first, last netip.Addr, err error) {
	d := bytes.IndexByte(b, '-')
	if d < 0 {
		first, err = parseAddr(bytes.TrimSpace(b))
		return first, first, err
	}
	if first, err = parseAddr(bytes.TrimSpace(b[:d])); err != nil {
		return
	}
	if last, err = parseAddr(bytes.TrimSpace(b[d+1:])); err != nil {
		return
	}
	if first.Is4() != last.Is4() {
		return first, last, fmt.Errorf("%w: %v-%v mixes families", ErrBadAddress, first, last)
	}
	if last.Less(first) {
		return first, last, fmt.Errorf("%w: %v is after %v", ErrBadAddress, first, last)
	}
	return first, last, nil
}

// parseAddr reads an address; IPv4 octets may have leading zeros. The
// IPv4 path does not allocate.
func parseAddr(b []byte) (netip.Addr, error) {
	if len(b) == 0 {
		return netip.Addr{}, ErrBadAddress
	}
	if bytes.IndexByte(b, ':') < 0 {
		var o [4]byte
		n, v, digits := 0, 0, 0
		for _, c := range b {
			switch {
			case c >= '0' && c <= '9':
				v = v*10 + int(c-'0')
				digits++
				if v > 255 || digits > 8 {
					return netip.Addr{}, ErrBadAddress
				}
			case c == '.' && digits > 0 && n < 3:
				o[n] = byte(v)
				n, v, digits = n+1, 0, 0
			default:
				return netip.Addr{}, ErrBadAddress
			}
		}
		if n != 3 || digits == 0 {
			return netip.Addr{}, ErrBadAddress
		}
		o[3] = byte(v)
		return netip.AddrFrom4(o), nil
	}
	a, err := netip.ParseAddr(string(b))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %v", ErrBadAddress, err)
	}
	return a.Unmap().WithZone(""), nil
}
