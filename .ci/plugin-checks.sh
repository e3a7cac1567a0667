#!/usr/bin/env bash
# Plugin ABI checks (called from .ci/run): the committed include/crm_plugin.h is what cbindgen
# generates from crm-plugins/src/abi.rs, it compiles cleanly as C and C++, and the C example
# connector builds against it alone. The plugin tests themselves run in `cargo test --workspace`
# (tests/plugins.rs builds and loads every plugin for real).
set -euo pipefail
cd "$(dirname "$0")/.."

CBINDGEN_VERSION=0.29.4
if ! cbindgen --version 2>/dev/null | grep -q " $CBINDGEN_VERSION\$"; then
    echo "== installing cbindgen $CBINDGEN_VERSION"
    cargo install --locked --quiet cbindgen --version "$CBINDGEN_VERSION"
fi

echo "== include/crm_plugin.h is up to date"
cbindgen --quiet --config crm-plugins/cbindgen.toml --crate crm-plugins \
    --output include/crm_plugin.h --verify crm-plugins \
    || { echo "include/crm_plugin.h is stale: regenerate it (see crm-plugins/cbindgen.toml)"; exit 1; }

CC=${CC:-cc}
CXX=${CXX:-c++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== crm_plugin.h compiles as C99 and C++ (twice included, all warnings as errors)"
printf '#include "crm_plugin.h"\n#include "crm_plugin.h"\nint main(void) { return sizeof(crm_plugin) == 0; }\n' > "$tmp/h.c"
"$CC" -std=c99 -Wall -Wextra -pedantic -Werror -Iinclude -c "$tmp/h.c" -o "$tmp/h.o"
"$CXX" -x c++ -std=c++11 -Wall -Wextra -pedantic -Werror -Iinclude -c "$tmp/h.c" -o "$tmp/hpp.o"

echo "== the C example connector builds against crm_plugin.h alone"
"$CC" -std=c99 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -Iinclude \
    -o "$tmp/libhello.so" examples/plugins/hello/hello.c
nm -D --defined-only "$tmp/libhello.so" | grep -q ' crm_plugin_entry_v1$'
echo "plugin checks: ok"
