package aggregate

import (
	"bytes"
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
)

// synthRows returns at least size bytes of rows shaped like dbgen's customer
// table (about 163 bytes a row), from a fixed seed.
func synthRows(size int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,. "
	const words = "furiously regular accounts sleep quickly ironic deposits haggle carefully final packages "
	segments := []string{"AUTOMOBILE", "BUILDING", "FURNITURE", "HOUSEHOLD", "MACHINERY"}
	pad := func(b []byte, v, width int) []byte {
		for w := width - 1; w > 0 && v < pow10(w); w-- {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, int64(v), 10)
	}
	b := make([]byte, 0, size+256)
	for key := 1; len(b) < size; key++ {
		nation := rng.IntN(NationCount)
		b = strconv.AppendInt(b, int64(key), 10)
		b = append(b, "|Customer#"...)
		b = append(pad(b, key, 9), '|')
		for range 10 + rng.IntN(31) {
			b = append(b, alnum[rng.IntN(len(alnum))])
		}
		b = append(strconv.AppendInt(append(b, '|'), int64(nation), 10), '|')
		b = append(pad(b, nation+10, 2), '-')
		b = append(pad(b, rng.IntN(900)+100, 3), '-')
		b = append(pad(b, rng.IntN(900)+100, 3), '-')
		b = append(pad(b, rng.IntN(9000)+1000, 4), '|')
		cents := rng.IntN(1099999) - 99999
		if cents < 0 {
			b, cents = append(b, '-'), -cents
		}
		b = append(strconv.AppendInt(b, int64(cents/100), 10), '.')
		b = append(pad(b, cents%100, 2), '|')
		b = append(append(b, segments[rng.IntN(len(segments))]...), '|')
		start := rng.IntN(len(words) - 1)
		for n := 29 + rng.IntN(88); n > 0; {
			chunk := words[start:min(len(words), start+n)]
			b = append(b, chunk...)
			n -= len(chunk)
			start = 0
		}
		b = append(b, "|\n"...)
	}
	return b
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}

// BenchmarkScan measures the kernel (read from memory + parse + aggregate)
// on one core over ~256 MB of dbgen-shaped rows; the MB/s figure is the
// kernel's throughput.
func BenchmarkScan(b *testing.B) {
	data := synthRows(256 << 20)
	b.Logf("%d bytes, %.1f bytes/row", len(data), float64(len(data))/float64(bytes.Count(data, []byte{'\n'})))
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	runtime.GC() // let the generator's garbage not cost the scan
	cpu0 := cpuTime(b)
	for b.Loop() {
		p, err := Scan(ctx, bytes.NewReader(data), "bench", DefaultLayout())
		if err != nil {
			b.Fatal(err)
		}
		if p.Rejected != 0 {
			b.Fatalf("rejected %d rows: %+v", p.Rejected, p.Samples)
		}
	}
	// On a busy machine wall time overstates the kernel's cost; MB/cpu-s is
	// the throughput per second of CPU the process actually got.
	if cpu := (cpuTime(b) - cpu0).Seconds(); cpu > 0 {
		b.ReportMetric(float64(len(data))*float64(b.N)/1e6/cpu, "MB/cpu-s")
	}
}

// BenchmarkScanSF1 is BenchmarkScan on the real SF1 table (from
// shared/testdata) repeated eight times, about 195 MB.
func BenchmarkScanSF1(b *testing.B) {
	table, _ := readSF1(b)
	data := bytes.Repeat(table, 8)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	runtime.GC()
	cpu0 := cpuTime(b)
	for b.Loop() {
		p, err := Scan(ctx, bytes.NewReader(data), "sf1x8", DefaultLayout())
		if err != nil {
			b.Fatal(err)
		}
		if p.Rows != 8*150000 {
			b.Fatalf("%d rows", p.Rows)
		}
	}
	if cpu := (cpuTime(b) - cpu0).Seconds(); cpu > 0 {
		b.ReportMetric(float64(len(data))*float64(b.N)/1e6/cpu, "MB/cpu-s")
	}
}
