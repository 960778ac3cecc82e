package account

import (
	"fmt"
	"strings"
)

// endpoints is what a connection string names.
type endpoints struct {
	accountName       string
	blobURL, queueURL string
}

// developmentStorage is the host's shorthand for Azurite on its default
// ports; the Go SDK does not know it, so Open expands it.
const developmentStorage = "usedevelopmentstorage=true"

func expandDevelopmentStorage(conn string) string {
	if isDevelopmentStorage(conn) {
		return DevConnectionString(
			"http://127.0.0.1:10000/"+DevAccountName,
			"http://127.0.0.1:10001/"+DevAccountName,
			"http://127.0.0.1:10002/"+DevAccountName)
	}
	return conn
}

func isDevelopmentStorage(conn string) bool {
	for part := range strings.SplitSeq(conn, ";") {
		if strings.EqualFold(strings.ReplaceAll(strings.TrimSpace(part), " ", ""), developmentStorage) {
			return true
		}
	}
	return false
}

// parseConnectionString reads the account name and the blob and queue
// endpoints of a storage connection string the way the SDK does: explicit
// BlobEndpoint/QueueEndpoint, else <protocol>://<account>.<service>.<suffix>.
// It checks that the string authenticates (AccountKey or
// SharedAccessSignature) so a wrong setting fails at Open, not on first use.
func parseConnectionString(conn string) (endpoints, error) {
	conn = expandDevelopmentStorage(conn)
	kv := map[string]string{}
	for i, part := range strings.Split(strings.TrimRight(strings.TrimSpace(conn), ";"), ";") {
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			// The part is not quoted: it may be a piece of a key.
			return endpoints{}, fmt.Errorf("%w: connection string: part %d is not key=value", ErrConfig, i+1)
		}
		kv[strings.ToLower(k)] = strings.TrimSpace(v)
	}
	protocol := kv["defaultendpointsprotocol"]
	if protocol == "" {
		protocol = "https"
	}
	suffix := kv["endpointsuffix"]
	if suffix == "" {
		suffix = "core.windows.net"
	}
	ep := endpoints{accountName: kv["accountname"], blobURL: kv["blobendpoint"], queueURL: kv["queueendpoint"]}
	for _, s := range []struct {
		url  *string
		name string
	}{{&ep.blobURL, "blob"}, {&ep.queueURL, "queue"}} {
		if *s.url != "" {
			continue
		}
		if ep.accountName == "" {
			return endpoints{}, fmt.Errorf("%w: connection string has neither AccountName nor %sEndpoint", ErrConfig, strings.ToUpper(s.name[:1])+s.name[1:])
		}
		*s.url = fmt.Sprintf("%s://%s.%s.%s", protocol, ep.accountName, s.name, suffix)
	}
	if (kv["accountname"] == "" || kv["accountkey"] == "") && kv["sharedaccesssignature"] == "" {
		return endpoints{}, fmt.Errorf("%w: connection string needs AccountName and AccountKey, or SharedAccessSignature", ErrConfig)
	}
	for _, u := range []string{ep.blobURL, ep.queueURL} {
		if _, err := basePath(u); err != nil {
			return endpoints{}, fmt.Errorf("%w: connection string endpoint: %v", ErrConfig, err)
		}
	}
	return ep, nil
}
