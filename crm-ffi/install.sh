#!/usr/bin/env bash
# Installs libcrm for C/C++ projects: the libraries, crm.h, crm.pc (pkg-config) and
# crmConfig.cmake (CMake).
#
#   crm-ffi/install.sh PREFIX [PROFILE]      # PROFILE: release (default) or debug
#
# Builds the library first (cargo build -p crm-ffi), unless CRM_LIB_DIR names a directory that
# already holds libcrm.so and libcrm.a. Afterwards:
#   cc app.c $(pkg-config --cflags --libs crm)          (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig)
#   find_package(crm REQUIRED) + target_link_libraries(app PRIVATE crm::crm)   (CMake)
set -euo pipefail
prefix=${1:?usage: install.sh PREFIX [PROFILE]}
profile=${2:-release}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

if [[ -n ${CRM_LIB_DIR:-} ]]; then
  libdir=$CRM_LIB_DIR   # an already built library directory: install it as it is
else
  target_dir=${CARGO_TARGET_DIR:-$root/target}
  if [[ $profile == release ]]; then
    (cd "$root" && cargo build -p crm-ffi --release)
  else
    (cd "$root" && cargo build -p crm-ffi)
  fi
  libdir=$target_dir/$profile
fi
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml" | head -n1)

install -d "$prefix/lib/pkgconfig" "$prefix/lib/cmake/crm" "$prefix/include"
install -m 0755 "$libdir/libcrm.so" "$prefix/lib/libcrm.so"
install -m 0644 "$libdir/libcrm.a" "$prefix/lib/libcrm.a"
install -m 0644 "$root/include/crm.h" "$prefix/include/crm.h"
sed -e "s|@PREFIX@|$prefix|" -e "s|@LIBDIR@|$prefix/lib|" \
    -e "s|@INCLUDEDIR@|$prefix/include|" -e "s|@VERSION@|$version|" \
    "$here/crm.pc.in" > "$prefix/lib/pkgconfig/crm.pc"
install -m 0644 "$here/cmake/crmConfig.cmake" "$prefix/lib/cmake/crm/crmConfig.cmake"
echo "installed libcrm $version from $libdir into $prefix"
