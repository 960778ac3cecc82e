//go:build !linux

package dbgen

// allocPool returns n bytes of zeroed memory for the text pool and a
// function that releases it.
func allocPool(n int) (mem []byte, release func()) {
	return make([]byte, n), func() {}
}
