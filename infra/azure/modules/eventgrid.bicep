// The storage account's Event Grid system topic: Azure allows one per
// source, so both EventGrid blob triggers (aggregate's UnitsBlob, merge's
// PartialsBlob) subscribe to this one. The subscriptions themselves are
// created by the postdeploy hook, once the apps' blobs_extension keys exist.
param name string
param location string
param tags object
param storageAccountId string

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    source: storageAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output name string = topic.name
