package account

import "strings"

// The public development account that every Azurite instance (and the
// older Storage Emulator) serves. The key is published in Azurite's
// documentation; it is not a secret and works only against an emulator.
// The account layer owns these so that a stage binary, which may be handed
// "UseDevelopmentStorage=true", need not link the emulator's launcher.
const (
	DevAccountName = "devstoreaccount1"
	DevAccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// DevConnectionString builds a development-account connection string for
// the given endpoints (an empty endpoint is left out).
func DevConnectionString(blobEndpoint, queueEndpoint, tableEndpoint string) string {
	var b strings.Builder
	b.WriteString("DefaultEndpointsProtocol=http;AccountName=" + DevAccountName + ";AccountKey=" + DevAccountKey + ";")
	if blobEndpoint != "" {
		b.WriteString("BlobEndpoint=" + blobEndpoint + ";")
	}
	if queueEndpoint != "" {
		b.WriteString("QueueEndpoint=" + queueEndpoint + ";")
	}
	if tableEndpoint != "" {
		b.WriteString("TableEndpoint=" + tableEndpoint + ";")
	}
	return b.String()
}
