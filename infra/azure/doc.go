// Package azure holds funnel's deployment to Azure as code, for the Azure
// Developer CLI (azure.yaml at the repository root): main.bicep and its
// modules (three custom-handler function apps on Flex Consumption, the
// storage account, a user-assigned managed identity, Application Insights,
// the Event Grid system topic) and the azd hooks in scripts/.
//
// Neither the Bicep CLI nor azd runs on the machines funnel is tested on,
// so this package's tests check offline what can be checked: azure.yaml's
// services and hooks, the Bicep's module wiring, runtime, plan, roles and
// app settings against what the code reads, and the hook scripts (bash -n,
// shellcheck when installed, and the postdeploy hook run against a fake az
// that records its calls). What only a real deployment proves is listed in
// setup.md §5.
package azure
