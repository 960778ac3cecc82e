#!/usr/bin/env bash
# azd postdeploy hook, run after `azd deploy` (and `azd up`) with the azd
# environment's values (the Bicep outputs) in the environment:
#
#  1. for every blob trigger with "source": "EventGrid" in the packaged
#     function.json files (`funnel triggers`, with the deployed
#     FUNNEL_PREFIX), create or update one Event Grid WebHook subscription
#     on the storage account's system topic, to
#     https://<app>/runtime/webhooks/blobs?functionName=Host.Functions.<Function>&code=<blobs_extension key>,
#     for Microsoft.Storage.BlobCreated under the trigger's container. The
#     key exists only once the app's code runs, hence this hook;
#  2. print the job API URL and how to get its key.
#
# Needs az (logged in) and the variables below; FUNNEL (the CLI, default
# bin/funnel) and FUNNEL_APPS (default dist/apps/linux-amd64) may be set.
set -euo pipefail
cd "$(dirname "$0")/../../.."

: "${AZURE_RESOURCE_GROUP:?not set: run through azd, or export the azd environment (azd env get-values)}"
: "${AZURE_EVENTGRID_SYSTEM_TOPIC:?not set}"
: "${SERVICE_PARTITION_NAME:?not set}"
: "${SERVICE_AGGREGATE_NAME:?not set}"
: "${SERVICE_MERGE_NAME:?not set}"
: "${FUNNEL_PREFIX:?not set}"
: "${FUNNEL_API_URL:?not set}"
funnel="${FUNNEL:-bin/funnel}"
apps_dir="${FUNNEL_APPS:-dist/apps/linux-amd64}"
key_attempts="${FUNNEL_KEY_ATTEMPTS:-30}"
key_wait="${FUNNEL_KEY_WAIT:-10}"
rg="$AZURE_RESOURCE_GROUP"

app_name() {
	case "$1" in
	partition) echo "$SERVICE_PARTITION_NAME" ;;
	aggregate) echo "$SERVICE_AGGREGATE_NAME" ;;
	merge) echo "$SERVICE_MERGE_NAME" ;;
	*)
		echo "postdeploy: unknown app $1" >&2
		return 1
		;;
	esac
}

# One line per trigger: app, function, type, source, container or queue.
triggers="$("$funnel" triggers --apps "$apps_dir" --set "FUNNEL_PREFIX=$FUNNEL_PREFIX")"
subscribed=0
while IFS=$'\t' read -r app function type source container; do
	if [ "$type" != blobTrigger ] || [ "$source" != EventGrid ]; then
		continue
	fi
	name="$(app_name "$app")"
	key=""
	for _ in $(seq "$key_attempts"); do
		key="$(az functionapp keys list --resource-group "$rg" --name "$name" \
			--query systemKeys.blobs_extension --output tsv </dev/null || true)"
		if [ -n "$key" ]; then
			break
		fi
		echo "postdeploy: waiting for the blobs_extension key of $name"
		sleep "$key_wait"
	done
	if [ -z "$key" ]; then
		echo "postdeploy: $name has no blobs_extension system key; is the code deployed and running?" >&2
		exit 1
	fi
	host="$(az functionapp show --resource-group "$rg" --name "$name" --query defaultHostName --output tsv </dev/null)"
	subscription="$(printf '%s-%s' "$app" "$function" | tr '[:upper:]' '[:lower:]')"
	echo "postdeploy: Event Grid subscription $subscription: $container -> $name/$function"
	az eventgrid system-topic event-subscription create \
		--resource-group "$rg" \
		--system-topic-name "$AZURE_EVENTGRID_SYSTEM_TOPIC" \
		--name "$subscription" \
		--endpoint-type webhook \
		--endpoint "https://$host/runtime/webhooks/blobs?functionName=Host.Functions.$function&code=$key" \
		--included-event-types Microsoft.Storage.BlobCreated \
		--subject-begins-with "/blobServices/default/containers/$container/" \
		--output none </dev/null
	subscribed=$((subscribed + 1))
done <<<"$triggers"
if [ "$subscribed" -eq 0 ]; then
	echo "postdeploy: no EventGrid blob trigger found in $apps_dir; nothing subscribed" >&2
	exit 1
fi

echo
echo "funnel is deployed."
echo "  job API:  $FUNNEL_API_URL"
echo "  its key:  export FUNNEL_API_KEY=\"\$(az functionapp keys list -g $rg -n $SERVICE_PARTITION_NAME --query functionKeys.default -o tsv)\""
echo "  storage:  ${AZURE_STORAGE_ACCOUNT:-see azd env get-values}"
