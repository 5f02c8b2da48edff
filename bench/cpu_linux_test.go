package bench

import (
	"os"
	"testing"
	"time"
)

// TestProcessCPU reads this process's CPU time both ways: from getrusage
// (pid 0) and from /proc/<pid>/stat, as for a plugin process. It spins
// until getrusage has counted 300ms of CPU (however long a loaded machine
// takes to give them), then /proc must have counted them too, to a few
// clock ticks.
func TestProcessCPU(t *testing.T) {
	self0, err := ProcessCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	proc0, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	want := 300 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	var self1 time.Duration
	for {
		for start := time.Now(); time.Since(start) < 10*time.Millisecond; {
		}
		self1, _ = ProcessCPU(0)
		if self1-self0 >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("getrusage: %v of CPU time after a minute of spinning", self1-self0)
		}
	}
	proc1, _ := ProcessCPU(os.Getpid())
	if d := proc1 - proc0; d < want-100*time.Millisecond {
		t.Errorf("/proc: %v of CPU time while getrusage counted %v", d, self1-self0)
	}
	if diff := (self1 - proc1).Abs(); diff > 100*time.Millisecond {
		t.Errorf("getrusage says %v, /proc says %v", self1, proc1)
	}
	if _, err := ProcessCPU(1 << 30); err == nil {
		t.Error("ProcessCPU of a process that does not exist: no error")
	}
}

// TestMachineCPU: while this process spins, the machine's busy time grows
// by at least part of it, and the shares stay within the total.
func TestMachineCPU(t *testing.T) {
	busy0, steal0, total0, err := MachineCPU()
	if err != nil {
		t.Fatal(err)
	}
	spin := 300 * time.Millisecond
	for start := time.Now(); time.Since(start) < spin; {
	}
	busy1, steal1, total1, err := MachineCPU()
	if err != nil {
		t.Fatal(err)
	}
	if d := busy1 - busy0; d < spin/2 {
		t.Errorf("busy time grew by %v while spinning for %v", d, spin)
	}
	if busy1-busy0+steal1-steal0 > total1-total0 || total1 <= total0 {
		t.Errorf("busy %v + steal %v of a total of %v", busy1-busy0, steal1-steal0, total1-total0)
	}
}
