package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of /proc/PID/stat's times. It
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procCPU returns the CPU time (utime + stime) of process pid from
// /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(b)
}

// parseProcStat reads utime and stime, fields 14 and 15 of a stat line.
// The command name (field 2) is in parentheses and may hold spaces and
// parentheses, so fields are counted after its last ')'.
func parseProcStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat: no command name")
	}
	fields := bytes.Fields(b[i+1:]) // fields[0] is field 3, the state
	if len(fields) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// cpuMeter measures a process's CPU time between start and stop.
type cpuMeter struct {
	pid   int // 0: this process
	begin time.Duration
	err   error
}

func (m *cpuMeter) read() (time.Duration, error) {
	if m.pid == 0 {
		return selfCPU()
	}
	return procCPU(m.pid)
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid}
	m.begin, m.err = m.read()
	return m
}

// stop returns the CPU used since start, per 1,000 of requests and per
// second of elapsed.
func (m *cpuMeter) stop(requests int64, elapsed time.Duration) CPU {
	c := CPU{PID: m.pid}
	end, err := m.read()
	if m.err != nil {
		err = m.err
	}
	if err != nil {
		c.Error = err.Error()
		return c
	}
	c.Seconds = (end - m.begin).Seconds()
	if requests > 0 {
		c.PerThousandRequests = c.Seconds * 1000 / float64(requests)
	}
	if elapsed > 0 {
		c.Cores = c.Seconds / elapsed.Seconds()
	}
	return c
}
