package azuritetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/infra/azurite/azuritetest"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

func TestForTestGivesAWorkingAccount(t *testing.T) {
	conn := azuritetest.ForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := azqueue.NewServiceClientFromConnectionString(conn, nil)
	require.NoError(t, err)
	_, err = svc.CreateQueue(ctx, "azuritetest-smoke", nil)
	require.NoError(t, err)
}

func TestForTestSharesOneEmulatorPerBinary(t *testing.T) {
	t.Setenv(azuritetest.EnvStorage, "")
	a := azuritetest.ForTest(t)
	b := azuritetest.ForTest(t)
	assert.Equal(t, a, b)
	s := azuritetest.Server(t)
	assert.Equal(t, s.ConnectionString(), a)
}

func TestForTestUsesEnvironment(t *testing.T) {
	t.Setenv(azuritetest.EnvStorage, "BlobEndpoint=http://127.0.0.1:1/x;")
	assert.Equal(t, "BlobEndpoint=http://127.0.0.1:1/x;", azuritetest.ForTest(t))
}
