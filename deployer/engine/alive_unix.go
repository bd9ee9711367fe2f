//go:build unix

package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"syscall"
	"time"
)

// ProcessAlive reports whether a process with pid exists on this host.
// Signal 0 checks without signalling; EPERM means it exists but belongs to
// another user. A zombie (ended, not yet reaped by its parent: in a
// container whose first process does not reap, it stays one) has ended:
// not alive.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return !zombie(pid)
}

// zombie reports whether /proc says pid has ended but was not reaped;
// false where there is no /proc, or it is not this process's (ownProc).
func zombie(pid int) bool {
	if !ownProc() {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	switch b[i+2] {
	case 'Z', 'X':
		return true
	}
	return false
}

// HolderAlive reports whether the process pid that took something (a
// lease, a lock file) at since still runs: it is alive and did not start
// after since. A process that started later only reuses the pid: in a
// container with a fixed hostname, a new container's processes get the
// same small pids as the killed one's. Where /proc cannot tell when a
// process started, alive is enough.
func HolderAlive(pid int, since time.Time) bool {
	if !ProcessAlive(pid) {
		return false
	}
	start, ok := processStart(pid)
	// /proc/stat gives the boot time in whole seconds, and the clock may
	// have been adjusted since boot: only a clear "later" counts.
	return !ok || since.IsZero() || !start.After(since.Add(2*time.Second))
}

// userHZ is the unit of /proc/<pid>/stat's start time: USER_HZ, 100 on
// every Linux architecture Go supports.
const userHZ = 100

// processStart returns when pid started, from /proc (false where there is
// no /proc or it cannot be read).
func processStart(pid int) (time.Time, bool) {
	ticks, ok := startTicks(pid)
	if !ok {
		return time.Time{}, false
	}
	boot, ok := bootTime()
	if !ok {
		return time.Time{}, false
	}
	return boot.Add(time.Duration(ticks) * time.Second / userHZ), true
}

// startTicks is when pid started, in clock ticks after boot: field 22 of
// /proc/<pid>/stat (false where there is no /proc, it cannot be read, or
// it is not this process's, ownProc). No clock is involved, so it is
// exact.
func startTicks(pid int) (int64, bool) {
	if !ownProc() {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	// Fields after the comm: state is field 3, starttime field 22.
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return 0, false
	}
	ticks, err := strconv.ParseInt(string(f[19]), 10, 64)
	if err != nil || ticks <= 0 {
		return 0, false
	}
	return ticks, true
}

// Self returns the Incarnation of this process; false where /proc does not
// tell all of it (then nothing can prove this process dead later).
func Self() (Incarnation, bool) { return IncarnationOf(os.Getpid()) }

// ownProc reports whether /proc counts pids as this process does. A
// container with its own pid namespace that sees the host's /proc (bind
// mounted, or not mounted again after unshare) finds another process
// under each of its pids there: it would record another process's
// incarnation as its own, and take a live holder's lease for a dead one's
// (its pid, signalled in the container, gone; or a start tick that is not
// its). There, nothing about a process is read from /proc.
func ownProc() bool {
	link, err := os.Readlink("/proc/self")
	return err == nil && link == strconv.Itoa(os.Getpid())
}

// IncarnationOf returns the Incarnation of process pid, seen from this
// one; false where /proc does not tell all of it, or is not this
// process's (ownProc).
func IncarnationOf(pid int) (Incarnation, bool) {
	if !ownProc() {
		return Incarnation{}, false
	}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return Incarnation{}, false
	}
	ns, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid")
	if err != nil {
		return Incarnation{}, false
	}
	start, ok := startTicks(pid)
	id := Incarnation{Boot: string(bytes.TrimSpace(boot)), PIDNamespace: ns, Start: start, Machine: machineID()}
	return id, ok && id.Boot != "" && ns != ""
}

// machineID is this installation's /etc/machine-id (or D-Bus's copy),
// hashed for panka as sd_id128_get_machine_app_specific does: equal on
// one machine across reboots, telling nothing of the id; "" when there is
// none, or it is empty or the "uninitialized" of a first boot.
func machineID() string {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		b, err := os.ReadFile(p)
		id := string(bytes.TrimSpace(b))
		if err != nil || len(id) != 32 {
			continue
		}
		sum := sha256.Sum256([]byte("panka lease holder machine\x00" + id))
		return hex.EncodeToString(sum[:16])
	}
	return ""
}

// bootClockMargin is the error allowed between lease times and this
// boot's start: lease times are whole seconds of the lock server's clock,
// known here within a few seconds (locker.ServerClock).
const bootClockMargin = 10 * time.Second

// BootEnded reports whether the boot of inc, a process whose lease was
// last renewed at lastSeen (now and lastSeen on the lease's clock), has
// provably ended, with every process of it: inc names this machine
// (Machine, which outlives reboots) and another boot, and this boot
// started after lastSeen. A process of an earlier boot cannot have
// renewed its lease after this one began; another machine with the same
// machine id (a clone of one disk image) can, and is told apart so, as far
// as it still renews its lease. The start of this boot is now minus the
// uptime (CLOCK_BOOTTIME, which counts suspended time and no clock
// changes), so a wall clock set since the boot does not move it. False
// whenever part of that is missing or odd: no machine id (recorded or
// here), the same boot, no uptime, lastSeen zero or after now.
func BootEnded(inc Incarnation, lastSeen, now time.Time) bool {
	if inc.Boot == "" || inc.Machine == "" || lastSeen.IsZero() || lastSeen.After(now) {
		return false
	}
	self, ok := Self()
	if !ok || self.Machine == "" || self.Machine != inc.Machine || self.Boot == inc.Boot {
		return false
	}
	up, ok := Uptime()
	if !ok {
		return false
	}
	return lastSeen.Add(bootClockMargin).Before(now.Add(-up))
}

// Uptime is how long this machine has been up, suspended time included:
// the first field of /proc/uptime (CLOCK_BOOTTIME); false where there is
// no /proc.
func Uptime() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, false
	}
	sec, err := strconv.ParseFloat(string(f[0]), 64)
	if err != nil || sec <= 0 {
		return 0, false
	}
	return time.Duration(sec * float64(time.Second)), true
}

// Ended reports whether the process of inc with pid has provably ended:
// inc was taken in this boot and pid namespace (Self), and pid is now no
// process, a zombie, or a process that started at another tick (a later
// one reusing the pid). False whenever that cannot be told (an incomplete
// inc, another boot or namespace, /proc unreadable for pid).
func Ended(inc Incarnation, pid int) bool {
	if pid <= 0 || pid == os.Getpid() || inc.Boot == "" || inc.PIDNamespace == "" || inc.Start <= 0 {
		return false
	}
	self, ok := Self()
	if !ok || self.Boot != inc.Boot || self.PIDNamespace != inc.PIDNamespace {
		return false
	}
	if !ProcessAlive(pid) {
		return true
	}
	start, ok := startTicks(pid)
	return ok && start != inc.Start
}

// bootTime is the btime line of /proc/stat.
func bootTime() (time.Time, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			sec, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(sec, 0), true
		}
	}
	return time.Time{}, false
}
