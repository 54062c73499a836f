#!/usr/bin/env python3
"""Validate every Kubernetes manifest under deploy/kubernetes against its schema, offline.

Run through scripts/validate-manifests.sh, which makes the virtualenv this needs. What it checks:

- every YAML file under deploy/kubernetes (kustomize's own files aside), and what
  `kubectl kustomize` renders from every directory with a kustomization.yaml (the objects that
  `kubectl apply -k` would send, generated ConfigMaps and patches applied);
- built-in kinds (Deployment, Service, HorizontalPodAutoscaler, Secret…) with
  kubernetes-validate, against the Kubernetes versions in K8S_VERSIONS, in its strict mode: a
  field the API does not know is an error, as `kubectl apply` (`--validate=strict`) makes it;
- SpinKube's kinds (SpinApp, SpinAppExecutor) with jsonschema against the schemas derived from
  the operator's CRDs in deploy/kubernetes/schemas (README there), equally strict, and their
  `metadata` against Kubernetes' ObjectMeta;
- a kind with no schema at all is an error, never skipped: a typo in `apiVersion` must not pass;
- this app's own rules: every SpinApp variable is one spin.toml declares (an unknown name would
  reach Spin as an environment variable nobody reads), token_secret comes from a Secret, and the
  nginx proxy's config still opens one upstream connection per request.

Then a self-test breaks copies of the real manifests in known ways (a wrong type, an unknown
field, a missing required field, an unknown kind…) and fails unless every broken copy is
rejected: a validator that accepts everything would otherwise look like success.
"""

import copy
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import tomllib

import jsonschema
import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"
SCHEMAS = MANIFESTS / "schemas"
# Kustomize's own files: not API objects, read by kustomize (which fails on a bad one when
# it renders) rather than by the API server.
KUSTOMIZE_FILES = {"kustomization.yaml", "kustomizeconfig.yaml"}
# The oldest Kubernetes these manifests are checked against, and the newest the installed
# kubernetes-validate knows. Override with K8S_VERSIONS="1.31 1.34".
K8S_VERSIONS = os.environ.get("K8S_VERSIONS", f"1.30 {kubernetes_validate.utils.major_minor(kubernetes_validate.latest_version())}").split()


class Invalid(Exception):
    """One object failed one check; the message says which field and why."""


def load_crd_schemas():
    """(apiVersion, kind) → a jsonschema validator, from the derived CRD schemas."""
    validators = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        props = schema["properties"]
        for api_version in props["apiVersion"]["enum"]:
            for kind in props["kind"]["enum"]:
                validators[(api_version, kind)] = jsonschema.Draft202012Validator(schema)
    if not validators:
        raise SystemExit(f"no CRD schemas in {SCHEMAS}")
    return validators


def spin_variables():
    """The variable names spin.toml declares."""
    with open(ROOT / "spin.toml", "rb") as f:
        return set(tomllib.load(f).get("variables", {}))


def field(path):
    return ".".join(str(p) for p in path) or "(top level)"


def check_object(doc, crds, declared_variables):
    """Raise Invalid with every problem found in one object; return a short name for it."""
    if not isinstance(doc, dict) or not isinstance(doc.get("apiVersion"), str) or not isinstance(doc.get("kind"), str):
        raise Invalid("not a Kubernetes object: apiVersion and kind (strings) are required")
    api_version, kind = doc["apiVersion"], doc["kind"]
    name = f"{kind}/{(doc.get('metadata') or {}).get('name', '?')}"
    problems = []

    crd = crds.get((api_version, kind))
    if crd is not None:
        for error in sorted(crd.iter_errors(doc), key=lambda e: list(e.path)):
            problems.append(f"{field(error.path)}: {error.message}")
        # The CRD schema leaves metadata open (`type: object`): the API server checks it as
        # ObjectMeta. kubernetes-validate has ObjectMeta; validate it inside a ConfigMap.
        if isinstance(doc.get("metadata"), dict):
            for version in K8S_VERSIONS:
                try:
                    kubernetes_validate.validate(
                        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]}, version, strict=True
                    )
                except kubernetes_validate.ValidationError as e:
                    problems.append(f"{field(e.path)}: {e.message} (Kubernetes {e.version} ObjectMeta)")
                    break
    elif api_version.split("/")[0].endswith("spinkube.dev"):
        problems.append(f"no schema for {api_version} {kind} in {SCHEMAS.relative_to(ROOT)}")
    else:
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                problems.append(f"{field(e.path)}: {e.message} (Kubernetes {e.version})")
                break
            except kubernetes_validate.SchemaNotFoundError as e:
                problems.append(e.message)
                break

    if kind == "SpinApp" and isinstance(doc.get("spec"), dict):
        for i, variable in enumerate(doc["spec"].get("variables") or []):
            if not isinstance(variable, dict):
                continue
            if variable.get("name") not in declared_variables:
                problems.append(
                    f"spec.variables.{i}.name: {variable.get('name')!r} is not a variable of spin.toml "
                    f"({', '.join(sorted(declared_variables))})"
                )
            if variable.get("name") == "token_secret" and "secretKeyRef" not in (variable.get("valueFrom") or {}):
                problems.append(f"spec.variables.{i}: token_secret must come from a Secret (valueFrom.secretKeyRef)")

    if problems:
        raise Invalid("; ".join(problems))
    return name


def check_proxy_config(path):
    """The proxy's one job: a new connection to Spin per request (deploy/README.md)."""
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    problems = []
    if 'proxy_set_header Connection "close";' not in lines:
        problems.append('proxy_set_header Connection "close"; is missing (one upstream connection per request)')
    if any(re.match(r"keepalive\s", line) for line in lines):
        problems.append("a `keepalive` directive keeps idle connections to Spin, which stall ~40 ms per request")
    if problems:
        raise Invalid("; ".join(problems))


def manifest_files():
    return sorted(
        p
        for p in MANIFESTS.rglob("*")
        if p.suffix in (".yaml", ".yml") and p.name not in KUSTOMIZE_FILES and SCHEMAS not in p.parents
    )


def render(directory):
    """What `kubectl apply -k directory` would send, as YAML text."""
    result = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True)
    if result.returncode != 0:
        raise Invalid(f"kubectl kustomize failed: {result.stderr.strip()}")
    return result.stdout


def sources():
    """(label, YAML text) for every file and every rendered kustomization."""
    out = [(str(p.relative_to(ROOT)), p.read_text()) for p in manifest_files()]
    kustomizations = sorted(p.parent for p in MANIFESTS.rglob("kustomization.yaml"))
    if kustomizations:
        if shutil.which("kubectl"):
            for directory in kustomizations:
                label = f"kubectl kustomize {directory.relative_to(ROOT)}"
                try:
                    out.append((label, render(directory)))
                except Invalid as e:
                    out.append((label, e))
        elif os.environ.get("VALIDATE_MANIFESTS_SKIP_RENDER"):
            print("warning: kubectl not found: kustomizations are not rendered (VALIDATE_MANIFESTS_SKIP_RENDER)")
        else:
            raise SystemExit(
                "kubectl (with its built-in kustomize) is needed to render the kustomizations; "
                "install it, or set VALIDATE_MANIFESTS_SKIP_RENDER=1 to check the files alone"
            )
    return out


def self_test(objects, crds, declared_variables):
    """Break copies of the real objects; every broken copy must be rejected."""

    def first(kind):
        for doc in objects:
            if doc.get("kind") == kind:
                return copy.deepcopy(doc)
        raise SystemExit(f"self-test: no {kind} among the manifests to break")

    def broken(kind, change):
        doc = first(kind)
        change(doc)
        return doc

    def set_in(doc, path, value):
        for key in path[:-1]:
            doc = doc[key]
        doc[path[-1]] = value

    cases = [
        ("SpinApp: enableAutoscaling is a string", broken("SpinApp", lambda d: set_in(d, ["spec", "enableAutoscaling"], "yes"))),
        ("SpinApp: readiness httpGet has no `port` field", broken("SpinApp", lambda d: set_in(d, ["spec", "checks", "readiness", "httpGet", "port"], 80))),
        ("SpinApp: required spec.image missing", broken("SpinApp", lambda d: d["spec"].pop("image"))),
        ("SpinApp: misspelt spec field", broken("SpinApp", lambda d: set_in(d, ["spec", "enableAutoScaling"], True))),
        ("SpinApp: a label value that is not a string", broken("SpinApp", lambda d: set_in(d, ["metadata", "labels"], {"tier": 1}))),
        ("SpinApp: a variable spin.toml does not declare", broken("SpinApp", lambda d: d["spec"]["variables"].append({"name": "regioncode", "value": "420100"}))),
        ("SpinApp: token_secret as a plain value", broken("SpinApp", lambda d: set_in(d, ["spec", "variables"], [{"name": "token_secret", "value": "x" * 40}]))),
        ("SpinAppExecutor: unknown field (runtimeClass for runtimeClassName)", broken("SpinAppExecutor", lambda d: set_in(d, ["spec", "deploymentConfig", "runtimeClass"], "wasmtime-spin-v2"))),
        ("SpinAppExecutor: required createDeployment missing", broken("SpinAppExecutor", lambda d: d["spec"].pop("createDeployment"))),
        ("Deployment: replicas is a string", broken("Deployment", lambda d: set_in(d, ["spec", "replicas"], "2"))),
        ("Deployment: container without its required name", broken("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"))),
        ("Service: unknown field", broken("Service", lambda d: set_in(d, ["spec", "sessionAffinityy"], "None"))),
        ("unknown kind", {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}),
        ("SpinKube kind without a schema", {"apiVersion": "core.spinkube.dev/v1alpha2", "kind": "SpinApp", "metadata": {"name": "w"}}),
    ]
    failures = 0
    for label, doc in cases:
        try:
            check_object(doc, crds, declared_variables)
        except Invalid as e:
            print(f"  rejected as it should be: {label}: {str(e)[:150]}")
        else:
            print(f"  SELF-TEST FAILED: accepted a broken manifest: {label}")
            failures += 1
    return failures


def main():
    started = time.monotonic()
    crds = load_crd_schemas()
    declared_variables = spin_variables()
    print(f"validating deploy/kubernetes against Kubernetes {', '.join(K8S_VERSIONS)} (kubernetes-validate "
          f"{kubernetes_validate.version.__version__}, strict) and the SpinKube schemas in {SCHEMAS.relative_to(ROOT)}")

    passed = failed = 0
    objects = []
    for label, text in sources():
        if isinstance(text, Invalid):
            print(f"FAIL {label}: {text}")
            failed += 1
            continue
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as e:
            print(f"FAIL {label}: not YAML: {e}")
            failed += 1
            continue
        for doc in docs:
            if isinstance(doc, dict):
                objects.append(doc)    # the self-test breaks copies of these
            try:
                name = check_object(doc, crds, declared_variables)
                print(f"ok   {label}: {name}")
                passed += 1
            except Invalid as e:
                print(f"FAIL {label}: {e}")
                failed += 1

    for conf in sorted(MANIFESTS.rglob("*nginx*.conf")):
        try:
            check_proxy_config(conf)
            print(f"ok   {conf.relative_to(ROOT)}: one upstream connection per request")
            passed += 1
        except Invalid as e:
            print(f"FAIL {conf.relative_to(ROOT)}: {e}")
            failed += 1

    print("self-test: broken copies of the manifests must each be rejected")
    self_test_failures = self_test(objects, crds, declared_variables)

    print(f"manifests: {passed} passed, {failed + self_test_failures} failed "
          f"({time.monotonic() - started:.1f} s)")
    sys.exit(1 if failed or self_test_failures else 0)


if __name__ == "__main__":
    main()
