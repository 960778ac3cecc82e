package account

import (
	"fmt"
	"strings"
)

// DefaultConnection is the connection name the Functions host uses when a
// binding names none.
const DefaultConnection = "AzureWebJobsStorage"

// FromEnv reads the Config for the connection called name (a binding's
// `connection` property; empty means AzureWebJobsStorage) from app settings,
// the way the Azure Functions host resolves it:
//
//   - a setting called name, or else "AzureWebJobs"+name, holds a
//     connection string;
//   - otherwise settings under the prefix name + "__" describe an
//     identity-based connection, with the host's property names:
//     __blobServiceUri and __queueServiceUri (or __accountName, which
//     implies both on the public cloud), __tableServiceUri (kept, unused),
//     and the credential: __credential ("managedidentity" or
//     "workloadidentity"), __clientId, __managedIdentityResourceId,
//     __managedIdentityObjectId, __tenantId, __clientSecret,
//     __clientCertificate (refused by Open). The blob-only alias
//     __serviceUri is refused unless __queueServiceUri is set too: funnel
//     needs both services.
//
// getenv is os.Getenv or a lookup in a settings map. FromEnv fails with an
// error wrapping ErrConfig when nothing usable is set.
func FromEnv(getenv func(string) string, name string) (Config, error) {
	if name == "" {
		name = DefaultConnection
	}
	for _, key := range []string{name, "AzureWebJobs" + name} {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return Config{ConnectionString: v}, nil
		}
	}
	prefix := name + "__"
	get := func(prop string) string { return strings.TrimSpace(getenv(prefix + prop)) }
	cfg := Config{
		AccountName:       get("accountName"),
		BlobURL:           get("blobServiceUri"),
		QueueURL:          get("queueServiceUri"),
		TableURL:          get("tableServiceUri"),
		Credential:        get("credential"),
		ClientID:          get("clientId"),
		ResourceID:        get("managedIdentityResourceId"),
		ObjectID:          get("managedIdentityObjectId"),
		TenantID:          get("tenantId"),
		ClientSecret:      get("clientSecret"),
		ClientCertificate: get("clientCertificate"),
	}
	if cfg.BlobURL == "" && cfg.QueueURL != "" {
		cfg.BlobURL = get("serviceUri") // the blob extension's alias
	}
	if cfg.BlobURL == "" && cfg.QueueURL == "" && cfg.AccountName == "" {
		if get("serviceUri") != "" {
			return Config{}, fmt.Errorf("%w: %sserviceUri names only one service; set %sblobServiceUri and %squeueServiceUri", ErrConfig, prefix, prefix, prefix)
		}
		return Config{}, fmt.Errorf("%w: connection %q: set %s to a connection string, or %saccountName (or %sblobServiceUri and %squeueServiceUri) for an identity", ErrConfig, name, name, prefix, prefix, prefix)
	}
	blob, queue := cfg.serviceURLs()
	if blob == "" || queue == "" {
		return Config{}, fmt.Errorf("%w: connection %q: %sblobServiceUri and %squeueServiceUri go together (or set %saccountName)", ErrConfig, name, prefix, prefix, prefix)
	}
	for _, u := range []string{blob, queue} {
		if _, err := basePath(u); err != nil {
			return Config{}, fmt.Errorf("%w: connection %q: %v", ErrConfig, name, err)
		}
	}
	if _, err := cfg.managedIdentityID(); err != nil {
		return Config{}, fmt.Errorf("connection %q: %w", name, err)
	}
	return cfg, nil
}
