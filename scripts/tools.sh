#!/usr/bin/env bash
# Installs the pinned external tools (anvil, solc) from the npm registry into a
# project-local, git-ignored folder: `.tools/`; and, when missing, Debian's promtool and
# PostgreSQL server. Idempotent and quick when the
# pinned versions are already there. Prints the anvil path on success.
#
# Usage: scripts/tools.sh          (or `make tools`)
set -euo pipefail

ANVIL_PKG="@foundry-rs/anvil-linux-amd64"
ANVIL_VERSION="1.7.1"
SOLC_VERSION="0.8.30"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
stamp="$tools/.installed"
want="anvil=$ANVIL_VERSION solc=$SOLC_VERSION"

# Debian package $1 (for $2), installed from the Debian registry as root, else a clear error.
debian_install() {
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "tools.sh: installing $2 (Debian's $1 package)" >&2
    apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >&2
  else
    echo "tools.sh: $2 is required by the tests: install Debian's $1 package (sudo apt-get install --no-install-recommends $1)" >&2
    exit 1
  fi
}

# Prometheus' promtool checks the node's metric names and alert rules in the tests.
command -v promtool >/dev/null || debian_install prometheus promtool
# PostgreSQL's server: the distributed-proving tests start throwaway clusters with its initdb,
# postgres and pg_isready, all three from one folder (Debian puts them under
# /usr/lib/postgresql/<version>/bin), as devnet::postgres looks for them.
pg_server() {
  local dir
  for dir in $(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)") /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && [ -x "$dir/pg_isready" ] && return 0
  done
  return 1
}
pg_server || debian_install postgresql "PostgreSQL's server"
# openssl makes the throwaway CA of the prover queue's TLS test.
command -v openssl >/dev/null || debian_install openssl openssl

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$tools/bin/anvil" ]; then
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "tools.sh: only linux x86_64 is supported (the pinned anvil package is $ANVIL_PKG)" >&2; exit 1 ;;
esac

command -v npm >/dev/null || { echo "tools.sh: npm is required (install Node.js >= 18)" >&2; exit 1; }

mkdir -p "$tools"
cat > "$tools/package.json" <<JSON
{
  "name": "gateway-exex-tools",
  "private": true,
  "description": "pinned external tools for gateway-exex, installed by scripts/tools.sh",
  "dependencies": {
    "$ANVIL_PKG": "$ANVIL_VERSION",
    "solc": "$SOLC_VERSION"
  }
}
JSON

echo "tools.sh: installing $want into $tools" >&2
(cd "$tools" && npm install --no-audit --no-fund --loglevel=error >&2)

anvil_bin="$(find "$tools/node_modules/$ANVIL_PKG" -type f -name anvil | head -n 1)"
[ -n "$anvil_bin" ] || { echo "tools.sh: the anvil binary was not found in $tools/node_modules/$ANVIL_PKG" >&2; exit 1; }
chmod +x "$anvil_bin"
mkdir -p "$tools/bin"
ln -sf "$anvil_bin" "$tools/bin/anvil"
cat > "$tools/bin/solcjs" <<SH
#!/usr/bin/env bash
exec node "$tools/node_modules/solc/solc.js" "\$@"
SH
chmod +x "$tools/bin/solcjs"

"$tools/bin/anvil" --version >&2
echo "$want" > "$stamp"
