// funnel on Azure: three custom-handler function apps (partition,
// aggregate, merge) on Flex Consumption, one storage account reached with a
// user-assigned managed identity (no keys), Application Insights, and the
// storage account's Event Grid system topic for the EventGrid blob
// triggers. Deployed by `azd up` (azure.yaml at the repository root); the
// postdeploy hook (scripts/postdeploy.sh) adds the Event Grid subscriptions,
// which need the apps' blobs_extension keys that exist only once the code
// is deployed. See setup.md §5.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names the resource group and seeds resource names.')
param environmentName string

@minLength(1)
@description('Azure region of every resource, e.g. eastus2 (one that offers Flex Consumption).')
param location string

@description('Object ID of the user running azd (azd sets AZURE_PRINCIPAL_ID): granted blob data access so `funnel upload` works with az login, without keys. Empty: no grant.')
param principalId string = ''

@description('Type of principalId: User for a person, ServicePrincipal for a CI identity.')
@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

@description('Flex Consumption instance memory in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Flex Consumption maximum instance count per app.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Prefix of every queue and container name of the transports (app setting FUNNEL_PREFIX; the triggers in function.json follow it).')
param funnelPrefix string = 'funnel-'

@description('Container of the job records and results (app setting FUNNEL_JOBS_CONTAINER).')
param jobsContainer string = 'funnel'

@description('Container created for the input chunks.')
param inputContainer string = 'input'

var tags = { 'azd-env-name': environmentName }
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
// App names: the app's name comes first so that the three differ within
// their first 32 characters (the host ID is the name cut to 32; equal host
// IDs on one storage account make the hosts shut down).
var apps = ['partition', 'aggregate', 'merge']

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-funnel-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'stfunnel${resourceToken}'
    location: location
    tags: tags
    containers: concat(
      [jobsContainer, inputContainer, '${funnelPrefix}units', '${funnelPrefix}partials'],
      map(apps, app => 'app-package-${app}-${substring(resourceToken, 0, 7)}')
    )
    queues: [
      '${funnelPrefix}units'
      '${funnelPrefix}partials'
      '${funnelPrefix}plans'
      '${funnelPrefix}units-poison'
      '${funnelPrefix}partials-poison'
      '${funnelPrefix}plans-poison'
      'webjobs-blobtrigger-poison'
    ]
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-funnel-${resourceToken}'
    appInsightsName: 'appi-funnel-${resourceToken}'
    location: location
    tags: tags
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    name: 'evgt-funnel-${resourceToken}'
    location: location
    tags: tags
    storageAccountId: storage.outputs.id
  }
}

module functionApps 'modules/functionapp.bicep' = [for app in apps: {
  name: 'functionapp-${app}'
  scope: rg
  params: {
    name: 'func-${app}-${resourceToken}'
    planName: 'plan-${app}-${resourceToken}'
    serviceName: app
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainer: 'app-package-${app}-${substring(resourceToken, 0, 7)}'
    appInsightsConnectionString: monitoring.outputs.connectionString
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    funnelPrefix: funnelPrefix
    jobsContainer: jobsContainer
  }
  dependsOn: [rbac]
}]

// Outputs become azd environment values, read by the hooks and printed by
// `azd env get-values`.
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_STORAGE_ACCOUNT string = storage.outputs.name
output AZURE_EVENTGRID_SYSTEM_TOPIC string = eventGrid.outputs.name
output FUNNEL_PREFIX string = funnelPrefix
output FUNNEL_JOBS_CONTAINER string = jobsContainer
output FUNNEL_INPUT_CONTAINER string = inputContainer
output SERVICE_PARTITION_NAME string = functionApps[0].outputs.name
output SERVICE_AGGREGATE_NAME string = functionApps[1].outputs.name
output SERVICE_MERGE_NAME string = functionApps[2].outputs.name
output FUNNEL_API_URL string = 'https://${functionApps[0].outputs.defaultHostName}/api'
