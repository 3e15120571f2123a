package presencetest

import (
	"runtime"
	"sync"
	"testing"
)

// Parallel runs body on GOMAXPROCS goroutines at once, passing each its
// index g and its share n of b.N iterations, and returns when all are done:
// a parallel benchmark of a backend, as b.RunParallel runs one, without
// writing shared memory on every iteration. b.RunParallel writes its
// *testing.PB on every pb.Next(), and the PBs of two goroutines can be
// allocated in one cache line: that false sharing made a 25 ns occupancy
// read take over 60 ns in some runs on 2 CPUs. body should keep its state (a
// random source, say) on its own goroutine's stack.
func Parallel(b *testing.B, body func(g, n int)) {
	procs := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for g := range procs {
		n := b.N / procs
		if g < b.N%procs {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(g, n)
		}()
	}
	wg.Wait()
}
