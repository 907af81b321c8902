# flannel-ts image: a drop-in for ghcr.io/flannel-io/flannel (same /opt/bin paths, same
# ENTRYPOINT), built in two stages.
#   docker build -t ghcr.io/flannel-ts/flannel-ts:v0.1.0 .
# The build steps live in scripts/build-image.sh, which also runs (and is tested) without Docker.

ARG NODE_IMAGE=node:24-bookworm

# Build stage: the full Node image has what the addon needs (Node headers under
# /usr/local/include/node, python3, make, g++).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# Dependencies first, so that editing sources reuses this layer. npm ci runs the package's
# install script, which builds the native addon, so native/ must be here already.
COPY package.json package-lock.json ./
COPY native/ native/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src/ src/
COPY scripts/build-image.sh scripts/bundle.mjs scripts/
COPY scripts/bundle-stubs/ scripts/bundle-stubs/
RUN scripts/build-image.sh --out /out

# Runtime: Node 24 plus the two firewall front ends the traffic rules use, nothing else (no
# shell tools beyond the base image's, no compilers, no node_modules: the bundle carries its
# dependencies). It runs as root because netlink, TUN and iptables need it; what root may
# do is limited by the capabilities the DaemonSet grants (NET_ADMIN, NET_RAW; the udp
# backend needs privileged for /dev/net/tun, as upstream).
FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables nftables \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/opt/ /opt/
USER root
ENTRYPOINT ["/opt/bin/flanneld"]
