package dbgen

import "syscall"

// allocPool returns n bytes of zeroed memory for the text pool and a
// function that releases it. On Linux it maps the pool directly and asks for
// transparent huge pages: comments are read from random places in the pool,
// and with 4 KiB pages nearly every read would also miss the TLB. If mapping
// fails it falls back to the Go heap.
func allocPool(n int) (mem []byte, release func()) {
	mem, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]byte, n), func() {}
	}
	// The hint is best effort: without huge pages the pool still works.
	_ = syscall.Madvise(mem, madvHugePage)
	return mem, func() { _ = syscall.Munmap(mem) }
}

// madvHugePage is MADV_HUGEPAGE, which package syscall does not name.
const madvHugePage = 14
