package chunk

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readChunks(t testing.TB, paths []string) [][]byte {
	t.Helper()
	out := make([][]byte, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		out[i] = b
	}
	return out
}

// lineStarts returns the offsets at which lines start.
func lineStarts(in []byte) []int {
	var starts []int
	for i := range in {
		if i == 0 || in[i-1] == '\n' {
			starts = append(starts, i)
		}
	}
	return starts
}

// wantLines is the lines-mode rule written plainly: chunk i holds the lines
// starting in [i*size/n, (i+1)*size/n), the last one everything after.
func wantLines(in []byte, n int) [][]byte {
	out := make([][]byte, n)
	size := int64(len(in))
	starts := lineStarts(in)
	for k, s := range starts {
		end := len(in)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		c := n - 1
		for i := range n - 1 {
			if int64(s) < (int64(i)+1)*size/int64(n) {
				c = i
				break
			}
		}
		out[c] = append(out[c], in[s:end]...)
	}
	for i := range out {
		if out[i] == nil {
			out[i] = []byte{}
		}
	}
	return out
}

// wantRoundRobin deals line j to chunk j mod n.
func wantRoundRobin(in []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte{}
	}
	starts := lineStarts(in)
	for k, s := range starts {
		end := len(in)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		out[k%n] = append(out[k%n], in[s:end]...)
	}
	return out
}

func split(t testing.TB, in []byte, o Options) ([]string, [][]byte) {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	paths, err := Split(context.Background(), bytes.NewReader(in), int64(len(in)), o)
	require.NoError(t, err)
	require.Len(t, paths, o.Chunks)
	return paths, readChunks(t, paths)
}

func TestSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var rows bytes.Buffer
	for i := range 1000 {
		rows.WriteString(strings.Repeat("x", rng.IntN(200)))
		rows.WriteString("|" + string(rune('a'+i%26)) + "\n")
	}
	inputs := map[string][]byte{
		"rows":                  rows.Bytes(),
		"no final newline":      []byte("one\ntwo\nthree"),
		"empty":                 {},
		"one line":              []byte("only line\n"),
		"CRLF":                  []byte("a|1\r\nb|2\r\nc|3\r\n"),
		"blank lines":           []byte("\n\n\nx\n\n"),
		"a line over 3 targets": []byte("a\n" + strings.Repeat("L", 5000) + "\nb\nc\n"),
	}
	for name, in := range inputs {
		for _, n := range []int{1, 2, 3, 7, 64} {
			t.Run(name, func(t *testing.T) {
				_, got := split(t, in, Options{Chunks: n, Mode: Lines})
				assert.Equal(t, string(in), string(bytes.Join(got, nil)), "lines: the chunks concatenate to the input")
				assert.Equal(t, wantLines(in, n), got, "lines: chunk boundaries")
				rest := len(in)
				for i, c := range got {
					rest -= len(c)
					if len(c) > 0 && rest > 0 {
						assert.Equal(t, byte('\n'), c[len(c)-1], "chunk %d, followed by more, ends a line", i)
					}
				}
				_, got = split(t, in, Options{Chunks: n, Mode: RoundRobin})
				assert.Equal(t, wantRoundRobin(in, n), got, "roundrobin")
			})
		}
	}
}

func TestSplitBalancesBytes(t *testing.T) {
	in := bytes.Repeat([]byte("1|Customer#000000001|IVhzIApeRb ot,c,E|15|25-989-741-2988|711.56|BUILDING|to the even|\n"), 10000)
	_, got := split(t, in, Options{Chunks: 10})
	for i, c := range got {
		assert.InDelta(t, len(in)/10, len(c), 100, "chunk %d", i)
	}
}

func TestSplitMatchesGNUSplitRoundRobin(t *testing.T) {
	if _, err := exec.LookPath("split"); err != nil {
		t.Skip("GNU split not installed")
	}
	in := []byte("a\nbb\nccc\ndddd\neeeee\nf\ng\nh\nno newline")
	dir := t.TempDir()
	src := filepath.Join(dir, "in")
	require.NoError(t, os.WriteFile(src, in, 0o644))
	gnu := filepath.Join(dir, "gnu")
	require.NoError(t, os.Mkdir(gnu, 0o755))
	cmd := exec.Command("split", "-n", "r/3", "-d", "-a", "3", src, filepath.Join(gnu, "x"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("split -n r/3 unsupported here: %v %s", err, out)
	}
	paths, err := SplitFile(context.Background(), src, Options{Chunks: 3, Mode: RoundRobin, Dir: filepath.Join(dir, "ours"), Name: "x{n}"})
	require.NoError(t, err)
	for i, p := range paths {
		want, err := os.ReadFile(filepath.Join(gnu, filepath.Base(p)))
		require.NoError(t, err)
		got, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "chunk %d", i)
	}
}

func TestNames(t *testing.T) {
	dir := t.TempDir()
	paths, _ := split(t, []byte("a\n"), Options{Chunks: 3, Dir: dir})
	assert.Equal(t, []string{filepath.Join(dir, "customer.000.csv"), filepath.Join(dir, "customer.001.csv"), filepath.Join(dir, "customer.002.csv")}, paths)

	paths, _ = split(t, []byte("a\n"), Options{Chunks: 1001, Dir: dir, Name: "part-{n}.tbl", Mode: Lines})
	assert.Equal(t, filepath.Join(dir, "part-0000.tbl"), paths[0])
	assert.Equal(t, filepath.Join(dir, "part-1000.tbl"), paths[1000])

	paths, _ = split(t, []byte("a\n"), Options{Chunks: 1000, Dir: filepath.Join(dir, "new", "sub")})
	assert.Equal(t, filepath.Join(dir, "new", "sub", "customer.999.csv"), paths[999])
}

func TestSplitRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]Options{
		"zero chunks":      {Chunks: 0, Dir: dir},
		"negative chunks":  {Chunks: -2, Dir: dir},
		"unknown mode":     {Chunks: 2, Mode: Mode(7), Dir: dir},
		"no placeholder":   {Chunks: 2, Dir: dir, Name: "customer.csv"},
		"two placeholders": {Chunks: 2, Dir: dir, Name: "{n}.{n}"},
		"path in name":     {Chunks: 2, Dir: dir, Name: "sub/{n}.csv"},
	}
	for name, o := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Split(context.Background(), strings.NewReader("a\n"), 2, o)
			require.ErrorIs(t, err, ErrBadOptions)
		})
	}
	_, err := Split(context.Background(), strings.NewReader("a\n"), -1, Options{Chunks: 2, Dir: dir})
	require.ErrorIs(t, err, ErrBadOptions, "lines mode without a size")
	_, err = Split(context.Background(), strings.NewReader("a\n"), -1, Options{Chunks: 2, Dir: dir, Mode: RoundRobin})
	require.NoError(t, err, "round robin needs no size")

	_, err = SplitFile(context.Background(), filepath.Join(dir, "missing"), Options{Chunks: 2, Dir: dir})
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestSplitCancelledLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, m := range []Mode{Lines, RoundRobin} {
		_, err := Split(ctx, strings.NewReader(strings.Repeat("row\n", 1000)), 4000, Options{Chunks: 4, Mode: m, Dir: dir})
		require.ErrorIs(t, err, context.Canceled)
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Empty(t, entries, "mode %v", m)
	}
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]Mode{"lines": Lines, "roundrobin": RoundRobin, "rr": RoundRobin} {
		got, err := ParseMode(s)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		if len(s) > 2 {
			assert.Equal(t, s, got.String())
		}
	}
	_, err := ParseMode("bytes")
	assert.ErrorIs(t, err, ErrBadOptions)
}

// FuzzSplit checks both modes against their plain definitions for any input
// and chunk count.
func FuzzSplit(f *testing.F) {
	f.Add([]byte("a\nbb\nccc\n"), uint8(2))
	f.Add([]byte("no newline"), uint8(3))
	f.Add([]byte("\n\n\n\n"), uint8(9))
	f.Add([]byte("x\r\ny\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, n uint8) {
		chunks := 1 + int(n)%12
		_, got := split(t, in, Options{Chunks: chunks, Mode: Lines})
		require.Equal(t, wantLines(in, chunks), got)
		_, got = split(t, in, Options{Chunks: chunks, Mode: RoundRobin})
		require.Equal(t, wantRoundRobin(in, chunks), got)
	})
}
