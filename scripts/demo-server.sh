#!/usr/bin/env bash
# `make demo`'s server step: start `warden serve` on a free loopback port
# with a fresh token, answer curl (an execution, a refusal above the
# token's ceiling, a job's events), then SIGTERM it and wait for the drain.
set -euo pipefail
WARDEN=${WARDEN:-target/release/warden}
dir=target/demo-server
rm -rf "$dir" && mkdir -p "$dir"
"$WARDEN" token --name demo --ceiling '{"max_trust":"low","limits":{"timeout":"5s"}}' \
  --token-file "$dir/token" > "$dir/entry.json"
echo "{\"tokens\":[$(cat "$dir/entry.json")]}" > "$dir/tokens.json"
"$WARDEN" serve --listen 127.0.0.1:0 --tokens "$dir/tokens.json" > "$dir/out" 2> "$dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  grep -q "listening on" "$dir/out" 2>/dev/null && break
  sleep 0.1
done
url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$dir/out")
[ -n "$url" ] || { echo "the server did not start:"; cat "$dir/err"; exit 1; }
auth="Authorization: Bearer $(cat "$dir/token")"
echo "\$ curl $url/v1/execute  (a JS snippet)"
curl -sS -H "$auth" "$url/v1/execute" \
  -d '{"language":"js","code":"(i) => ({ doubled: i.n * 2 })","input":{"n":21}}' | jq -c '{ok, output, runtime, reason: .decision.reason, total_us}'
echo "\$ curl $url/v1/execute  (trust high, above this token's ceiling)"
code=$(curl -sS -o "$dir/denied.json" -w '%{http_code}' -H "$auth" "$url/v1/execute" \
  -d '{"language":"js","code":"() => 1","config":{"trust":"high"}}')
echo "HTTP $code $(jq -c .error "$dir/denied.json")"
test "$code" = 403
echo "\$ curl -N $url/v1/jobs/ID/events  (a job's Server-Sent Events)"
id=$(curl -sS -H "$auth" "$url/v1/jobs" \
  -d '{"language":"js","code":"async () => { log(\"info\", \"working\"); return 7 }","config":{"trust":"low"}}' | jq -r .id)
curl -sSN -H "$auth" "$url/v1/jobs/$id/events" | grep -E '^(event|data)' | cut -c1-110
kill -TERM $pid
wait $pid
trap - EXIT
echo "(SIGTERM: the server drained and exited 0)"
