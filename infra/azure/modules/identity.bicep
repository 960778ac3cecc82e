// The one user-assigned managed identity the three apps share: it reads and
// writes storage (data roles, no keys), reads the deployment packages and
// publishes to Application Insights.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
