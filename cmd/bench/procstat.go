package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// cpuTimes is a process's CPU time so far, user and system, in seconds.
type cpuTimes struct{ user, sys float64 }

func (c cpuTimes) sub(o cpuTimes) cpuTimes { return cpuTimes{c.user - o.user, c.sys - o.sys} }
func (c cpuTimes) total() float64          { return c.user + c.sys }

// procStat reads a running process's CPU times and resident set size from
// /proc/PID/stat (USER_HZ is 100 on every Linux architecture Go supports).
func procStat(pid int) (cpuTimes, int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return cpuTimes{}, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return cpuTimes{}, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	// After "pid (comm) " come state(3) ... utime(14) stime(15) ... rss(24).
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return cpuTimes{}, 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	const userHZ = 100
	return cpuTimes{float64(ut) / userHZ, float64(st) / userHZ}, rss * int64(os.Getpagesize()), nil
}

// procCPU is procStat's CPU times, zero on error (the process exited).
func procCPU(pid int) cpuTimes {
	c, _, _ := procStat(pid)
	return c
}

// procRSS is procStat's RSS, zero on error.
func procRSS(pid int) int64 {
	_, r, _ := procStat(pid)
	return r
}

// procPeakRSS reads VmHWM, the peak RSS of a running process.
func procPeakRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

func removeAll(p string) error { return os.RemoveAll(p) }
