#!/usr/bin/env bash
# Vendor the browser libraries from the npm registry into server/static/vendor/:
#   - the page's graph library, Cytoscape.js                      -> vendor/cytoscape.min.js
#   - GraphiQL (served at GET /graphql) and the React it runs on  -> vendor/graphiql/
#
# Nothing is fetched from the internet at run time: the browser-ready files are committed, with their
# licences, and this script is how they were obtained. It pins every version and checks each tarball's
# SHA-512 integrity against the value the registry published (`npm view <name>@<ver> dist.integrity`).
#
# Usage: scripts/vendor_js.sh            (needs npm and network access; run once when upgrading)
set -euo pipefail

CYTOSCAPE_VERSION=3.34.4
CYTOSCAPE_INTEGRITY="sha512-msY99tMY8iWTg+sIPGfSqDcPNOt4xcj+v/K/7qUFaCUxxlqnMkUYLBjRUzn9W5CU/R2hrmtJa5+UtovrEM2ctg=="
# graphiql 3.x is the last line shipping a UMD bundle (window.GraphiQL) with React as an external global;
# 3.8.3 and React 18.2.0 are the versions strawberry's own GraphiQL page pins.
GRAPHIQL_VERSION=3.8.3
GRAPHIQL_INTEGRITY="sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw=="
REACT_VERSION=18.2.0
REACT_INTEGRITY="sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNln0ZCYbcfTsGbTJrU/kGemdH2IWmB2ioZ+zkxtmq6g09fGQ=="
REACT_DOM_INTEGRITY="sha512-6IMTriUmvsjHUjNtEDudZfuDQUoWXVxKHhlEGSk81n4YFS+r/Kl99wXiwlVXtPBtJenozv2P+hxDsw9eA7Xo6g=="

repo="$(cd "$(dirname "$0")/.." && pwd)"
dest="$repo/server/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# fetch NAME VERSION INTEGRITY: pack NAME@VERSION, check its integrity, unpack it into $work/NAME/package.
fetch() {
    local name="$1" version="$2" integrity="$3"
    local tarball="$name-$version.tgz" actual
    (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
    actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
    if [[ "$actual" != "$integrity" ]]; then
        echo "integrity mismatch for $tarball: got $actual, expected $integrity" >&2
        exit 1
    fi
    mkdir -p "$work/$name"
    tar xzf "$work/$tarball" -C "$work/$name"
}

# put SOURCE TARGET: copy one file and say where it went and how big it is.
put() {
    cp "$1" "$2"
    echo "$(basename "$2"): $(wc -c <"$2") bytes"
}

fetch cytoscape "$CYTOSCAPE_VERSION" "$CYTOSCAPE_INTEGRITY"
fetch graphiql "$GRAPHIQL_VERSION" "$GRAPHIQL_INTEGRITY"
fetch react "$REACT_VERSION" "$REACT_INTEGRITY"
fetch react-dom "$REACT_VERSION" "$REACT_DOM_INTEGRITY"

mkdir -p "$dest/graphiql"
echo "cytoscape $CYTOSCAPE_VERSION -> $dest"
put "$work/cytoscape/package/dist/cytoscape.min.js" "$dest/cytoscape.min.js"
put "$work/cytoscape/package/LICENSE" "$dest/cytoscape.LICENSE.txt"
echo "graphiql $GRAPHIQL_VERSION, react and react-dom $REACT_VERSION -> $dest/graphiql"
put "$work/graphiql/package/graphiql.min.js" "$dest/graphiql/graphiql.min.js"
put "$work/graphiql/package/graphiql.min.css" "$dest/graphiql/graphiql.min.css"
put "$work/graphiql/package/LICENSE" "$dest/graphiql/graphiql.LICENSE.txt"
put "$work/react/package/umd/react.production.min.js" "$dest/graphiql/react.production.min.js"
put "$work/react/package/LICENSE" "$dest/graphiql/react.LICENSE.txt"
put "$work/react-dom/package/umd/react-dom.production.min.js" "$dest/graphiql/react-dom.production.min.js"
put "$work/react-dom/package/LICENSE" "$dest/graphiql/react-dom.LICENSE.txt"
