package account_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/infra/azurite"
	"github.com/funnelpipe/funnel/infra/azurite/azuritetest"
	"github.com/funnelpipe/funnel/storage"
	"github.com/funnelpipe/funnel/transport/account"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

func TestFromEnv(t *testing.T) {
	const conn = "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k;"
	tests := []struct {
		name    string
		conn    string
		env     map[string]string
		want    account.Config
		wantErr bool
	}{
		{name: "default name, connection string", env: map[string]string{"AzureWebJobsStorage": conn},
			want: account.Config{ConnectionString: conn}},
		{name: "named", conn: "Data", env: map[string]string{"Data": conn, "AzureWebJobsStorage": "other"},
			want: account.Config{ConnectionString: conn}},
		{name: "AzureWebJobs prefix", conn: "Data", env: map[string]string{"AzureWebJobsData": conn},
			want: account.Config{ConnectionString: conn}},
		{name: "exact name wins over identity settings", env: map[string]string{"AzureWebJobsStorage": conn, "AzureWebJobsStorage__accountName": "x"},
			want: account.Config{ConnectionString: conn}},
		{name: "account name", env: map[string]string{"AzureWebJobsStorage__accountName": "acct"},
			want: account.Config{AccountName: "acct"}},
		{name: "service URIs and user-assigned identity", conn: "Data", env: map[string]string{
			"Data__blobServiceUri":  "https://acct.blob.core.windows.net",
			"Data__queueServiceUri": "https://acct.queue.core.windows.net",
			"Data__credential":      "managedidentity",
			"Data__clientId":        "1234",
		}, want: account.Config{BlobURL: "https://acct.blob.core.windows.net", QueueURL: "https://acct.queue.core.windows.net",
			Credential: "managedidentity", ClientID: "1234"}},
		{name: "everything the host reads for a user-assigned identity", env: map[string]string{
			"AzureWebJobsStorage__blobServiceUri":            "https://acct.blob.core.windows.net",
			"AzureWebJobsStorage__queueServiceUri":           "https://acct.queue.core.windows.net",
			"AzureWebJobsStorage__tableServiceUri":           "https://acct.table.core.windows.net",
			"AzureWebJobsStorage__credential":                "managedidentity",
			"AzureWebJobsStorage__managedIdentityResourceId": "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id",
		}, want: account.Config{BlobURL: "https://acct.blob.core.windows.net", QueueURL: "https://acct.queue.core.windows.net",
			TableURL: "https://acct.table.core.windows.net", Credential: "managedidentity",
			ResourceID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id"}},
		{name: "object ID", env: map[string]string{"AzureWebJobsStorage__accountName": "acct", "AzureWebJobsStorage__managedIdentityObjectId": "o"},
			want: account.Config{AccountName: "acct", ObjectID: "o"}},
		{name: "service principal", env: map[string]string{"AzureWebJobsStorage__accountName": "acct",
			"AzureWebJobsStorage__tenantId": "t", "AzureWebJobsStorage__clientId": "c", "AzureWebJobsStorage__clientSecret": "s"},
			want: account.Config{AccountName: "acct", TenantID: "t", ClientID: "c", ClientSecret: "s"}},
		{name: "serviceUri is the blob alias beside queueServiceUri", env: map[string]string{
			"AzureWebJobsStorage__serviceUri":      "https://acct.blob.core.windows.net",
			"AzureWebJobsStorage__queueServiceUri": "https://acct.queue.core.windows.net",
		}, want: account.Config{BlobURL: "https://acct.blob.core.windows.net", QueueURL: "https://acct.queue.core.windows.net"}},
		{name: "two identity IDs refused", env: map[string]string{"AzureWebJobsStorage__accountName": "acct", "AzureWebJobsStorage__credential": "managedidentity",
			"AzureWebJobsStorage__clientId": "c", "AzureWebJobsStorage__managedIdentityResourceId": "r"}, wantErr: true},
		{name: "blob URI alone", env: map[string]string{"AzureWebJobsStorage__blobServiceUri": "https://acct.blob.core.windows.net"}, wantErr: true},
		{name: "serviceUri alias refused", env: map[string]string{"AzureWebJobsStorage__serviceUri": "https://acct.blob.core.windows.net"}, wantErr: true},
		{name: "not a URL", env: map[string]string{"AzureWebJobsStorage__blobServiceUri": "acct", "AzureWebJobsStorage__queueServiceUri": "q"}, wantErr: true},
		{name: "nothing set", env: map[string]string{}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := account.FromEnv(func(k string) string { return tt.env[k] }, tt.conn)
			if tt.wantErr {
				require.ErrorIs(t, err, account.ErrConfig)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFromEnvReadsProcessEnvironment(t *testing.T) {
	t.Setenv("FUNNEL_TEST_CONN__accountName", "acct")
	cfg, err := account.FromEnv(os.Getenv, "FUNNEL_TEST_CONN")
	require.NoError(t, err)
	assert.Equal(t, "acct", cfg.AccountName)
	assert.True(t, cfg.IdentityBased())
}

func TestOpenIdentityMakesNoRequest(t *testing.T) {
	// A transport that fails the test if anything is sent: identity
	// credentials must never be tried here.
	tr := transporterFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("unexpected request to %s", r.URL)
		return nil, errors.New("no network in this test")
	})
	a, err := account.Open(account.Config{AccountName: "acct", Credential: "managedidentity"}, account.Options{HTTPClient: tr})
	require.NoError(t, err)
	assert.Equal(t, "https://acct.blob.core.windows.net/", a.Blob().URL())
	assert.Equal(t, "https://acct.queue.core.windows.net/", a.Queue().URL())
	assert.Equal(t, "acct", a.Name())
	assert.Contains(t, a.Config().String(), "managedidentity")

	_, err = account.Open(account.Config{}, account.Options{})
	assert.ErrorIs(t, err, account.ErrConfig)
	_, err = account.Open(account.Config{AccountName: "acct", Credential: "password"}, account.Options{})
	assert.ErrorIs(t, err, account.ErrConfig)
}

func TestOpenConnectionString(t *testing.T) {
	tests := []struct {
		name            string
		conn            string
		blob, queue     string
		account         string
		wantErr         bool
		secretNotInText string
	}{
		{name: "explicit endpoints", conn: azurite.ConnectionString("http://127.0.0.1:1/devstoreaccount1", "http://127.0.0.1:2/devstoreaccount1", ""),
			blob: "http://127.0.0.1:1/devstoreaccount1/", queue: "http://127.0.0.1:2/devstoreaccount1/", account: "devstoreaccount1"},
		{name: "development storage", conn: "UseDevelopmentStorage=true",
			blob: "http://127.0.0.1:10000/devstoreaccount1/", queue: "http://127.0.0.1:10001/devstoreaccount1/", account: "devstoreaccount1"},
		{name: "account and suffix", conn: "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net",
			blob: "https://acct.blob.core.windows.net/", queue: "https://acct.queue.core.windows.net/", account: "acct"},
		{name: "no key", conn: "AccountName=acct", wantErr: true},
		{name: "garbage", conn: "hello", wantErr: true},
		{name: "key fragment not echoed", conn: "AccountName=a;AccountKey=abc;SECRETSECRET", wantErr: true, secretNotInText: "SECRETSECRET"},
		{name: "no endpoint", conn: "SharedAccessSignature=sv=1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := account.Open(account.Config{ConnectionString: tt.conn}, account.Options{})
			if tt.wantErr {
				require.ErrorIs(t, err, account.ErrConfig)
				if tt.secretNotInText != "" {
					assert.NotContains(t, err.Error(), tt.secretNotInText)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.blob, a.Blob().URL())
			assert.Equal(t, tt.queue, a.Queue().URL())
			assert.Equal(t, tt.account, a.Name())
			assert.NotContains(t, a.Config().String(), azurite.AccountKey)
		})
	}
}

func FuzzOpenConnectionString(f *testing.F) {
	for _, s := range []string{"UseDevelopmentStorage=true", "AccountName=a;AccountKey=k", "a=b;c", ";;", "BlobEndpoint=http://x;QueueEndpoint=ftp://y;SharedAccessSignature=s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, conn string) {
		a, err := account.Open(account.Config{ConnectionString: conn}, account.Options{})
		if err != nil {
			if !errors.Is(err, account.ErrConfig) {
				t.Fatalf("error without ErrConfig: %v", err)
			}
			return
		}
		if a.Blob() == nil || a.Queue() == nil {
			t.Fatal("nil client")
		}
	})
}

func TestError(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want error // nil: no sentinel
	}{
		{"blob not found", live, responseError(404, "BlobNotFound"), storage.ErrNotFound},
		{"queue not found", live, responseError(404, "QueueNotFound"), storage.ErrNotFound},
		{"message not found", live, responseError(404, "MessageNotFound"), storage.ErrNotFound},
		{"bare 404", live, responseError(404, ""), storage.ErrNotFound},
		{"exists", live, responseError(409, "BlobAlreadyExists"), storage.ErrConflict},
		{"condition", live, responseError(412, "ConditionNotMet"), storage.ErrConflict},
		{"pop receipt", live, responseError(400, "PopReceiptMismatch"), storage.ErrConflict},
		{"being deleted", live, responseError(409, "ContainerBeingDeleted"), storage.ErrUnavailable},
		{"too large", live, responseError(413, "RequestBodyTooLarge"), storage.ErrTooLarge},
		{"bad name", live, responseError(400, "InvalidResourceName"), storage.ErrBadName},
		{"busy", live, responseError(503, "ServerBusy"), storage.ErrUnavailable},
		{"500", live, responseError(500, ""), storage.ErrUnavailable},
		{"429", live, responseError(429, ""), storage.ErrUnavailable},
		{"auth", live, responseError(403, "AuthenticationFailed"), nil},
		{"refused", live, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, storage.ErrUnavailable},
		{"eof", live, fmt.Errorf("read: %w", io.ErrUnexpectedEOF), storage.ErrUnavailable},
		{"try timeout", live, fmt.Errorf("try: %w", context.DeadlineExceeded), storage.ErrUnavailable},
		{"plain", live, errors.New("something"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := account.Error(tt.ctx, "op", tt.err)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "op: "), err.Error())
			assert.ErrorIs(t, err, tt.err, "the cause stays in the chain")
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
			}
			for _, s := range []error{storage.ErrNotFound, storage.ErrConflict, storage.ErrTooLarge, storage.ErrBadName, storage.ErrUnavailable} {
				if s != tt.want {
					assert.NotErrorIs(t, err, s)
				}
			}
		})
	}

	err := account.Error(cancelled, "op", fmt.Errorf("do: %w", context.Canceled))
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, storage.ErrUnavailable)
	assert.NoError(t, account.Error(live, "op", nil))
	twice := account.Error(live, "outer", account.Error(live, "inner", responseError(404, "BlobNotFound")))
	assert.Equal(t, 1, strings.Count(twice.Error(), "not found"), "sentinel added once: %v", twice)
}

func TestClassifiesAndCountsOperations(t *testing.T) {
	conn := azuritetest.ForTest(t)
	reg := prometheus.NewRegistry()
	a, err := account.Open(account.Config{ConnectionString: conn}, account.Options{Registerer: reg, Component: "test"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = account.WithComponent(ctx, "classify")

	body := bytes.Repeat([]byte("x"), 10_000)
	_, err = a.Blob().CreateContainer(ctx, "classify", nil)
	require.NoError(t, err)
	_, err = a.Blob().UploadBuffer(ctx, "classify", "dir/blob", body, nil)
	require.NoError(t, err)
	resp, err := a.Blob().DownloadStream(ctx, "classify", "dir/blob", nil)
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, body, got)
	_, err = a.Blob().ServiceClient().NewContainerClient("classify").NewBlobClient("dir/blob").GetProperties(ctx, nil)
	require.NoError(t, err)
	pager := a.Blob().NewListBlobsFlatPager("classify", nil)
	for pager.More() {
		_, err := pager.NextPage(ctx)
		require.NoError(t, err)
	}
	_, err = a.Blob().DeleteBlob(ctx, "classify", "dir/blob", nil)
	require.NoError(t, err)
	_, err = a.Blob().DeleteBlob(ctx, "classify", "dir/blob", nil)
	require.Error(t, err)
	assert.ErrorIs(t, account.Error(ctx, "delete", err), storage.ErrNotFound)

	q := a.Queue().NewQueueClient("classify")
	_, err = q.Create(ctx, nil)
	require.NoError(t, err)
	_, err = q.EnqueueMessage(ctx, "hello", nil)
	require.NoError(t, err)
	_, err = q.PeekMessages(ctx, nil)
	require.NoError(t, err)
	msgs, err := q.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{NumberOfMessages: ptr(int32(1))})
	require.NoError(t, err)
	require.Len(t, msgs.Messages, 1)
	_, err = q.DeleteMessage(ctx, *msgs.Messages[0].MessageID, *msgs.Messages[0].PopReceipt, nil)
	require.NoError(t, err)

	requests := func(service, op, class, status string) float64 {
		return testutil.ToFloat64(a.Metrics().Requests().WithLabelValues("classify", service, op, class, status))
	}
	assert.Equal(t, 1.0, requests("blob", "CreateContainer", account.ClassList, "2xx"))
	assert.Equal(t, 1.0, requests("blob", "PutBlob", account.ClassWrite, "2xx"))
	assert.Equal(t, 1.0, requests("blob", "GetBlob", account.ClassRead, "2xx"))
	assert.Equal(t, 1.0, requests("blob", "GetBlobProperties", account.ClassOther, "2xx"))
	assert.Equal(t, 1.0, requests("blob", "ListBlobs", account.ClassList, "2xx"))
	assert.Equal(t, 1.0, requests("blob", "DeleteBlob", account.ClassFree, "2xx"))
	assert.Equal(t, 1.0, requests("blob", "DeleteBlob", account.ClassFree, "4xx"))
	assert.Equal(t, 1.0, requests("queue", "CreateQueue", account.ClassQueue, "2xx"))
	assert.Equal(t, 1.0, requests("queue", "PutMessage", account.ClassQueue, "2xx"))
	assert.Equal(t, 1.0, requests("queue", "PeekMessages", account.ClassQueue, "2xx"))
	assert.Equal(t, 1.0, requests("queue", "GetMessages", account.ClassQueue, "2xx"))
	assert.Equal(t, 1.0, requests("queue", "DeleteMessage", account.ClassQueue, "2xx"))

	usage, err := account.ReadUsage(reg)
	require.NoError(t, err)
	find := func(op string) account.Usage {
		for _, u := range usage {
			if u.Operation == op {
				return u
			}
		}
		t.Fatalf("no usage for %s in %+v", op, usage)
		return account.Usage{}
	}
	assert.Equal(t, float64(len(body)), find("PutBlob").RequestBytes)
	assert.Equal(t, float64(len(body)), find("GetBlob").ResponseBytes)
	assert.Equal(t, 2.0, find("DeleteBlob").Requests)
	assert.Equal(t, 1.0, find("DeleteBlob").Failed)
	assert.Positive(t, find("PutMessage").RequestBytes)
	assert.Positive(t, find("GetMessages").ResponseBytes)
	assert.Equal(t, "classify", find("PutBlob").Component)

	// A second account on the same registry shares the counters, and
	// requests without a component get Options.Component.
	b, err := account.Open(account.Config{ConnectionString: conn}, account.Options{Registerer: reg, Component: "second"})
	require.NoError(t, err)
	_, err = b.Blob().ServiceClient().NewContainerClient("classify").GetProperties(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, 1.0, testutil.ToFloat64(a.Metrics().Requests().WithLabelValues("second", "blob", "GetContainerProperties", account.ClassOther, "2xx")))
	assert.Same(t, a.Metrics().Requests(), b.Metrics().Requests())
}

func TestUnreachableAccountFailsWithErrUnavailable(t *testing.T) {
	conn := azuritetest.Unreachable(t)
	reg := prometheus.NewRegistry()
	a, err := account.Open(account.Config{ConnectionString: conn}, account.Options{Registerer: reg, Component: "down"})
	require.NoError(t, err)

	// Backstop only: the retry policy must give up well before this.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = a.Queue().NewQueueClient("down").EnqueueMessage(ctx, "x", nil)
	require.NoError(t, ctx.Err(), "the request hung until the backstop deadline")
	err = account.Error(ctx, "enqueue", err)
	require.ErrorIs(t, err, storage.ErrUnavailable)
	assert.Contains(t, err.Error(), "refused")
	assert.Equal(t, 4.0, testutil.ToFloat64(a.Metrics().Requests().WithLabelValues("down", "queue", "PutMessage", account.ClassQueue, "error")),
		"one try and three retries, each counted")
}

func TestCancelledContextIsKept(t *testing.T) {
	conn := azuritetest.ForTest(t)
	a, err := account.Open(account.Config{ConnectionString: conn}, account.Options{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = a.Blob().CreateContainer(ctx, "cancelled", nil)
	err = account.Error(ctx, "create", err)
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, storage.ErrUnavailable)
}

func responseError(status int, code string) error {
	h := http.Header{}
	if code != "" {
		h.Set("x-ms-error-code", code)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/x", nil)
	return runtime.NewResponseError(&http.Response{StatusCode: status, Header: h, Body: http.NoBody, Request: req})
}

type transporterFunc func(*http.Request) (*http.Response, error)

func (f transporterFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func ptr[T any](v T) *T { return &v }
