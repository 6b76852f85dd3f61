"""The layers' seams (ARCHITECTURE.md): views and widgets read only the public surface of the kernel
and the shell, and the public surface of ../shared/spec/api.md carries type hints (mypy checks them,
scripts/test.sh runs it). The public modules are the ones pyproject.toml's import-linter contract
allows; these tests read that list, so there is one list."""
import ast
import inspect
import tomllib
from pathlib import Path

import pytest

from iommulab.kernel import iommu, rfc2021
from iommulab.kernel.kernel import Kernel
from iommulab.kernel.process import Process
from iommulab.kernel.scenario import ScenarioError

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("viz", "widgets", "course")
CONTRACT = "Views and widgets use only the public surface of the kernel and the shell"


def public_modules():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in cfg["contracts"] if c["name"] == CONTRACT)
    assert set(contract["source_modules"]) == {f"iommulab.{layer}" for layer in LAYERS}
    return {"iommulab.kernel", "iommulab.shell"} | {e.split("->")[1].strip() for e in contract["ignore_imports"]}


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path, text):
    """(line, module, names) for every import in a file, relative imports resolved; a name that is
    a submodule (`from ..shell import lines`) is reported as that module."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            for a in node.names:
                sub = ROOT.joinpath(*module.split("."), a.name)
                if sub.with_suffix(".py").exists() or (sub / "__init__.py").exists():
                    yield node.lineno, f"{module}.{a.name}", ()
                else:
                    yield node.lineno, module, (a.name,)


def private_modules_imported(path, text, public):
    return [f"{line}: {mod}" for line, mod, _ in imports(path, text)
            if mod.startswith(("iommulab.kernel.", "iommulab.shell.")) and mod not in public]


def private_names_imported(path, text):
    """`from <another layer> import _name`."""
    layer = module_name(path).split(".")[:2]
    return [f"{line}: {mod}.{n}" for line, mod, names in imports(path, text) if mod.split(".")[:2] != layer
            for n in names if n.startswith("_")]


def private_attributes_read(text):
    """`obj._field` on anything but the view's own self (or super(): its own inherited method): a
    model internal (k._x, dev._y, ev._z)."""
    def own(v):
        return (isinstance(v, ast.Name) and v.id in ("self", "cls")) or (
            isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "super")
    return [f"{node.lineno}: .{node.attr}" for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
            and not own(node.value)]


def view_files():
    files = [p for layer in LAYERS for p in sorted((ROOT / "iommulab" / layer).glob("*.py"))]
    assert len(files) > 5
    return files


def test_views_and_widgets_import_only_the_public_modules_of_the_kernel_and_the_shell():
    public = public_modules()
    assert {f"{p.relative_to(ROOT)}:{fault}" for p in view_files()
            for fault in private_modules_imported(p, p.read_text(), public)} == set()


def test_views_and_widgets_import_no_private_name_from_another_layer():
    assert {f"{p.relative_to(ROOT)}:{fault}" for p in view_files()
            for fault in private_names_imported(p, p.read_text())} == set()


def test_views_and_widgets_read_no_private_attribute():
    assert {f"{p.relative_to(ROOT)}:{fault}" for p in view_files()
            for fault in private_attributes_read(p.read_text())} == set()


def test_the_checks_find_a_view_that_reaches_into_the_model():
    path = ROOT / "iommulab" / "viz" / "model.py"
    text = ("from ..kernel.dd import really_probe\nfrom ..kernel.kernel import _STATE_KEYS\n"
            "from ..shell import lines\nfrom .graph import _owner_text\nx = k._crash_text() + self._own\n")
    assert private_modules_imported(path, text, public_modules()) == ["1: iommulab.kernel.dd"]
    assert private_names_imported(path, text) == ["2: iommulab.kernel.kernel._STATE_KEYS"]
    assert private_attributes_read(text) == ["5: ._crash_text"]


# api.md's names: §1 booting, §2-§3 state and the file view, §4 the shell, §5 processes, §6 the
# kernel's functions (and the 2021 design's), and the scenario error.
API = ([getattr(Kernel, n) for n in ("from_scenario", "from_toml", "write", "read", "listdir", "readlink", "sh",
                                     "spawn", "state", "snapshot", "restore", "dmesg")]
       + [getattr(Process, n) for n in ("open", "ioctl", "close", "exit")]
       + [getattr(iommu, n) for n in (
           "iommu_device_use_default_domain", "iommu_device_unuse_default_domain", "iommu_group_claim_dma_owner",
           "iommu_group_release_dma_owner", "iommu_device_claim_dma_owner", "iommu_device_release_dma_owner",
           "iommu_group_dma_owner_claimed", "iommu_attach_group", "iommu_detach_group", "iommu_attach_device",
           "iommu_detach_device", "iommu_paging_domain_alloc", "iommu_attach_device_pasid",
           "iommu_detach_device_pasid")]
       + [rfc2021.iommu_device_set_dma_owner, rfc2021.iommu_device_release_dma_owner, ScenarioError.__init__])


@pytest.mark.parametrize("fn", API, ids=lambda f: f.__qualname__)
def test_the_public_surface_carries_type_hints(fn):
    sig = inspect.signature(fn)                      # follows @traced's __wrapped__ to the kernel function
    missing = [n for n, p in sig.parameters.items()
               if n not in ("self", "cls") and p.annotation is inspect.Parameter.empty]
    assert missing == [] and sig.return_annotation is not inspect.Signature.empty, (missing, sig)
