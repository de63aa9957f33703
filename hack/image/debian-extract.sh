# shellcheck shell=bash
# Sourced by hack/image/build.sh and hack/node/images.sh: Debian packages at pinned versions,
# extracted into a root filesystem with mmdebstrap --variant=extract (docs, man pages, locales
# left out).
#
#   debian_extract <rootfs> <suite> <pkg=version,...> <mirror line>...
#
# The versions come from a lock file (hack/image/debian.lock, hack/node/images.lock). Debian's
# mirrors serve only the newest version of a package in each suite: a security update or a point
# release removes the pinned one, and no older one can be fetched from deb.debian.org. Then the
# pins are dropped, the packages the mirrors serve now are taken, and a warning names the versions
# taken so the lock can be updated; the build goes on rather than failing every fresh machine until
# someone edits the lock (DEBIAN_PINS_STRICT=1 makes it fail instead, for a release build).
# Writes <rootfs>/.debian-packages (`package version` per line, sorted: every package extracted,
# dependencies too; the caller keeps or removes it) and prints it on stderr. Returns mmdebstrap's failure.
debian_extract() {
  local root=$1 suite=$2 pins=$3; shift 3
  local opts=(--quiet --variant=extract
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
    --dpkgopt='path-exclude=/usr/share/lintian/*' --dpkgopt='path-exclude=/usr/share/gdb/*'
    # what was extracted, as `package version` (the variant keeps no dpkg database to ask later)
    --extract-hook='for f in "$1"/var/cache/apt/archives/*.deb; do echo "$(dpkg-deb -f "$f" Package) $(dpkg-deb -f "$f" Version)"; done | sort >"$1/.debian-packages"')
  if ! mmdebstrap "${opts[@]}" --include="$pins" "$suite" "$root" "$@" >&2; then
    if [[ ${DEBIAN_PINS_STRICT:-} == 1 ]]; then
      echo "debian_extract: a version in $pins is no longer on the mirror (DEBIAN_PINS_STRICT=1)" >&2
      return 1
    fi
    local names; names=$(tr ',' '\n' <<<"$pins" | cut -d= -f1 | paste -sd,)
    echo "debian_extract: WARNING: a pinned version is no longer on the mirror ($pins); extracting the versions it serves now: update the lock file with the versions below" >&2
    rm -rf "$root"
    mmdebstrap "${opts[@]}" --include="$names" "$suite" "$root" "$@" >&2 || return 1
  fi
  sed 's/^/debian_extract: /' "$root/.debian-packages" >&2
}
