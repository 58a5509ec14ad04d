#!/usr/bin/env bash
# A GitLab-style rollout of one flag with vexil, on the embedded defaults (SQLite state,
# local directory targets), following GitLab's rollout issue template. Each step prints the
# command, the flag's state, and what a few actors get.
set -euo pipefail
cd "$(dirname "$0")/.."
VEXIL=${VEXIL:-$PWD/target/release/vexil}
DEMO=${DEMO_DIR:-$PWD/.work/demo}
FLAG=new_navigation_bar
export VEXIL_AUTHOR="${VEXIL_AUTHOR:-Demo Release Manager <rm@example.com>}"

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
step() {
  bold "\$ vexil $*"
  "$VEXIL" -C "$DEMO" "$@" | sed 's/^/  /'
}
who() { # evaluate the flag in one environment for a few actors
  local env=$1
  printf '  %-12s' "$env:"
  for actor in "User:1 --property team=gitlab" "User:2" "User:777" "Project:42" "Group:9970"; do
    # shellcheck disable=SC2086
    out=$("$VEXIL" -C "$DEMO" eval "$FLAG" --env "$env" --actor $actor --random 0.5 --json)
    on=$(sed -n 's/.*"enabled": \(true\|false\).*/\1/p' <<<"$out")
    reason=$(sed -n 's/.*"reason": "\([a-z_]*\)".*/\1/p' <<<"$out")
    printf ' %s=%s(%s)' "${actor%% *}" "$([ "$on" = true ] && echo on || echo off)" "$reason"
  done
  echo
}

rm -rf "$DEMO"
bold "\$ vexil init $DEMO"
"$VEXIL" init "$DEMO" | sed 's/^/  /'
who production

step feature set $FLAG 50 --actors --dev --pre --staging --staging-ref
who staging

step feature set $FLAG true --dev --pre --staging --staging-ref
who staging

step feature set $FLAG true --project=42 --group=9970 --user=2 --feature-group=gitlab_team_members --production
who production

for pct in 10 25 50; do
  step feature set $FLAG $pct --actors --production
  who production
done

step feature set $FLAG true
who production

bold "Something is wrong: roll back with false"
step feature set $FLAG false
who production

step log $FLAG --env production --limit 3

bold "Fixed and shipped: on everywhere"
step feature set $FLAG true --dev --pre --staging --staging-ref --ops --production
who production

bold "Release the feature: the last phase of the template"
# The project is at 17.9 (GitLab's VERSION file); the code still reads the flag.
echo "17.9.0-pre" >"$DEMO/VERSION"
mkdir -p "$DEMO/app/views" "$DEMO/app/assets"
printf '%s\n' "- if Feature.enabled?(:$FLAG, current_user)" "  = render 'nav/new'" >"$DEMO/app/views/_nav.html.haml"
printf '%s\n' "export const newNav = () => window.gon.features?.newNavigationBar;" >"$DEMO/app/assets/nav.js"
step stale
step refs $FLAG
bold "\$ vexil cleanup $FLAG   (refused while the code still names it)"
"$VEXIL" -C "$DEMO" cleanup $FLAG 2>&1 | sed 's/^/  /' || true
echo "  (the removal MR deletes both code paths)"
rm "$DEMO/app/views/_nav.html.haml" "$DEMO/app/assets/nav.js"
step cleanup $FLAG

step status
bold "Snapshots are in $DEMO/public/<environment>/latest.vxl (and v/<version>.vxl)"

bold "Two more flags mid-rollout, for the dashboard"
define() { # name type default_enabled group
  mkdir -p "$DEMO/config/feature_flags/$2"
  printf -- "---\nname: %s\nfeature_issue_url:\nintroduced_by_url:\nrollout_issue_url: https://gitlab.example.com/org/app/-/issues/%s\nmilestone: '17.6'\ngroup: %s\ntype: %s\ndefault_enabled: %s\n" \
    "$1" "$RANDOM" "$4" "$2" "$3" >"$DEMO/config/feature_flags/$2/$1.yml"
}
define merge_trains_v2 gitlab_com_derisk false "group::pipeline execution"
define ci_job_token_scope ops true "group::pipeline security"
step publish
step feature set merge_trains_v2 true --dev --staging
step feature set merge_trains_v2 25 --actors --production
step feature set ci_job_token_scope false --pre

bold "What a visitor's browser may see: client-side flags only, actor ids hashed"
sed -i 's/^client_side = \[\]/client_side = ["promo_*"]/' "$DEMO/vexil.toml"
define promo_banner beta false "group::growth"
step publish
step feature set promo_banner true --user=1,2 --staging --production
"$VEXIL" -C "$DEMO" snapshot --env production --audience browser -o "$DEMO/browser.vxl"
step inspect "$DEMO/browser.vxl"
echo "  (vexil serve offers it at /production/browser/latest.vxl; the README shows the edge bootstrap)"

# The port is fixed so the URL is predictable; VEXIL_LISTEN picks another (port 0: any free one).
LISTEN=${VEXIL_LISTEN:-127.0.0.1:8417}
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
# The example service must know the server's address before it starts.
[ "${LISTEN##*:}" = 0 ] && LISTEN="${LISTEN%:*}:$(free_port)"

bold "A guarded rollout: a plan vexil runs step by step, watching Prometheus"
scripts/apt-install.sh prometheus
(cd examples/guarded-rollout && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; })
define faster_search beta false "group::global search"
mkdir -p "$DEMO/config/rollouts"
# The example's plan, with waits of seconds: a real plan's are minutes.
sed -e 's/new_navigation_bar/faster_search/' -e 's/wait: 10s/wait: 8s/' \
  examples/guarded-rollout/config/rollouts/new_navigation_bar.yml >"$DEMO/config/rollouts/faster_search.yml"
sed 's/^/  /' "$DEMO/config/rollouts/faster_search.yml"
SERVICE_PORT=$(free_port)
PROM_PORT=$(free_port)
PROM_DIR=$(mktemp -d)
sed "s/127.0.0.1:9464/127.0.0.1:$SERVICE_PORT/" examples/guarded-rollout/prometheus.yml >"$PROM_DIR/prometheus.yml"
printf '\n[rollouts]\nprometheus = "http://127.0.0.1:%s"\nmin_wait = "1s"\ncheck_interval = "1s"\ndrive = true\n' "$PROM_PORT" >>"$DEMO/vexil.toml"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$PROM_DIR"; }
trap cleanup EXIT
# bash runs an EXIT trap only after its foreground child ends: with the server in the
# background and `wait`, Ctrl-C or a SIGTERM stops everything at once.
trap 'exit 130' INT
trap 'exit 143' TERM
prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=error >/dev/null 2>&1 &
pids+=($!)
# The service follows staging through the npm package and counts requests and errors by the
# flag's state; LOAD sends it requests from random users.
FLAG=faster_search VEXIL_URL="http://$LISTEN/staging" PORT=$SERVICE_PORT LOAD=40 \
  node examples/guarded-rollout/server.mjs >/dev/null 2>&1 &
pids+=($!)
query() { node -e "fetch('http://127.0.0.1:$PROM_PORT/api/v1/query?query='+encodeURIComponent(process.argv[1])).then(r=>r.json()).then(b=>console.log(b.data?.result?.[0]?.value?.[1] ?? ''),()=>console.log(''))" "$1"; }
printf '  waiting for Prometheus to scrape the service'
until [ -n "$(query 'sum(http_requests_total)')" ]; do printf '.'; sleep 1; done
sleep 2
echo
step rollout start faster_search
# In 20 seconds the new code path starts failing for a third of its requests.
(sleep 20; node -e "fetch('http://127.0.0.1:$SERVICE_PORT/admin/error-rate?on=0.3')") &
pids+=($!)

bold "\$ vexil serve — open the dashboard URL below"
echo "  http://$LISTEN/#/flag/faster_search: vexil serve applies a step every 8 s; after 20 s the"
echo "  service's error rate with the flag on rises, the guard breaches and the rollout rolls back."
echo "  Then try, in another terminal: $VEXIL -C $DEMO feature set merge_trains_v2 50 --actors --production"
echo "  (Ctrl-C stops the server, Prometheus and the service)"
"$VEXIL" -C "$DEMO" serve --listen "$LISTEN" &
pids+=($!)
wait "$!"
