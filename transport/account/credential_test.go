package account

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type noNetwork struct{ t *testing.T }

func (n noNetwork) Do(r *http.Request) (*http.Response, error) {
	n.t.Errorf("unexpected request to %s", r.URL)
	return nil, errors.New("no network in this test")
}

// TestCredentialChoice pins which azidentity credential each combination
// of settings builds (setup.md describes the same table). Building one
// makes no request.
func TestCredentialChoice(t *testing.T) {
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/token")
	for _, c := range []struct {
		name    string
		cfg     Config
		want    string // the credential's type
		inLog   string // in Config.String
		wantErr string
	}{
		{name: "system-assigned managed identity", cfg: Config{Credential: "managedidentity"}, want: "*azidentity.ManagedIdentityCredential", inLog: "managedidentity"},
		{name: "user-assigned by client ID (what the Bicep sets)", cfg: Config{Credential: "ManagedIdentity", ClientID: "c"}, want: "*azidentity.ManagedIdentityCredential", inLog: "client c"},
		{name: "user-assigned by resource ID", cfg: Config{Credential: "managedidentity", ResourceID: "/r"}, want: "*azidentity.ManagedIdentityCredential", inLog: "resource /r"},
		{name: "user-assigned by object ID", cfg: Config{Credential: "managedidentity", ObjectID: "o"}, want: "*azidentity.ManagedIdentityCredential", inLog: "object o"},
		{name: "workload identity", cfg: Config{Credential: "workloadidentity", ClientID: "c", TenantID: "t"}, want: "*azidentity.WorkloadIdentityCredential", inLog: "workloadidentity"},
		{name: "service principal", cfg: Config{TenantID: "t", ClientID: "c", ClientSecret: "s3cret"}, want: "*azidentity.ClientSecretCredential", inLog: "service principal"},
		{name: "nothing: the default chain", cfg: Config{}, want: "*azidentity.DefaultAzureCredential", inLog: "default credential chain"},
		{name: "an identity ID without credential: that identity, then the chain", cfg: Config{ClientID: "c"}, want: "*azidentity.ChainedTokenCredential", inLog: "then the default"},
		{name: "two IDs", cfg: Config{Credential: "managedidentity", ClientID: "c", ObjectID: "o"}, wantErr: "only one of"},
		{name: "certificate store", cfg: Config{TenantID: "t", ClientID: "c", ClientCertificate: "thumb"}, wantErr: "certificate"},
		{name: "secret without tenant", cfg: Config{ClientID: "c", ClientSecret: "s"}, wantErr: "tenantId"},
		{name: "unknown credential", cfg: Config{Credential: "password"}, wantErr: "want managedidentity"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.AccountName = "acct"
			cred, err := credential(c.cfg, noNetwork{t})
			if c.wantErr != "" {
				require.ErrorIs(t, err, ErrConfig)
				assert.Contains(t, err.Error(), c.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, fmt.Sprintf("%T", cred))
			assert.Contains(t, c.cfg.String(), c.inLog)
			assert.NotContains(t, c.cfg.String(), "s3cret")
		})
	}
}
