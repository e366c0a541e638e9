#!/usr/bin/env bash
# Real `dockwatch agent` over TLS against the TLS dockerd (30 containers), a real `dockwatch server`; RSS of the agent each second for 60 s.
# Used for docs/decisions/007-remote-engines-tls.md. Needs a built dist/ and DOCKER_HOST / DOCKER_CERT_PATH of a TLS dockerd (test/helpers/docker-tls.ts).
set -eu
cd "$(dirname "$0")/.."
D=$(mktemp -d); GP=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'); HP=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
env -i PATH=$PATH HOME=$D DATA_DIR=$D/data PORT=$HP GRPC_PORT=$GP HOST=127.0.0.1 AGENT_TOKEN=t0k3n-for-bench-1234567890 ADMIN_PASSWORD=bench-pass-123456 LOG_LEVEL=warn node dist/cli.js server >$D/server.log 2>&1 & SP=$!
sleep 3
env -i PATH=$PATH HOME=$D SERVER_ADDR=127.0.0.1:$GP AGENT_TOKEN=t0k3n-for-bench-1234567890 COLLECT_INTERVAL=1s LOG_LEVEL=warn \
  DOCKER_HOST=$DOCKER_HOST DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$DOCKER_CERT_PATH node dist/cli.js agent >$D/agent.log 2>&1 & AP=$!
peak=0; first=0
for i in $(seq 60); do sleep 1; r=$(awk '/VmRSS/{print $2}' /proc/$AP/status); [ $first = 0 ] && [ $i = 5 ] && first=$r; [ $r -gt $peak ] && peak=$r; done
end=$(awk '/VmRSS/{print $2}' /proc/$AP/status)
echo "{\"what\":\"dockwatch agent over TLS (remote mode)\",\"rss5sMB\":$((first/1024)),\"rssPeakMB\":$((peak/1024)),\"rssEndMB\":$((end/1024))}"
kill $AP; sleep 2; kill $SP; wait 2>/dev/null; head -5 $D/agent.log; rm -rf $D
