#!/usr/bin/env bash
# Validates every Kubernetes manifest under deploy/kubernetes (and what its kustomizations
# render) against the Kubernetes schemas and SpinKube's SpinApp/SpinAppExecutor schemas, with
# no cluster and no network beyond PyPI for the first install. Fails on any invalid object,
# and proves it would: a self-test breaks copies of the manifests and expects each to be
# rejected. scripts/validate_manifests.py says what exactly is checked. .ci/run calls this.
#
# Needs python3 ≥ 3.11 and kubectl (its built-in kustomize renders the kustomizations; set
# VALIDATE_MANIFESTS_SKIP_RENDER=1 to check the files alone). The Python packages go into a
# virtualenv under target/ (kept between runs, rebuilt when the requirements change).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  { echo "scripts/validate-manifests.sh needs python3 3.11 or later (tomllib reads spin.toml)" >&2; exit 1; }

venv=target/manifest-venv
requirements=scripts/validate-manifests.requirements.txt
if ! cmp -s "$requirements" "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"    # the stamp: installed from exactly this file
fi

exec "$venv/bin/python" scripts/validate_manifests.py "$@"
