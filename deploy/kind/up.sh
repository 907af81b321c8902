#!/usr/bin/env bash
# The whole path on a machine with Docker and kind: cluster, image, deploy, cross-node test.
. "$(dirname "$0")/common.sh"
here=$(dirname "$0")
"$here/create-cluster.sh"
"$here/load-image.sh"
"$here/deploy.sh"
"$here/cross-node-test.sh"
