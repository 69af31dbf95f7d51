#!/usr/bin/env bash
# Runs a command with docker-compose.yml's app environment, word for word,
# except that the emulators are the ones scripts/with-moto.sh and
# scripts/with-dynamodb-local.sh started on this machine rather than the
# compose network's `dynamodb` and `aws`. `make run-dynamodb` is the
# compose path without Docker; deployment::make_run_dynamodb_serves_with_the_compose_environment
# holds the two lists equal.
set -euo pipefail
: "${DYNAMODB_LOCAL_ENDPOINT:?run under scripts/with-dynamodb-local.sh}"
: "${MOTO_ENDPOINT:?run under scripts/with-moto.sh}"

export STORE=dynamodb
export CREATE_TABLE=true
export TABLE_NAME=EcommerceTable
export LOG_FORMAT=pretty
export RUST_LOG=info
export AUTH_MODE=off
export METRICS=off
export NOTIFICATIONS_SOURCE=dynamodb-streams
export NOTIFICATIONS_PUBLISHER=aws
export ORDER_TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:ecommerce-orders
export EVENT_BUS_NAME=ecommerce-events
export AWS_ENDPOINT_URL_DYNAMODB="$DYNAMODB_LOCAL_ENDPOINT"
export AWS_ENDPOINT_URL_DYNAMODB_STREAMS="$DYNAMODB_LOCAL_ENDPOINT"
export AWS_ENDPOINT_URL_SNS="$MOTO_ENDPOINT"
export AWS_ENDPOINT_URL_SQS="$MOTO_ENDPOINT"
export AWS_ENDPOINT_URL_EVENTBRIDGE="$MOTO_ENDPOINT"
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
export AWS_EC2_METADATA_DISABLED=true
exec "$@"
