#!/usr/bin/env bash
# The C ABI (crm-ffi, include/crm.h): the committed header is what the pinned cbindgen makes of
# the code, the shared library exports only crm_*, the C test programs of tests/c pass under
# valgrind with no errors and no definite or indirect leaks (tests/c/plugins.c with a real plugin
# loaded, in and out of process), and the C, pkg-config and CMake
# ways of embedding the library work. `cargo test --workspace` runs the same C tests without
# valgrind (tests/c_api.rs); this script reuses that build (target/c-api).
set -euo pipefail
cd "$(dirname "$0")/.."

CBINDGEN_VERSION=0.29.4

echo "== cbindgen $CBINDGEN_VERSION: is include/crm.h current?"
if [[ "$(cbindgen --version 2>/dev/null || true)" != "cbindgen $CBINDGEN_VERSION" ]]; then
  cargo install cbindgen --version "$CBINDGEN_VERSION" --locked
fi
if ! cbindgen --config crm-ffi/cbindgen.toml --crate crm-ffi --output include/crm.h --verify crm-ffi; then
  echo "include/crm.h is stale; regenerate it with:" >&2
  echo "  cbindgen --config crm-ffi/cbindgen.toml --crate crm-ffi --output include/crm.h crm-ffi" >&2
  exit 1
fi

echo "== libcrm (the build tests/c_api.rs uses)"
cargo build -p crm-ffi --features testing --target-dir target/c-api
lib=$PWD/target/c-api/debug

echo "== the shared library exports only crm_* symbols"
exported=$(nm -D --defined-only "$lib/libcrm.so" | awk '{print $3}')
foreign=$(grep -v '^crm_' <<<"$exported" || true)
if [[ -n $foreign ]]; then
  echo "libcrm.so exports symbols besides crm_*:" >&2
  echo "$foreign" >&2
  exit 1
fi
echo "$(wc -l <<<"$exported") symbols, all crm_*; sqlite3_* hidden: $(nm -D "$lib/libcrm.so" | grep -c ' T sqlite3_' || true) exported"

echo "== C tests under valgrind"
if ! command -v valgrind >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get install -y -qq valgrind >/dev/null
  else
    echo "valgrind is not installed" >&2
    exit 1
  fi
fi
# tests/c/valgrind.supp holds one entry: the handle crm-plugins deliberately never frees for each
# plugin library it loads (libraries are never unloaded); see the file.
CRM_C_TEST_RUNNER="valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect --suppressions=$PWD/tests/c/valgrind.supp" \
  cargo test --test c_api -- --nocapture --skip python_example --skip every_declared --skip every_pointer --skip shared_library

echo "== pkg-config: install into a scratch prefix, build the C example with pkg-config"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
CRM_LIB_DIR=$lib crm-ffi/install.sh "$prefix" debug
PKG_CONFIG_PATH=$prefix/lib/pkgconfig make -s -C examples/c clean run USE_PKG_CONFIG=1 DB="$prefix/erp.db" >/dev/null
make -s -C examples/c clean DB="$prefix/erp.db"
echo "pkg-config build of examples/c ran"

if command -v cmake >/dev/null; then
  echo "== CMake: find_package(crm) from the scratch prefix"
  mkdir -p "$prefix/cmake-app"
  cat > "$prefix/cmake-app/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.10)
project(erp_demo C)
find_package(crm REQUIRED)
add_executable(erp_demo "$PWD/examples/c/erp_demo.c")
target_link_libraries(erp_demo PRIVATE crm::crm)
CMAKE
  cmake -S "$prefix/cmake-app" -B "$prefix/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
  cmake --build "$prefix/cmake-build" >/dev/null
  "$prefix/cmake-build/erp_demo" "$prefix/cmake.db" >/dev/null
  echo "CMake build of examples/c ran"
else
  echo "== CMake: not installed, skipped"
fi

echo "== C bench (smoke run against the debug library: the figures mean nothing here)"
make -s -C benches/c run QUICK=1 LIBDIR="$lib" DB="$prefix/bench.db"
make -s -C benches/c clean DB="$prefix/bench.db"
echo "C ABI checks passed"
