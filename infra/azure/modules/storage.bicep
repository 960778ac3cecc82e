// The storage account of funnel: input chunks, job records, the transports'
// queues and containers, the host's own state, and one deployment container
// per app. Shared keys are off: everything uses Microsoft Entra identities.
// StorageV2 is required for Event Grid blob events.
param name string
param location string
param tags object
@description('Blob containers to create.')
param containers array
@description('Queues to create.')
param queues array

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }

  resource blobServices 'blobServices' = {
    name: 'default'
    resource blobContainers 'containers' = [for c in containers: {
      name: c
      properties: { publicAccess: 'None' }
    }]
  }

  resource queueServices 'queueServices' = {
    name: 'default'
    resource storageQueues 'queues' = [for q in queues: {
      name: q
    }]
  }
}

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
