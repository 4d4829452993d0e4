#!/usr/bin/env bash
# Vendor the page's graph library (Cytoscape.js) from the npm registry into server/static/vendor/.
#
# The page never fetches JavaScript from the internet at run time: the minified file is committed, with its
# licence, and this script is how it was obtained. It pins the version and checks the tarball's SHA-512
# integrity against the value the registry published (`npm view cytoscape@<ver> dist.integrity`).
#
# Usage: scripts/vendor_js.sh            (needs npm and network access; run once when upgrading)
set -euo pipefail

VERSION=3.34.4
INTEGRITY="sha512-msY99tMY8iWTg+sIPGfSqDcPNOt4xcj+v/K/7qUFaCUxxlqnMkUYLBjRUzn9W5CU/R2hrmtJa5+UtovrEM2ctg=="

repo="$(cd "$(dirname "$0")/.." && pwd)"
dest="$repo/server/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "cytoscape@$VERSION" >/dev/null
tarball="cytoscape-$VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ "$actual" != "$INTEGRITY" ]]; then
    echo "integrity mismatch for $tarball: got $actual, expected $INTEGRITY" >&2
    exit 1
fi
tar xzf "$tarball"
mkdir -p "$dest"
cp package/dist/cytoscape.min.js "$dest/cytoscape.min.js"
cp package/LICENSE "$dest/cytoscape.LICENSE.txt"
echo "cytoscape $VERSION -> $dest/cytoscape.min.js ($(wc -c <"$dest/cytoscape.min.js") bytes)"
