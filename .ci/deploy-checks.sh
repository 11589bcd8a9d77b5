#!/usr/bin/env bash
# Deployment checks on a machine with no Docker engine. Run as root from anywhere:
#   1. compose: Debian's docker-compose (v1.29) validates docker-compose.yml for every profile
#      (`config -q`), then a policy check asserts the hardening and wiring on the normalised file,
#      and another one the structure of deploy/k8s.yaml (no API server here for kubectl);
#   2. image-smoke (the workplace's shared tool, next to the checkout: ../shared/tools/image-smoke,
#      or next to the repository a clean clone was made from; IMAGE_SMOKE overrides): builds the
#      Dockerfile with buildah against a
#      stand-in node:24-bookworm-slim, inspects it, starts it, runs its HEALTHCHECK;
#   3. dev smoke: builds the Dockerfile's `emulator` stage and runs it beside the production image
#      with exactly the compose `dev` profile's environment (ports swapped for free ones), both on
#      127.0.0.1 as in the shared network namespace, and gets a token through the service.
# Installs docker-compose, buildah and curl with apt-get when missing. No host `npm run build`
# is needed: the images compile inside buildah. Cleans up its containers, images and temp files
# (the stand-in base and buildah's npm cache mount stay cached). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
T0=$SECONDS
TAG=wts-deploy-check-$$             # lowercase, unique per run: never touches another run's images
IMAGE=localhost/$TAG:smoke          # kept by image-smoke --keep for the dev smoke, removed below
EMU_IMAGE=localhost/$TAG-emulator:smoke
TMP=$(mktemp -d /tmp/deploy-checks.XXXXXX)
CTRS=() PIDS=()

say () { printf '%s\n' "$*"; }
step () { printf '\n==> %s\n' "$*"; }
die () { say "deploy-checks: FAILED: $*"; exit 1; }

# A process tree's pids, parents first (collected before signalling, as parents may exit first).
tree_pids () { local p; echo "$1"; for p in $(pgrep -P "$1" || true); do tree_pids "$p"; done; }
# The first process below `buildah run` that is not buildah: the container's main process.
main_pid () {
  local p
  for p in $(tree_pids "$1"); do
    [[ $(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | sed -n 1p) == buildah* ]] || { echo "$p"; return; }
  done
}
# Stop a `buildah run` like docker stop: SIGTERM to the main process, 10 s, then SIGKILL the rest.
stop_run () {
  local pid=$1 pids main t
  kill -0 "$pid" 2>/dev/null || return 0
  pids=$(tree_pids "$pid"); main=$(main_pid "$pid")
  kill -TERM "${main:-$pid}" 2>/dev/null || true
  for t in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  for t in $(tac <<<"$pids"); do kill -KILL "$t" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
}

cleanup () {
  local rc=$? p c
  set +e
  for p in "${PIDS[@]}"; do stop_run "$p"; done
  # Our own working containers, plus the one image-smoke --keep left on $IMAGE.
  for c in "${CTRS[@]}" $(buildah containers --format '{{.ContainerID}} {{.ImageName}}' 2>/dev/null |
    awk -v a="$IMAGE" -v b="$EMU_IMAGE" '$2 == a || $2 == b {print $1}'); do
    buildah rm "$c" >/dev/null 2>&1
  done
  buildah rmi "$IMAGE" "$EMU_IMAGE" >/dev/null 2>&1
  # The untagged layer-cache images our builds created (listed before and after).
  if [[ -f $TMP/dangling.before ]]; then
    buildah images -a -q --no-trunc --filter dangling=true 2>/dev/null | sort >"$TMP/dangling.after"
    comm -13 "$TMP/dangling.before" "$TMP/dangling.after" | xargs -r buildah rmi >/dev/null 2>&1
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port () { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# --- tools -------------------------------------------------------------------------------------
[[ $EUID -eq 0 ]] || die "run as root (buildah)"
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are required"
need=()
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v buildah >/dev/null || need+=(buildah)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  step "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
buildah images -a -q --no-trunc --filter dangling=true | sort >"$TMP/dangling.before"

# --- 1. compose ----------------------------------------------------------------------------------
step "docker-compose config ($(docker-compose version --short))"
# A throwaway project directory: docker-compose v1 requires every service's env_file and reads
# relative paths from the project directory. The checkout has no .env (and a developer's real
# one must not be read), so .env.example stands in for it, with placeholder secret files.
proj=$TMP/project
mkdir -p "$proj/secrets"
{ cat .env.example; echo DEPLOY_CHECKS_FROM_DOT_ENV=1; } >"$proj/.env"   # marks what came from .env
for s in global_webrtc_client_id global_webrtc_client_secret api_keys redis_url redis_users_acl; do echo placeholder >"$proj/secrets/$s"; done
compose () { docker-compose -f "$ROOT/docker-compose.yml" --project-directory "$proj" "$@"; }
profiles=$(compose config --profiles | sort | paste -sd' ')
[[ $profiles == 'dev prod scale secrets' ]] || die "profiles are '$profiles', expected 'dev prod scale secrets'"
for p in '' prod secrets dev scale; do
  compose ${p:+--profile "$p"} config -q || die "docker-compose ${p:+--profile $p }config -q"
  say "OK    docker-compose ${p:+--profile $p }config -q"
done
compose config >"$TMP/compose.yml"

# Policy on the normalised file (v1's `config` prints every service whatever --profile says,
# so profiles are resolved here). Writes the dev profile's environments for step 3.
DEV_EMU_PORT=$(free_port) DEV_SVC_PORT=$(free_port)
/usr/bin/python3 - "$TMP/compose.yml" "$TMP" "$DEV_EMU_PORT" "$DEV_SVC_PORT" <<'PY' || die "compose policy"
import sys, yaml
from urllib.parse import urlsplit
path, tmp, emu_port, svc_port = sys.argv[1:]
services = yaml.safe_load(open(path))['services']
problems = []
def check(ok, what):
    if not ok: problems.append(what)
def env(s): return services[s].get('environment') or {}
def in_profile(p): return sorted(n for n, s in services.items() if p in (s.get('profiles') or []))

for name, s in services.items():
    check(s.get('profiles'), f'{name}: has no profile, so every `--profile X up` would start it')
    check(s.get('read_only') is True, f'{name}: read_only')
    check('ALL' in (s.get('cap_drop') or []), f'{name}: cap_drop ALL')
    check('no-new-privileges:true' in (s.get('security_opt') or []), f'{name}: no-new-privileges')
    check(s.get('restart') in ('always', 'unless-stopped', 'on-failure'), f'{name}: restart policy')
    check(s.get('healthcheck', {}).get('test'), f'{name}: healthcheck')
    if name == 'redis':
        continue
    check(s.get('init') is True, f'{name}: init: true')
    check(any(t.split(':')[0] == '/tmp' for t in s.get('tmpfs') or []), f'{name}: tmpfs /tmp')
    target = 'emulator' if name == 'emulator' else 'runtime'
    check(s.get('build', {}).get('target') == target, f'{name}: build target {target}')
    for port in s.get('ports') or []:
        host_ip = port.get('host_ip') if isinstance(port, dict) else (str(port).split(':')[0] if str(port).count(':') == 2 else None)
        check(host_ip == '127.0.0.1', f'{name}: port {port} must be published on 127.0.0.1 only (plain HTTP)')
    if target == 'runtime':
        check(env(name).get('PORT') == '8080' and env(name).get('HOST') == '0.0.0.0', f'{name}: listens on 0.0.0.0:8080')

check(in_profile('prod') == ['token-service'], 'prod: exactly token-service')
for name in ('token-service', 'token-service-secrets', 'token-service-scaled'):
    check(env(name).get('DEPLOY_CHECKS_FROM_DOT_ENV') == '1', f'{name}: env_file .env')
for svc_name in ('token-service-secrets', 'token-service-scaled'):
    files = {var: value for var, value in env(svc_name).items() if var.endswith('_FILE')}
    for var in ('GLOBAL_WEBRTC_CLIENT_ID_FILE', 'GLOBAL_WEBRTC_CLIENT_SECRET_FILE', 'API_KEYS_FILE'):
        check(var in files, f'{svc_name}: credentials from files ({var})')
    for var, value in files.items():
        name = value.removeprefix('/run/secrets/')
        check(any(x.get('source') == name for x in services[svc_name].get('secrets') or []), f'{svc_name}: {var} has no secret {name}')

check(in_profile('dev') == ['emulator', 'token-service-dev'], 'dev: emulator + token-service-dev')
dev, emu = env('token-service-dev'), env('emulator')
check(services['token-service-dev'].get('network_mode') == 'service:emulator', 'dev: network_mode service:emulator')
check('DEPLOY_CHECKS_FROM_DOT_ENV' not in dev and 'DEPLOY_CHECKS_FROM_DOT_ENV' not in emu, 'dev: must not read .env')
check(emu.get('EMULATOR_HOST') == '127.0.0.1', 'dev: the emulator listens on loopback only')
for up, pre in (('BANDWIDTH', 'BANDWIDTH'), ('GLOBAL_WEBRTC', 'GLOBAL')):
    url = urlsplit(dev.get(f'{up}_TOKEN_URL', ''))
    check(url.hostname == '127.0.0.1' and str(url.port) == emu.get('EMULATOR_PORT'), f'dev: {up}_TOKEN_URL points at the emulator')
    for half in ('CLIENT_ID', 'CLIENT_SECRET'):
        check(dev.get(f'{up}_{half}') == emu.get(f'EMULATOR_{pre}_{half}'), f'dev: {up}_{half} matches the emulator')

check(in_profile('scale') == ['redis', 'token-service-scaled'], 'scale: redis + token-service-scaled')
scaled, redis = services['token-service-scaled'], services['redis']
check((scaled.get('deploy') or {}).get('replicas', 1) >= 2, 'scale: deploy.replicas >= 2')
check('REDIS_URL' not in env('token-service-scaled'), 'scale: no REDIS_URL in the environment (it holds the password)')
check(env('token-service-scaled').get('REDIS_URL_FILE') == '/run/secrets/redis_url', 'scale: REDIS_URL_FILE from the redis_url secret')
check(any(x.get('source') == 'redis_url' for x in scaled.get('secrets') or []), 'scale: the service mounts the redis_url secret')
check(any(x.get('source') == 'redis_users_acl' for x in redis.get('secrets') or []), 'scale: redis mounts its ACL secret')
check('--aclfile' in redis.get('command', []), 'scale: redis requires a password (--aclfile)')
check((scaled.get('depends_on') or {}).get('redis', {}).get('condition') == 'service_healthy', 'scale: waits for a healthy redis')
for p in scaled.get('ports') or []:
    host = str(p.get('published', '')) if isinstance(p, dict) else str(p).rsplit(':', 1)[0]
    check(host == '' or '-' in host, f'scale: replicas cannot share the fixed host port {p}')
check(not redis.get('ports'), 'scale: redis is not published')
check('--save' in redis.get('command', []) and 'no' in redis.get('command', []), 'scale: redis without persistence')
check(set(redis.get('networks') or {}) <= set(scaled.get('networks') or {}), 'scale: redis reachable from the service')

if problems:
    print('\n'.join('FAIL  ' + p for p in problems))
    sys.exit(1)
print('OK    policy: hardening on every service; prod, secrets, dev and scale wired as documented')

# The dev profile's environments for the smoke, with free ports and the service on loopback.
emu_env = dict(emu, EMULATOR_PORT=emu_port)
dev_env = dict(dev, PORT=svc_port, HOST='127.0.0.1')
for k, v in dev.items():
    if k.endswith('_TOKEN_URL'):
        dev_env[k] = v.replace(f"127.0.0.1:{emu['EMULATOR_PORT']}", f'127.0.0.1:{emu_port}')
for name, values in (('emulator', emu_env), ('dev', dev_env)):
    with open(f'{tmp}/{name}.env', 'w') as f:
        f.write(''.join(f'{k}={v}\0' for k, v in values.items()))
PY

# The Kubernetes example: no API server here (kubectl's dry run needs one), so its structure and
# the promises of the README are asserted directly.
/usr/bin/python3 - deploy/k8s.yaml <<'PY' || die "deploy/k8s.yaml policy"
import sys, yaml
docs = {d['kind']: d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
problems = []
def check(ok, what):
    if not ok: problems.append(what)
check(set(docs) == {'Deployment', 'Service', 'PodDisruptionBudget', 'NetworkPolicy'}, 'a Deployment, a Service, a PodDisruptionBudget and a NetworkPolicy')
dep, svc, pdb, netpol = docs['Deployment'], docs['Service'], docs['PodDisruptionBudget'], docs['NetworkPolicy']
pod = dep['spec']['template']['spec']
c = pod['containers'][0]
labels = dep['spec']['template']['metadata']['labels']
check(dep['spec']['selector']['matchLabels'].items() <= labels.items(), 'the selector matches the pod labels')
check(svc['spec']['selector'].items() <= labels.items(), 'the Service selects the pods')
check(pod['securityContext'].get('runAsNonRoot') is True, 'runAsNonRoot')
check(pod['securityContext'].get('runAsUser') == 1000, 'runAsUser 1000 (the image user node)')
check(c['securityContext'].get('readOnlyRootFilesystem') is True, 'readOnlyRootFilesystem')
check(c['securityContext'].get('allowPrivilegeEscalation') is False, 'allowPrivilegeEscalation false')
check('ALL' in c['securityContext'].get('capabilities', {}).get('drop', []), 'drop ALL capabilities')
ports = {p['name']: p['containerPort'] for p in c['ports']}
check(ports.get('http') == 8080, 'container port http 8080')
for probe, path in (('livenessProbe', '/healthz'), ('readinessProbe', '/readyz')):
    get = c.get(probe, {}).get('httpGet', {})
    check(get.get('path') == path and get.get('port') in ('http', 8080), f'{probe} GET {path}')
check(svc['spec']['ports'][0]['targetPort'] in ('http', 8080), 'the Service targets the http port')
mounts = {m['name']: m['mountPath'] for m in c.get('volumeMounts', [])}
volumes = {v['name']: v for v in pod.get('volumes', [])}
check(mounts.get('tmp') == '/tmp' and 'emptyDir' in volumes.get('tmp', {}), 'an emptyDir /tmp')
secret_dir = mounts.get('secrets', '')
check('secret' in volumes.get('secrets', {}), 'credentials from a Secret volume')
for e in c.get('env', []):
    if e['name'].endswith('_FILE'):
        check(e.get('value', '').startswith(secret_dir + '/'), f"{e['name']} points into the mounted Secret")
pre_stop = c.get('lifecycle', {}).get('preStop', {}).get('exec', {}).get('command', [])
check(pre_stop[:1] == ['sleep'] and int(pre_stop[1]) >= 5, 'preStop sleeps while the endpoints stop routing to the pod')
wait = int(pre_stop[1]) if len(pre_stop) > 1 else 0
check(pod.get('terminationGracePeriodSeconds', 30) > wait + 10, 'grace period longer than the preStop wait and the 10 s drain')
env = {e['name']: e.get('value') for e in c.get('env', [])}
check(env.get('METRICS_PORT') is not None and ports.get('metrics') == int(env['METRICS_PORT']), 'METRICS_PORT on the container port metrics')
check(all(p['targetPort'] in ('http', 8080) for p in svc['spec']['ports']), 'the Service does not expose the metrics port')
check(pdb['spec']['selector']['matchLabels'].items() <= labels.items() and pdb['spec'].get('minAvailable') == 1, 'the PodDisruptionBudget keeps one pod of the Deployment up')
check(dep['spec']['replicas'] >= 2 and pod.get('topologySpreadConstraints'), 'two replicas or more, spread over nodes')
check(netpol['spec']['podSelector']['matchLabels'].items() <= labels.items() and netpol['spec'].get('policyTypes') == ['Ingress'], 'the NetworkPolicy selects the pods, for their ingress')
admitted = sorted(str(p['port']) for rule in netpol['spec']['ingress'] for p in rule.get('ports', []))
check(admitted == ['http', 'metrics'] and all(rule.get('from') for rule in netpol['spec']['ingress']), 'the NetworkPolicy admits chosen peers on http and metrics only')
check(env.get('TRUST_PROXY') == '1', 'TRUST_PROXY one hop: the ingress controller, the only peer admitted on http')
if problems:
    print('\n'.join('FAIL  deploy/k8s.yaml: ' + p for p in problems))
    sys.exit(1)
print('OK    deploy/k8s.yaml: Deployment + Service + PodDisruptionBudget + NetworkPolicy, non-root, read-only root, probes /healthz and /readyz')
PY

# --- 2. image-smoke ------------------------------------------------------------------------------
step "image-smoke"
# The tool lives beside the checkout; a clone made elsewhere (git clone . /tmp/x) finds it beside
# the repository it was cloned from.
origin=$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)
smoke_tool=
for candidate in "${IMAGE_SMOKE:-}" "$ROOT/../shared/tools/image-smoke" ${origin:+"$origin/../shared/tools/image-smoke"}; do
  if [[ -n $candidate && -x $candidate ]]; then smoke_tool=$candidate; break; fi
done
[[ -n $smoke_tool ]] || die "image-smoke not found next to the checkout (../shared/tools/image-smoke); set IMAGE_SMOKE to its path"
smoke_port=$(free_port)
api_key=$(node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))")
set +e
(cd "$ROOT" && "$smoke_tool" --tag "$TAG" --keep \
  -e "API_KEYS=smoke:$api_key" -e GLOBAL_WEBRTC_CLIENT_ID=smoke-id -e GLOBAL_WEBRTC_CLIENT_SECRET=smoke-secret \
  -e "PORT=$smoke_port" -e HOST=127.0.0.1) 2>&1 | tee "$TMP/image-smoke.log"
rc=${PIPESTATUS[0]}
set -e
[[ $rc -eq 0 ]] || die "image-smoke exited $rc"
! grep -q '^WARN' "$TMP/image-smoke.log" || die "image-smoke printed WARN lines"
smoke_summary=$(tail -n 1 "$TMP/image-smoke.log")

# --- 3. dev smoke --------------------------------------------------------------------------------
step "dev profile smoke (emulator stage + production image, compose dev environment)"
t=$SECONDS
buildah bud --isolation chroot --pull=never --network host --format docker --layers --force-rm \
  --target emulator -t "$EMU_IMAGE" . >"$TMP/emulator-build.log" 2>&1 ||
  { tail -n 30 "$TMP/emulator-build.log"; die "building the emulator stage"; }
say "OK    built the emulator stage in $((SECONDS - t)) s"

# argv of an image: ENTRYPOINT + CMD, as `docker run` starts it.
argv_of () { buildah inspect --type image --format '{{range .Docker.Config.Entrypoint}}{{.}}{{"\x00"}}{{end}}{{range .Docker.Config.Cmd}}{{.}}{{"\x00"}}{{end}}' "$1"; }
start () {   # start <image> <env file> <log>: runs the image's own command in the background
  local ctr envs=() argv=() kv
  ctr=$(buildah from -q --pull=never "$1"); CTRS+=("$ctr")
  while IFS= read -r -d '' kv; do envs+=(--env "$kv"); done <"$2"
  mapfile -d '' argv < <(argv_of "$1")
  buildah run --isolation chroot --network host "${envs[@]}" "$ctr" -- "${argv[@]}" >"$3" 2>&1 &
  PIDS+=($!)
}
wait_200 () {   # wait_200 <url> <pid>: up to 20 s
  local i
  for i in $(seq 40); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true) == 200 ]] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

start "$EMU_IMAGE" "$TMP/emulator.env" "$TMP/emulator.log"
wait_200 "http://127.0.0.1:$DEV_EMU_PORT/__emulator/stats" "${PIDS[0]}" ||
  { tail -n 20 "$TMP/emulator.log"; die "the emulator did not come up"; }
say "OK    emulator answers on 127.0.0.1:$DEV_EMU_PORT: $(head -c 120 "$TMP/emulator.log")"
start "$IMAGE" "$TMP/dev.env" "$TMP/service.log"
wait_200 "http://127.0.0.1:$DEV_SVC_PORT/healthz" "${PIDS[1]}" ||
  { tail -n 20 "$TMP/service.log"; die "the service did not come up"; }
dev_key=$(tr '\0' '\n' <"$TMP/dev.env" | sed -n 's/^API_KEYS=[^:]*://p')
for up in global bandwidth; do
  body=$(curl -s --max-time 10 -H "X-API-Key: $dev_key" "http://127.0.0.1:$DEV_SVC_PORT/token/webrtc?upstream=$up")
  node -e 'const b=JSON.parse(process.argv[1]); if (!(b.access_token && b.token_type==="Bearer" && b.expires_in>=1 && b.upstream===process.argv[2])) process.exit(1)' \
    "$body" "$up" 2>/dev/null || { tail -n 20 "$TMP/service.log"; die "GET /token/webrtc?upstream=$up: ${body:0:200}"; }
  say "OK    GET /token/webrtc?upstream=$up with the dev API key: 200, a Bearer token from the emulator"
done
ready=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$DEV_SVC_PORT/readyz" || true)
[[ $ready == 200 ]] || die "GET /readyz: $ready"
say "OK    GET /readyz: 200"
stop_run "${PIDS[1]}"; stop_run "${PIDS[0]}"
grep -q '"msg":"shutting down"' "$TMP/service.log" || die "the service did not log a graceful shutdown on SIGTERM"
say "OK    both stopped on SIGTERM"

step "summary"
say "$smoke_summary"
say "deploy-checks: ok: compose valid (no profile, prod, secrets, dev, scale) and policy ok, k8s example ok, image-smoke ok, dev profile serves tokens, $((SECONDS - T0)) s total"
