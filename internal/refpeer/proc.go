package refpeer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Usage is the resource usage of an exited process.
type Usage struct {
	User, Sys time.Duration // CPU time in user and kernel mode
	MaxRSS    int64         // peak resident set size, bytes
}

// CPU returns User+Sys.
func (u Usage) CPU() time.Duration { return u.User + u.Sys }

func usageOf(ps *os.ProcessState) Usage {
	if ps == nil {
		return Usage{}
	}
	u := Usage{User: ps.UserTime(), Sys: ps.SystemTime()}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		u.MaxRSS = ru.Maxrss * 1024 // Linux reports KiB
	}
	return u
}

// ProcCPU returns the CPU time (utime+stime) consumed so far by a running
// process, read from /proc/PID/stat. It assumes USER_HZ=100, which holds on
// every Linux architecture Go supports.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("refpeer: malformed /proc/%d/stat", pid)
	}
	// After "pid (comm) " come state(3) ppid(4) ... utime(14) stime(15).
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("refpeer: short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("refpeer: bad /proc/%d/stat times", pid)
	}
	const userHZ = 100
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// ProcOptions describe a process started with StartProcess.
type ProcOptions struct {
	Name string   // label used in errors and log lines; default: base of Path
	Path string   // executable
	Args []string // arguments, without argv[0]
	Dir  string   // working directory
	Env  []string // extra environment (appended to os.Environ())
	// Log, if set, receives every output line prefixed with the name and
	// stream, e.g. t.Output() in tests.
	Log io.Writer
	// KeepStdin keeps a pipe to the child's stdin open until Stop, so a child
	// that exits on stdin EOF dies together with this process.
	KeepStdin bool
}

// Process is a child process whose output lines are recorded, so tests can
// wait for a line, and whose resource usage is reported when it exits.
// Children get PDEATHSIG=SIGKILL, so they do not outlive the test binary.
type Process struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   io.Writer

	mu       sync.Mutex
	lines    []string // stdout+stderr lines, in arrival order (bounded)
	dropped  int      // lines dropped from the front of lines
	changed  chan struct{}
	onLine   func(stream, line string)
	stopping bool

	done    chan struct{}
	waitErr error
	state   *os.ProcessState
}

const maxLines = 20000

// StartProcess starts a child process. The context only bounds the start;
// use Stop or Wait to end it.
func StartProcess(ctx context.Context, o ProcOptions) (*Process, error) {
	return startProcess(ctx, o, nil)
}

func startProcess(ctx context.Context, o ProcOptions, onLine func(stream, line string)) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = o.Path[strings.LastIndexByte(o.Path, '/')+1:]
	}
	cmd := exec.Command(o.Path, o.Args...)
	cmd.Dir = o.Dir
	if len(o.Env) > 0 {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &Process{name: name, cmd: cmd, log: o.Log, changed: make(chan struct{}), done: make(chan struct{}), onLine: onLine}
	var err error
	if o.KeepStdin {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("refpeer: start %s: %w", name, err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go p.scan(&wg, "out", stdout)
	go p.scan(&wg, "err", stderr)
	go func() {
		wg.Wait()
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.state = cmd.ProcessState
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *Process) scan(wg *sync.WaitGroup, stream string, r io.Reader) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p.log != nil {
			fmt.Fprintf(p.log, "[%s %s] %s\n", p.name, stream, line)
		}
		if p.onLine != nil {
			p.onLine(stream, line)
		}
		p.mu.Lock()
		if len(p.lines) >= maxLines {
			n := maxLines / 2
			p.lines = append(p.lines[:0], p.lines[n:]...)
			p.dropped += n
		}
		p.lines = append(p.lines, line)
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

// Name returns the process label.
func (p *Process) Name() string { return p.name }

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited and its output is drained.
func (p *Process) Done() <-chan struct{} { return p.done }

// CPU returns the CPU time consumed so far (from /proc; running processes only).
func (p *Process) CPU() (time.Duration, error) { return ProcCPU(p.Pid()) }

// Output returns the recorded output lines (stdout and stderr interleaved).
func (p *Process) Output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Tail returns the last n output lines joined by newlines, for error messages.
func (p *Process) Tail(n int) string {
	l := p.Output()
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// WaitLine waits until an output line (stdout or stderr, including lines
// already seen) contains substr and returns it. It fails if the process
// exits first or ctx ends.
func (p *Process) WaitLine(ctx context.Context, substr string) (string, error) {
	return p.WaitLineFunc(ctx, func(l string) bool { return strings.Contains(l, substr) }, fmt.Sprintf("a line containing %q", substr))
}

// WaitLineFunc is WaitLine with a predicate; what describes it in errors.
func (p *Process) WaitLineFunc(ctx context.Context, match func(string) bool, what string) (string, error) {
	seen := 0 // absolute index of the next line to look at
	for {
		p.mu.Lock()
		start := seen - p.dropped
		if start < 0 {
			start = 0
		}
		for i := start; i < len(p.lines); i++ {
			if match(p.lines[i]) {
				l := p.lines[i]
				p.mu.Unlock()
				return l, nil
			}
		}
		seen = p.dropped + len(p.lines)
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.done:
			// Output is fully drained once done is closed; rescan once.
			p.mu.Lock()
			for i := max(seen-p.dropped, 0); i < len(p.lines); i++ {
				if match(p.lines[i]) {
					l := p.lines[i]
					p.mu.Unlock()
					return l, nil
				}
			}
			p.mu.Unlock()
			return "", p.crashed(fmt.Errorf("%s exited (%v) before printing %s; last output:\n%s", p.name, p.exitErr(), what, p.Tail(30)))
		case <-ctx.Done():
			return "", fmt.Errorf("%s: waiting for %s: %w; last output:\n%s", p.name, what, ctx.Err(), p.Tail(30))
		}
	}
}

// ErrCrashed marks a reference peer that died of a signal nobody sent it
// (a segfault inside libtorrent, say). It is the reference peer's fault,
// never a verdict on our engine: a harness may run that measurement
// again, once, and say so.
var ErrCrashed = errors.New("refpeer: the process died of a signal it was not sent")

// crashed wraps err with ErrCrashed when the process died of a signal
// that Stop did not send.
func (p *Process) crashed(err error) error {
	p.mu.Lock()
	stopping, werr := p.stopping, p.waitErr
	p.mu.Unlock()
	var ee *exec.ExitError
	if stopping || !errors.As(werr, &ee) {
		return err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Errorf("%w (%w)", err, ErrCrashed)
	}
	return err
}

func (p *Process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waitErr != nil {
		return p.waitErr
	}
	return errors.New("exit status 0")
}

func (p *Process) result() (Usage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := usageOf(p.state)
	if p.waitErr == nil {
		return u, nil
	}
	if p.stopping {
		// Killed by our own Stop: only an error if it did not die of the
		// signals we sent (or exited non-zero on its own).
		if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() &&
			(ws.Signal() == syscall.SIGTERM || ws.Signal() == syscall.SIGKILL) {
			return u, nil
		}
	}
	return u, fmt.Errorf("%s: %w", p.name, p.waitErr)
}

// Wait waits for the process to exit by itself and returns its usage; a
// non-zero exit is an error that includes the output tail. If ctx ends
// first the process is killed and ctx's error returned.
func (p *Process) Wait(ctx context.Context) (Usage, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		u, _ := p.Stop()
		return u, fmt.Errorf("%s: %w (killed); last output:\n%s", p.name, ctx.Err(), p.Tail(30))
	}
	p.closeStdin()
	u, err := p.result()
	if err != nil {
		return u, fmt.Errorf("%w; last output:\n%s", err, p.Tail(30))
	}
	return u, nil
}

func (p *Process) closeStdin() {
	if p.stdin != nil {
		_ = p.stdin.Close()
	}
}

// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
var StopTimeout = 10 * time.Second

// Stop ends the process (SIGTERM and stdin EOF, then SIGKILL after
// StopTimeout) and returns its usage. Dying from our signal is not an
// error; a non-zero exit status is. Stop is idempotent.
func (p *Process) Stop() (Usage, error) {
	select {
	case <-p.done:
	default:
		p.mu.Lock()
		p.stopping = true
		p.mu.Unlock()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		p.closeStdin()
		select {
		case <-p.done:
		case <-time.After(StopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.closeStdin()
	return p.result()
}
