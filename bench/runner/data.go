package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"golang.org/x/sync/errgroup"

	agg "github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/testing_data/chunk"
	"github.com/funnelpipe/funnel/testing_data/dbgen"
	"github.com/funnelpipe/funnel/testing_data/reference"
	"github.com/funnelpipe/funnel/transport/account"
)

// Where the runner puts a job's input in storage.
const (
	inputContainer = "input"
	inputPrefix    = "customer/"
)

// dataset is one scale factor's table cut into one number of chunk files,
// with its exact answer.
type dataset struct {
	SF     float64
	Chunks int
	Paths  []string
	Bytes  int64
	Rows   int64
	// Reference is the exact answer, independent of the kernel: dbgen's
	// own at SF 1 (shared/testdata), else the reference scanner's
	// (testing_data/reference), checked to count every row the generator
	// wrote.
	Reference *reference.ResultJSON
	// ReferenceSource says which of the two it is.
	ReferenceSource string
}

// dataCache generates each scale factor's table once and splits it once
// per chunk count, under dir:
//
//	sf-<SF>/customer.tbl           the table, byte-identical to dbgen
//	sf-<SF>/chunks-<N>/*.csv       its N chunk files
//	sf-<SF>/chunks-<N>/.complete   written last: the split finished
//
// Files are written under temporary names and renamed, so an interrupted
// run leaves nothing that looks complete.
type dataCache struct {
	dir      string
	progress func(format string, args ...any)
	sets     map[string]*dataset
}

func newDataCache(dir string, progress func(string, ...any)) *dataCache {
	return &dataCache{dir: dir, progress: progress, sets: map[string]*dataset{}}
}

const completeMarker = ".complete"

// get returns the data set of sf in chunks files, making what is missing.
func (c *dataCache) get(ctx context.Context, sf float64, chunks int) (*dataset, error) {
	key := fmt.Sprintf("%s/%d", bench.FormatFloat(sf), chunks)
	if d, ok := c.sets[key]; ok {
		return d, nil
	}
	rows, err := dbgen.Rows(sf)
	if err != nil {
		return nil, fmt.Errorf("bench: data: %w", err)
	}
	sfDir := filepath.Join(c.dir, "sf-"+bench.FormatFloat(sf))
	table := filepath.Join(sfDir, "customer.tbl")
	chunkDir := filepath.Join(sfDir, "chunks-"+strconv.Itoa(chunks))
	paths, err := cachedChunks(chunkDir, chunks)
	if err != nil {
		return nil, err
	}
	if paths == nil {
		if err := c.ensureTable(ctx, table, sf, rows); err != nil {
			return nil, err
		}
		if paths, err = c.split(ctx, table, chunkDir, chunks); err != nil {
			return nil, err
		}
	}
	d := &dataset{SF: sf, Chunks: chunks, Paths: paths}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("bench: data: %w", err)
		}
		d.Bytes += st.Size()
	}
	t0 := time.Now()
	ref, source, err := c.reference(sfDir, sf, paths, d.Bytes)
	if err != nil {
		return nil, err
	}
	if ref.Rows != rows || ref.Rejected != 0 {
		return nil, fmt.Errorf("bench: data: %s holds %d rows and %d rejected lines, the generator writes %d rows at SF %s (remove the cache folder and rerun)",
			chunkDir, ref.Rows, ref.Rejected, rows, bench.FormatFloat(sf))
	}
	d.Rows, d.Reference, d.ReferenceSource = ref.Rows, ref, source
	c.progress("data        SF %s in %d chunks: %s, %d rows; reference answer: %s (%s)",
		bench.FormatFloat(sf), chunks, bench.FormatBytes(d.Bytes), d.Rows, source, time.Since(t0).Round(time.Millisecond))
	c.sets[key] = d
	return d, nil
}

// referenceFile caches a scale factor's reference answer in its folder.
const referenceFile = "reference.json"

// reference returns the exact answer for the table of sf, whose chunk
// files are paths (bytes in all), and where it comes from. At SF 1 it is
// dbgen's own answer from shared/testdata, when that folder is found and
// the generated table has the dbgen table's size; otherwise the reference
// scanner's over the chunk files, computed once per scale factor and kept
// in sfDir/reference.json.
func (c *dataCache) reference(sfDir string, sf float64, paths []string, bytes int64) (*reference.ResultJSON, string, error) {
	cache := filepath.Join(sfDir, referenceFile)
	if sf != 1 {
		if b, err := os.ReadFile(cache); err == nil {
			if r, err := reference.ParseResult(b); err == nil {
				return &r, "reference scanner, cached in " + cache, nil
			}
		}
	}
	r, source, err := reference.ForTable(sf, paths, bytes)
	if err != nil {
		return nil, "", fmt.Errorf("bench: data: %w (remove the cache folder and rerun)", err)
	}
	b, err := json.Marshal(r)
	if err == nil {
		err = os.WriteFile(cache+".tmp", b, 0o644)
	}
	if err == nil {
		err = os.Rename(cache+".tmp", cache)
	}
	if err != nil {
		return nil, "", fmt.Errorf("bench: data: cache the reference answer: %w", err)
	}
	return r, source, nil
}

// cachedChunks returns the chunk files of a completed split, nil if there
// is none.
func cachedChunks(dir string, chunks int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, completeMarker))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bench: data: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n != chunks {
		return nil, nil // written by something else; split again
	}
	paths, err := filepath.Glob(filepath.Join(dir, "customer.*.csv"))
	if err != nil || len(paths) != chunks {
		return nil, nil
	}
	slices.Sort(paths)
	return paths, nil
}

func (c *dataCache) ensureTable(ctx context.Context, table string, sf float64, rows int64) error {
	if _, err := os.Stat(table); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(table), 0o755); err != nil {
		return fmt.Errorf("bench: data: %w", err)
	}
	t0 := time.Now()
	tmp, err := os.CreateTemp(filepath.Dir(table), ".customer.tbl.*")
	if err != nil {
		return fmt.Errorf("bench: data: %w", err)
	}
	bw := bufio.NewWriterSize(tmp, 1<<20)
	err = dbgen.Write(ctx, bw, dbgen.Options{ScaleFactor: sf})
	if err == nil {
		err = bw.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), table)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("bench: generate SF %s: %w", bench.FormatFloat(sf), err)
	}
	c.progress("generated   SF %s: %d rows in %s", bench.FormatFloat(sf), rows, time.Since(t0).Round(time.Millisecond))
	return nil
}

func (c *dataCache) split(ctx context.Context, table, dir string, chunks int) ([]string, error) {
	t0 := time.Now()
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("bench: data: %w", err)
	}
	paths, err := chunk.SplitFile(ctx, table, chunk.Options{Chunks: chunks, Dir: dir})
	if err != nil {
		return nil, fmt.Errorf("bench: split: %w", err)
	}
	// A marker cut short by a crash holds a prefix of the count, which
	// cachedChunks does not accept: the split is then redone.
	if err := os.WriteFile(filepath.Join(dir, completeMarker), []byte(strconv.Itoa(chunks)+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("bench: split: %w", err)
	}
	c.progress("split       into %d chunks in %s", chunks, time.Since(t0).Round(time.Millisecond))
	return paths, nil
}

// kernelResult runs the aggregate kernel over the files on this machine,
// cut into units of unit bytes as the pipeline cuts them (job.CutLocal) and
// scanned by GOMAXPROCS workers: the single-machine baseline (its answer is
// checked against the reference too).
func kernelResult(ctx context.Context, paths []string, unit int64) (*agg.Result, error) {
	files := make([]job.File, len(paths))
	for i, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("bench: kernel: %w", err)
		}
		files[i] = job.File{Name: p, Size: st.Size()}
	}
	total, err := agg.ScanLocal(ctx, job.CutLocal(files, unit), runtime.GOMAXPROCS(0), agg.DefaultLayout())
	if err != nil {
		return nil, fmt.Errorf("bench: kernel: %w", err)
	}
	return agg.NewResult(total), nil
}

// blobName is a chunk file's name in the input container.
func blobName(path string) string { return inputPrefix + filepath.Base(path) }

// uploadDataset puts the data set's chunk files into the input container,
// parallel at a time.
func uploadDataset(ctx context.Context, acct *account.Account, d *dataset, parallel int) error {
	files := make([]account.FileUpload, len(d.Paths))
	for i, p := range d.Paths {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("bench: upload: %w", err)
		}
		files[i] = account.FileUpload{Path: p, Blob: blobName(p), Size: st.Size()}
	}
	if err := acct.UploadFiles(ctx, inputContainer, files, parallel, nil); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// rawDownload downloads every chunk blob, parallel at a time, reading the
// bodies and throwing them away: what moving the input out of storage
// costs without any parsing. It checks that every byte arrived.
func rawDownload(ctx context.Context, client *azblob.Client, d *dataset, parallel int) (time.Duration, error) {
	var got atomic.Int64
	t0 := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, p := range d.Paths {
		g.Go(func() error {
			resp, err := client.DownloadStream(gctx, inputContainer, blobName(p), nil)
			if err != nil {
				return fmt.Errorf("bench: raw download %s: %w", blobName(p), err)
			}
			if resp.Body == nil {
				return fmt.Errorf("bench: raw download %s: no body", blobName(p))
			}
			defer resp.Body.Close()
			n, err := io.Copy(io.Discard, resp.Body)
			if err != nil {
				return fmt.Errorf("bench: raw download %s: %w", blobName(p), err)
			}
			got.Add(n)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	took := time.Since(t0)
	if got.Load() != d.Bytes {
		return 0, fmt.Errorf("bench: raw download: got %d bytes, the chunks hold %d", got.Load(), d.Bytes)
	}
	return took, nil
}
