# flannel-ts image: a drop-in for ghcr.io/flannel-io/flannel (same /opt/bin paths, same
# ENTRYPOINT), built in two stages.
#   docker build -t ghcr.io/flannel-ts/flannel-ts:v0.1.0 .
# The build steps live in scripts/build-image.sh, which also runs (and is tested) without Docker.

# Node 24 on Debian bookworm, slim variant, pinned by digest so a rebuild gets the same base
# (node:24-bookworm-slim, 24.18.0). Both stages use it; bump the digest on purpose.
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

# Build stage: the compiler and python node-gyp needs for the addon (the Node headers come
# with the image, under /usr/local/include/node).
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so that editing sources reuses this layer. npm ci runs the package's
# install script, which builds the native addon, so native/ must be here already.
COPY package.json package-lock.json ./
COPY native/ native/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json LICENSE ./
COPY src/ src/
COPY scripts/build-image.sh scripts/bundle.mjs scripts/third-party-licenses.mjs scripts/
COPY scripts/bundle-stubs/ scripts/bundle-stubs/
RUN scripts/build-image.sh --out /out

# Runtime: Node 24, both iptables backends (Debian's iptables package ships iptables-legacy-*
# and iptables-nft-*; the daemon picks the one the host uses), nftables for EnableNFTables,
# and iproute2 for operators who `kubectl exec` in to run ip and bridge (the daemon itself
# programs the kernel over netlink). No compilers, no node_modules (the bundle carries its
# dependencies), no source maps (they stay in the build stage's /out/debug). It runs as root
# because netlink, TUN and iptables need it; what root may do is limited by the capabilities
# the DaemonSet grants (NET_ADMIN, NET_RAW; the udp backend needs privileged for
# /dev/net/tun, as upstream).
FROM ${NODE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 iptables nftables \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/opt/ /opt/
USER root
ENTRYPOINT ["/opt/bin/flanneld"]
