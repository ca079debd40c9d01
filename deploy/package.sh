#!/usr/bin/env bash
# Builds the Debian packages waymark-gateway and waymark-sync:
#
#   deploy/package.sh                     # release build, packages in target/debian/
#   deploy/package.sh --profile debug     # from target/debug (what CI installs)
#   deploy/package.sh --target aarch64-unknown-linux-gnu   # cross (docs/INSTALL.md; not tested here)
#
# Options: --profile release|debug (default release), --target TRIPLE, --out DIR
# (default target/debian), --no-build (package the binaries already built).
#
# Each package is a plain staged tree turned into a .deb by dpkg-deb: the binary in
# /usr/bin, its systemd unit (deploy/systemd/), the example config as a conffile in
# /etc/waymark/, the maintainer scripts made from deploy/debian/*.in. Needs only
# cargo, dpkg-deb and readelf (binutils); no debhelper, no cargo-deb, no root.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release target="" out=target/debian build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs release or debug}"; shift 2 ;;
    --target) target="${2:?--target needs a target triple}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$profile" in
  release) cargo_profile=release ;;
  debug) cargo_profile=dev ;;
  *) echo "package.sh: --profile is release or debug, not $profile" >&2; exit 2 ;;
esac

if [ "$build" = 1 ] && [ "$profile" = debug ]; then
  # The targets `cargo test --workspace` builds: dependency features resolve the
  # same way (dev-dependencies included), so after the suite (CI) this only links
  # the gateway binary instead of compiling the dependency tree a second time.
  cargo build --locked ${target:+--target "$target"} --workspace --bins --tests
elif [ "$build" = 1 ]; then
  cargo build --locked --profile "$cargo_profile" ${target:+--target "$target"} \
    -p waymark-gateway -p waymark-sync
fi
# Where cargo put them: CARGO_TARGET_DIR when set (a shared build cache).
bin_dir="${CARGO_TARGET_DIR:-target}/${target:+$target/}$profile"

case "${target:-$(uname -m)}" in
  x86_64*) arch=amd64 ;;
  aarch64*) arch=arm64 ;;
  *) echo "package.sh: no Debian architecture known for ${target:-$(uname -m)}" >&2; exit 2 ;;
esac
version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' Cargo.toml)"
[ -n "$version" ] || { echo "package.sh: no version in Cargo.toml [workspace.package]" >&2; exit 1; }

# Dependencies from the binary itself: the libraries it links and the newest glibc
# symbol version it uses (readelf reads any architecture's ELF).
depends_of() {
  local bin="$1" glibc lib deps=""
  glibc="$(readelf --version-info --wide "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)"
  for lib in $(readelf --dynamic --wide "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    case "$lib" in
      libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) ;;
      libgcc_s.so.1) deps="$deps, libgcc-s1" ;;
      *) echo "package.sh: $bin links $lib: add its Debian package to depends_of" >&2; exit 1 ;;
    esac
  done
  echo "libc6 (>= $glibc)$deps, adduser"
}

# Release binaries lose their DWARF line tables (80% of their size: 91 MB -> 19 MB
# for the gateway) and keep their symbols, so a panic's backtrace still names the
# functions. The unstripped binary stays in target/ for a debugger.
strip_binary() {
  [ "$profile" = release ] || return 0
  local tool=strip
  [ -n "$target" ] && tool="${target%%-*}-linux-gnu-strip"
  if command -v "$tool" >/dev/null 2>&1; then
    "$tool" --strip-debug "$1"
  else
    echo "package.sh: $tool not found: $(basename "$1") is packaged unstripped" >&2
  fi
}

# package NAME CONFIG_NAME USER EXTRA_GROUPS SHORT_DESCRIPTION LONG_DESCRIPTION
package() {
  local pkg="$1" conf="$2" user="$3" groups="$4" short="$5" long="$6"
  local bin="$bin_dir/$pkg" root="$out/stage/$pkg" data="/var/lib/$pkg" size
  [ -x "$bin" ] || { echo "package.sh: $bin not found (build it, or drop --no-build)" >&2; exit 1; }
  rm -rf "$root"
  install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
    "$root/etc/waymark" "$root/usr/share/doc/$pkg"
  install -m 0755 "$bin" "$root/usr/bin/$pkg"
  strip_binary "$root/usr/bin/$pkg"
  install -m 0644 "deploy/systemd/$pkg.service" "$root/lib/systemd/system/$pkg.service"
  # The shipped config is the example; its data_dir is the package's data directory.
  grep -qx "data_dir = \"$data\"" "deploy/$conf.example.toml" \
    || { echo "package.sh: deploy/$conf.example.toml must say data_dir = \"$data\"" >&2; exit 1; }
  install -m 0640 "deploy/$conf.example.toml" "$root/etc/waymark/$conf.toml"
  install -m 0644 docs/INSTALL.md "$root/usr/share/doc/$pkg/INSTALL.md"
  cat > "$root/usr/share/doc/$pkg/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: waymark
Source: $(sed -n 's/^repository = "\(.*\)"$/\1/p' Cargo.toml)

Files: *
Copyright: the Waymark authors
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0. The binary also contains Rust crates
 under MIT, BSD, ISC, Zlib, Unicode-3.0 and MPL-2.0 (serialport) licenses;
 deny.toml in the source lists what is allowed.
COPYRIGHT
  for script in postinst prerm postrm; do
    sed -e "s|@PKG@|$pkg|g" -e "s|@USER@|$user|g" -e "s|@DATA_DIR@|$data|g" \
      -e "s|@CONFIG@|/etc/waymark/$conf.toml|g" -e "s|@GROUPS@|$groups|g" \
      "deploy/debian/$script.in" > "$root/DEBIAN/$script"
    chmod 0755 "$root/DEBIAN/$script"
  done
  echo "/etc/waymark/$conf.toml" > "$root/DEBIAN/conffiles"
  local depends
  depends="$(depends_of "$bin")"
  size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
  cat > "$root/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: Waymark maintainers <waymark@example.invalid>
Section: net
Priority: optional
Installed-Size: $size
Depends: $depends
Description: $short
$long
CONTROL
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
    | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
  # Debug builds (CI) are large and thrown away: compress them fast.
  local compress=(-Zxz)
  [ "$profile" = debug ] && compress=(-Zgzip -z1)
  dpkg-deb --root-owner-group "${compress[@]}" --build "$root" "$out/${pkg}_${version}_${arch}.deb" >/dev/null
  echo "$out/${pkg}_${version}_${arch}.deb"
}

mkdir -p "$out"
package waymark-gateway gateway waymark-gateway dialout \
  "Waymark site gateway: RFID and barcode reads to order events" \
  " Runs at a warehouse site. Takes reads from RFID portals (MQTT) and barcode
 scanners (serial), turns them into business events (picked, packed, loaded),
 keeps them durably while the link is down and replicates them to central."
package waymark-sync sync waymark-sync "" \
  "Waymark central sync service" \
  " Receives the events of every site gateway over mutual-TLS gRPC, applies each
 exactly once, and serves orders, timelines and the operator REST API."
