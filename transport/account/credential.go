package account

import (
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// credential builds the token credential of an identity-based Config, the
// way the Functions host chooses one from the same settings
// (Microsoft.Extensions.Azure's ClientFactory.CreateCredential):
//
//   - Credential "managedidentity": azidentity.ManagedIdentityCredential,
//     for the user-assigned identity named by ClientID, ResourceID or
//     ObjectID (at most one), else the system-assigned identity. Nothing
//     else is tried.
//   - Credential "workloadidentity": azidentity.WorkloadIdentityCredential
//     (TenantID, ClientID, and the token file from the environment).
//   - no Credential, with TenantID, ClientID and ClientSecret: a service
//     principal, azidentity.ClientSecretCredential.
//   - no Credential otherwise: azidentity.DefaultAzureCredential (its chain:
//     environment, workload identity, managed identity, Azure CLI, Azure
//     Developer CLI), for TenantID when set. When ClientID, ResourceID or
//     ObjectID names a user-assigned identity, that managed identity is
//     tried first (the host passes it to DefaultAzureCredential, whose Go
//     version can only take it from AZURE_CLIENT_ID).
//
// ClientCertificate is refused: on the host it names a certificate in the
// Windows certificate store, which a Linux handler cannot read.
func credential(cfg Config, client policy.Transporter) (azcore.TokenCredential, error) {
	co := azcore.ClientOptions{Transport: client}
	miID, err := cfg.managedIdentityID()
	if err != nil {
		return nil, err
	}
	if cfg.ClientCertificate != "" {
		return nil, fmt.Errorf("%w: clientCertificate names a Windows certificate store entry; use clientSecret, a managed identity or workload identity", ErrConfig)
	}
	switch strings.ToLower(cfg.Credential) {
	case "managedidentity":
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: co, ID: miID})
		if err != nil {
			return nil, fmt.Errorf("account: managed identity: %w", err)
		}
		return cred, nil
	case "workloadidentity":
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: co, ClientID: cfg.ClientID, TenantID: cfg.TenantID})
		if err != nil {
			return nil, fmt.Errorf("account: workload identity: %w", err)
		}
		return cred, nil
	case "":
	default:
		return nil, fmt.Errorf("%w: credential %q (want managedidentity, workloadidentity or nothing)", ErrConfig, cfg.Credential)
	}
	if cfg.TenantID != "" && cfg.ClientID != "" && cfg.ClientSecret != "" {
		cred, err := azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: co})
		if err != nil {
			return nil, fmt.Errorf("account: service principal: %w", err)
		}
		return cred, nil
	}
	if cfg.ClientSecret != "" {
		return nil, fmt.Errorf("%w: clientSecret needs tenantId and clientId", ErrConfig)
	}
	def, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: co, TenantID: cfg.TenantID})
	if err != nil {
		return nil, fmt.Errorf("account: default Azure credential: %w", err)
	}
	if miID == nil {
		return def, nil
	}
	mi, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: co, ID: miID})
	if err != nil {
		return nil, fmt.Errorf("account: managed identity: %w", err)
	}
	chain, err := azidentity.NewChainedTokenCredential([]azcore.TokenCredential{mi, def}, nil)
	if err != nil {
		return nil, fmt.Errorf("account: credential chain: %w", err)
	}
	return chain, nil
}

// managedIdentityID is the user-assigned identity cfg names, nil for none.
// The host refuses more than one of the three ways to name it; so does
// funnel.
func (cfg Config) managedIdentityID() (azidentity.ManagedIDKind, error) {
	var ids []azidentity.ManagedIDKind
	if cfg.ClientID != "" && !cfg.servicePrincipal() {
		ids = append(ids, azidentity.ClientID(cfg.ClientID))
	}
	if cfg.ResourceID != "" {
		ids = append(ids, azidentity.ResourceID(cfg.ResourceID))
	}
	if cfg.ObjectID != "" {
		ids = append(ids, azidentity.ObjectID(cfg.ObjectID))
	}
	switch len(ids) {
	case 0:
		return nil, nil
	case 1:
		return ids[0], nil
	default:
		return nil, fmt.Errorf("%w: only one of clientId, managedIdentityResourceId and managedIdentityObjectId may name the managed identity", ErrConfig)
	}
}

// servicePrincipal reports whether ClientID is a service principal's or a
// workload identity's application ID rather than a managed identity's.
func (cfg Config) servicePrincipal() bool {
	return strings.EqualFold(cfg.Credential, "workloadidentity") ||
		cfg.Credential == "" && cfg.TenantID != "" && cfg.ClientSecret != ""
}

// credentialName says which credential credential builds, without
// secrets, for logs.
func (cfg Config) credentialName() string {
	id := ""
	switch {
	case cfg.ResourceID != "":
		id = ", resource " + cfg.ResourceID
	case cfg.ObjectID != "":
		id = ", object " + cfg.ObjectID
	case cfg.ClientID != "":
		id = ", client " + cfg.ClientID
	}
	switch {
	case cfg.Credential != "":
		return strings.ToLower(cfg.Credential) + id
	case cfg.servicePrincipal():
		return "service principal" + id
	case id != "":
		return "managed identity" + id + ", then the default credential chain"
	default:
		return "default credential chain"
	}
}
