"""One PCI address parser and one list of device kinds (kernel/pcidev.py) that the loader, the
Builder, the host importer and lspci share; no import cycle anywhere in the package, function-
local imports included; the kernel reaches the shell only through the top package's runner."""
import ast
import os
import subprocess
import sys

import pytest

from conftest import dev, make
from iommulab import ScenarioError
from iommulab.hostimport import normalize
from iommulab.kernel import BRIDGE_KINDS, DEVICE_KINDS, PORT_KINDS
from iommulab.kernel.pcidev import bdf_fields, bdf_name, parse_bdf, parse_lspci_address

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "iommulab")


@pytest.mark.parametrize("name,fields", [
    ("0000:01:00.1", (0, 1, 0, 1)), ("0000:ff:1f.7", (0, 255, 31, 7)), ("0001:0a:03.0", (1, 10, 3, 0)),
    ("0000:01:20.0", None), ("0000:01:00.8", None), ("0000:0A:00.0", None), ("01:00.0", None),
    ("0000:01:00", None), ("0000:01:00.0 ", None), (None, None)])
def test_parse_bdf_takes_exactly_the_names_the_kernel_gives(name, fields):
    assert parse_bdf(name) == fields
    if fields:
        assert bdf_name(*fields) == name


@pytest.mark.parametrize("name", ["0000:01:00.1", "0000:01:20.0", "0000:01:00.8", "0000:0A:00.0", "01:00.0"])
def test_the_loader_accepts_what_parse_bdf_accepts(name):
    if parse_bdf(name) is None:
        with pytest.raises(ScenarioError, match="is not a PCI address"):
            make("6.6", devices=[dev(name)])
    else:
        assert name in make("6.6", devices=[dev("0000:01:00.0"), dev(name)]).devices


def test_lspci_addresses_and_shapes():
    assert parse_lspci_address("01:00.0") == (0, 1, 0, 0)
    assert parse_lspci_address("0000:0A:1F.7") == (0, 10, 31, 7)
    assert parse_lspci_address("01:00.8") is None
    assert normalize("0A:00.1") == ("0000:0a:00.1", "pci")
    assert normalize("dprc.1") == ("dprc.1", "fsl-mc")
    assert bdf_fields("0000:01:00.8") == (0, 1, 0, 8)           # the Builder says what is wrong
    assert bdf_fields("0000:0A:00.0") is None


def test_one_list_of_kinds():
    assert DEVICE_KINDS == ("endpoint", "conventional") + BRIDGE_KINDS
    assert set(PORT_KINDS) < set(BRIDGE_KINDS)
    with pytest.raises(ScenarioError, match="known: " + ", ".join(DEVICE_KINDS)):
        make("6.6", devices=[dev("0000:01:00.0", kind="switch")])


def _imports(path, module):
    """(target module, at module level?) for every intra-package import in a file."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    is_pkg = path.endswith("__init__.py")
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    out = []

    def visit(node, local):
        for c in ast.iter_child_nodes(node):
            if isinstance(c, ast.ImportFrom) and c.level:
                stem = ".".join(base[:len(base) - c.level + 1] + ([c.module] if c.module else []))
                out.extend(((f"{stem}.{a.name}" if not c.module else stem), local) for a in c.names)
                if not c.module:
                    continue
            visit(c, local or isinstance(c, (ast.FunctionDef, ast.Lambda)))
    visit(tree, False)
    return out


def _modules():
    mods = {}
    for d, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, f), ROOT)[:-3].replace(os.sep, ".")
                mods[rel.removesuffix(".__init__")] = os.path.join(d, f)
    return mods


def test_no_import_cycle_even_through_function_local_imports():
    mods = _modules()
    graph = {m: {t for t, _ in _imports(p, m) if t in mods and t != m} for m, p in mods.items()}
    state = {}

    def dfs(m, path):
        state[m] = "open"
        for t in graph[m]:
            if state.get(t) == "open":
                return path[path.index(t):] + [t]
            if t not in state:
                found = dfs(t, path + [t])
                if found:
                    return found
        state[m] = "done"
        return None
    for m in sorted(mods):
        if m not in state:
            cycle = dfs(m, [m])
            assert cycle is None, " -> ".join(cycle)


def test_the_kernel_imports_nothing_above_it_not_even_inside_functions():
    mods = _modules()
    for m, p in mods.items():
        if m.startswith("iommulab.kernel"):
            above = [t for t, _ in _imports(p, m) if not t.startswith("iommulab.kernel")]
            assert above == [], (m, above)


def test_k_sh_runs_the_shell_without_the_kernel_importing_it():
    code = ("import sys\nfrom iommulab.kernel.kernel import Kernel\n"
            "k = Kernel.from_scenario('desktop-gpu')\n"
            "print('iommulab.shell' in sys.modules)\n"
            "r = k.sh('echo hi; cat /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts')\n"
            "print(repr(r.stdout), 'iommulab.shell' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.splitlines() == ["False", "'hi\\nN\\n' True"]
