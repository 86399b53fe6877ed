"""The Kubernetes manifests under deploy/k8s, read the way kustomize reads them."""

import copy
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.entry_points import DEPLOY

K8S = DEPLOY / "k8s"
BASE = K8S / "base"
OVERLAYS = K8S / "overlays"
SECRET_TEMPLATE = BASE / "secret.example.yaml"
# The oldest Kubernetes release the manifests are checked against.
KUBERNETES_VERSION = "1.30"


@dataclass(frozen=True)
class Manifest:
    path: Path
    document: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.document["kind"])

    @property
    def name(self) -> str:
        return str(self.document["metadata"]["name"])


@functools.cache
def documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents in a file, empty ones left out (read once; do not modify them)."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization(folder: Path) -> dict[str, Any]:
    """A folder's kustomization.yaml."""
    loaded = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def kustomizations() -> list[Path]:
    """Every folder holding a kustomization: the base and each overlay."""
    return sorted(path.parent for path in K8S.rglob("kustomization.yaml"))


def patch_files(folder: Path) -> list[Path]:
    """The strategic-merge patch files a kustomization applies."""
    return [folder / patch["path"] for patch in kustomization(folder).get("patches", [])]


def resources(folder: Path) -> list[Manifest]:
    """Every resource a kustomization builds, following its bases (patches not applied)."""
    found: list[Manifest] = []
    for entry in kustomization(folder).get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            found.extend(resources(path))
        else:
            found.extend(Manifest(path, doc) for doc in documents(path))
    return found


def manifest_files() -> list[Path]:
    """Every complete manifest file: resources and the Secret template, not the patches."""
    patches = {patch.resolve() for folder in kustomizations() for patch in patch_files(folder)}
    return sorted(
        path
        for path in K8S.rglob("*.yaml")
        if path.name != "kustomization.yaml" and path.resolve() not in patches
    )


def build(folder: Path) -> list[dict[str, Any]]:
    """The manifests a kustomization renders, for the part of kustomize this layout uses.

    Resources (following bases), strategic-merge patches of maps and scalars, the namespace and
    image overrides; `kubectl kustomize`, where installed, is checked to render the same.
    """
    settings = kustomization(folder)
    built: list[dict[str, Any]] = []
    for entry in settings.get("resources", []):
        path = (folder / entry).resolve()
        built.extend(build(path) if path.is_dir() else copy.deepcopy(documents(path)))
    for patch_file in patch_files(folder):
        for patch in documents(patch_file):
            _merge(_find(built, patch["kind"], patch["metadata"]["name"]), patch)
    for document in built:
        if "namespace" in settings and document["kind"] != "Namespace":
            document["metadata"]["namespace"] = settings["namespace"]
        for container in pod_containers(document):
            for image in settings.get("images", []):
                if container["image"] == image["name"]:
                    container["image"] = f"{image['newName']}:{image['newTag']}"
    return built


def _find(built: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for document in built:
        if (document["kind"], document["metadata"]["name"]) == (kind, name):
            return document
    raise AssertionError(f"a patch targets {kind} {name}, which is not built")


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Merge a patch of maps and scalars (strategic merge would key lists by name: not here)."""
    for key, value in patch.items():
        assert not isinstance(value, list), f"patching the list {key} needs kubectl kustomize"
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def pod_containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of a workload's pod template (none for other kinds)."""
    template = document.get("spec", {}).get("template", {})
    containers: list[dict[str, Any]] = template.get("spec", {}).get("containers", [])
    return containers


def base_resource(kind: str, name: str) -> dict[str, Any]:
    """One resource of the base kustomization."""
    for manifest in resources(BASE):
        if (manifest.kind, manifest.name) == (kind, name):
            return manifest.document
    raise AssertionError(f"no {kind} {name} in {BASE}")
