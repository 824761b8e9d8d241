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

# Prometheus' promtool (Debian's `prometheus` package) checks the node's metric names in the
# tests: installed from the Debian registry when missing.
if ! command -v promtool >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "tools.sh: installing promtool (Debian's prometheus package)" >&2
    apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
  else
    echo "tools.sh: promtool is required by the tests: install Debian's prometheus package (sudo apt-get install --no-install-recommends prometheus)" >&2
    exit 1
  fi
fi

# PostgreSQL's server (Debian's `postgresql` package): the distributed-proving tests start
# throwaway clusters with its initdb and postgres, installed from the Debian registry when missing.
pg_bin() {
  command -v initdb >/dev/null && command -v postgres >/dev/null && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
if ! pg_bin; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "tools.sh: installing PostgreSQL (Debian's postgresql package)" >&2
    apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  else
    echo "tools.sh: PostgreSQL's server is required by the tests: install Debian's postgresql package (sudo apt-get install --no-install-recommends postgresql)" >&2
    exit 1
  fi
fi

# openssl makes the throwaway CA of the prover queue's TLS test (Debian's openssl package).
if ! command -v openssl >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "tools.sh: installing openssl (Debian's openssl package)" >&2
    apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >&2
  else
    echo "tools.sh: openssl is required by the tests: install Debian's openssl package" >&2
    exit 1
  fi
fi

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
