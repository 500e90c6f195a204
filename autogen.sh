#!/bin/sh
# Regenerate the build system: ./autogen.sh [configure options]
set -e
srcdir=$(dirname "$0")
cd "$srcdir"
mkdir -p m4 build-aux
autoreconf --force --install --verbose
cd - >/dev/null
if [ -z "$NOCONFIGURE" ] && [ "$#" -gt 0 ]; then
    exec "$srcdir/configure" "$@"
fi
