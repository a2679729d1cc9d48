#!/bin/sh
# Publish one post through `unipost serve` from any shell: curl for HTTP, jq for JSON.
#   UNIPOST_URL=http://127.0.0.1:8750 UNIPOST_TOKEN=upt_... sh publish.sh order-1234
# The order id is the Idempotency-Key: running this twice for one order posts once.
set -eu
url="${UNIPOST_URL:-http://127.0.0.1:8750}"
token="${UNIPOST_TOKEN:?set UNIPOST_TOKEN to a token with the publish and read scopes}"
order="${1:?give an order id, e.g. order-1234}"

body=$(jq -n --arg order "$order" '{
  post: {text: ("Order " + $order + " is ready for pick-up"), tags: ["orders"]},
  to: ["site"],
  deadline: 5
}')
answer=$(curl -sS -w '\n%{http_code}' -X POST "$url/v1/posts" \
  -H "Authorization: Bearer $token" \
  -H "Content-Type: application/json" \
  -H "Idempotency-Key: $order" \
  --data "$body")
status=$(printf '%s\n' "$answer" | tail -n 1)
report=$(printf '%s\n' "$answer" | sed '$d')

case "$status" in
  200) ;;
  202)  # not finished by the deadline: follow the report URL until it settles
    report_url=$(printf '%s' "$report" | jq -r .report_url)
    tries=0
    while [ "$(printf '%s' "$report" | jq -r .status)" = pending ] && [ "$tries" -lt 60 ]; do
      sleep 1
      tries=$((tries + 1))
      report=$(curl -sS --fail "$url$report_url" -H "Authorization: Bearer $token")
    done ;;
  *)  # a problem+json document: say what is wrong and how to fix it
    printf '%s' "$report" | jq -r '"unipost: \(.detail) (\(.field // "request")): \(.fix // "")"' >&2
    exit 1 ;;
esac

printf '%s' "$report" | jq -r '"post \(.post_id): \(.status)",
  (.outcomes[] | "  \(.channel): \(.state) \(.url // .reason // "")")'
[ "$(printf '%s' "$report" | jq -r .status)" = succeeded ]
