#!/usr/bin/env python3
"""Turn a CustomResourceDefinition's openAPIV3Schema into a strict JSON Schema file.

Used once per operator upgrade to regenerate deploy/kubernetes/schemas/*.json from the SpinKube
CRDs (deploy/kubernetes/schemas/README.md says where they come from and how to run this). CI
does not run it: CI reaches package registries only, never the CRDs' release page, so the
derived schemas are committed and this script is how they were made.

What it changes, and why:
- `description` keywords are dropped: they are most of the file's bytes, validation never
  reads them, and the upstream CRD is the place to read them.
- every object schema that lists `properties` and says nothing about other keys gets
  `additionalProperties: false`: the API server prunes or (kubectl's default
  `--validate=strict`) rejects fields a structural schema does not know, so a misspelt field
  (`enableAutoScaling`, `readines`) must fail here too rather than silently do nothing.
  Objects marked `x-kubernetes-preserve-unknown-fields` keep unknown fields, as the API does.
- `apiVersion` and `kind` are pinned to the CRD's group/version and kind, and the top level
  requires `apiVersion`, `kind` and `metadata`, as every object sent to the API must carry.
  `metadata` stays `type: object` here: scripts/validate_manifests.py checks it against the
  Kubernetes ObjectMeta schema.

Usage: crd-to-jsonschema.py CRD.yaml OUT_DIR --source TEXT
  writes OUT_DIR/<kind lower-case>-<group>-<version>.json for every served version.
"""

import argparse
import json
import pathlib
import sys

import yaml

# Keywords whose value is a map from property names (not keywords) to schemas.
NAMED_SCHEMAS = ("properties", "patternProperties", "definitions", "$defs")
# Keywords whose value is one schema, or a list of schemas.
ONE_SCHEMA = ("items", "additionalProperties", "not", "additionalItems")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def strict(schema):
    """A copy of `schema` without descriptions and closed to unknown properties."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key in NAMED_SCHEMAS:
            out[key] = {name: strict(sub) for name, sub in value.items()}
        elif key in ONE_SCHEMA:
            out[key] = strict(value) if isinstance(value, dict) else value
        elif key in SCHEMA_LISTS:
            out[key] = [strict(sub) for sub in value]
        else:
            out[key] = value
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields", False)
    ):
        out["additionalProperties"] = False
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crd", type=pathlib.Path)
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--source", required=True, help="where the CRD came from (URL, version, commit, licence)")
    args = parser.parse_args()

    crd = yaml.safe_load(args.crd.read_text())
    if crd.get("kind") != "CustomResourceDefinition":
        sys.exit(f"{args.crd}: not a CustomResourceDefinition")
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"]
    for version in crd["spec"]["versions"]:
        if not version.get("served", False):
            continue
        schema = strict(version["schema"]["openAPIV3Schema"])
        schema["properties"]["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
        schema["properties"]["kind"] = {"type": "string", "enum": [kind]}
        schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
        document = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$comment": (
                f"{kind} {group}/{version['name']}, derived by scripts/crd-to-jsonschema.py from "
                f"{args.source}. Do not edit by hand: regenerate (deploy/kubernetes/schemas/README.md)."
            ),
            "title": f"{kind} ({group}/{version['name']})",
            **schema,
        }
        out = args.out_dir / f"{kind.lower()}-{group}-{version['name']}.json"
        out.write_text(json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
