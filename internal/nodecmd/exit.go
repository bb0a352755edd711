package nodecmd

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes of the node.
//
//   - 0: stopped by a signal while serving, or, with -exit-when-complete,
//     every torrent complete and verified.
//   - 1: a start-up failure, or, with -exit-when-complete, a torrent in an
//     error state the node could not clear (see retry.go: only when retries
//     are off).
//   - 2: bad flags or arguments.
//   - 128+N: with -exit-when-complete, stopped by signal N before every
//     torrent was complete (130 for SIGINT, 143 for SIGTERM), the code a
//     shell reports for a process killed by that signal, so a script that
//     waits for a download can tell "interrupted" from "done".

// notifySignals delivers SIGINT and SIGTERM to c until the returned stop
// is called. Tests replace it to send signals without signalling the
// test process.
var notifySignals = func(c chan<- os.Signal) (stop func()) {
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	return func() { signal.Stop(c) }
}

// signalContext returns a context cancelled by the first SIGINT or
// SIGTERM, and a function that reports which signal it was (nil if none).
func signalContext(parent context.Context) (ctx context.Context, got func() os.Signal, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	c := make(chan os.Signal, 1)
	stopNotify := notifySignals(c)
	var sig os.Signal
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case sig = <-c:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() os.Signal {
			if ctx.Err() == nil {
				return nil
			}
			<-done
			return sig
		}, func() {
			stopNotify()
			cancel()
			<-done
		}
}

// signalExitCode is the exit code for stopping on sig: 128 plus its
// number under -exit-when-complete (the download did not finish), 0
// otherwise (a signal is how a seeding node is stopped).
func signalExitCode(sig os.Signal, exitWhenComplete bool) int {
	if !exitWhenComplete {
		return 0
	}
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}
