package account_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/infra/azurite/azuritetest"
	"github.com/funnelpipe/funnel/storage"
	"github.com/funnelpipe/funnel/transport/account"
)

func TestUploadFiles(t *testing.T) {
	a, err := account.Open(account.Config{ConnectionString: azuritetest.ForTest(t)}, account.Options{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	small := bytes.Repeat([]byte("s"), 1000)
	large := bytes.Repeat([]byte("0123456789abcdef"), (account.SinglePutMax+account.FileBlockSize)/16+7) // over SinglePutMax: blocks
	var files []account.FileUpload
	for name, body := range map[string][]byte{"small": small, "large": large, "empty": nil} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, body, 0o644))
		files = append(files, account.FileUpload{Path: p, Blob: "in/" + name, Size: int64(len(body))})
	}
	var mu sync.Mutex
	last := int64(0)
	require.NoError(t, a.UploadFiles(ctx, "uploads", files, 2, func(sent int64) {
		mu.Lock()
		last = sent
		mu.Unlock()
	}))
	assert.Equal(t, int64(len(small)+len(large)), last, "progress ends at the total")
	for name, body := range map[string][]byte{"small": small, "large": large, "empty": {}} {
		got, err := a.GetBlob(ctx, "uploads", "in/"+name, 1<<30)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(body, got), name)
	}

	err = a.UploadFiles(ctx, "uploads", []account.FileUpload{{Path: filepath.Join(dir, "gone"), Blob: "x"}}, 1, nil)
	require.ErrorIs(t, err, os.ErrNotExist)
	err = a.UploadFiles(ctx, "Bad_Container", files[:1], 1, nil)
	require.ErrorIs(t, err, storage.ErrBadName)
}
