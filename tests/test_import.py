"""`import iommulab` imports no third-party module (its speed is measured by bench/kernel.py)."""
import subprocess
import sys

CODE = r"""
import sys, time
before = set(sys.modules)
t = time.perf_counter()
import iommulab
from iommulab import Kernel
k = Kernel.from_toml('[[device]]\nname = "0000:01:00.0"\n')
elapsed = time.perf_counter() - t
import sysconfig, os
stdlib = sysconfig.get_paths()["stdlib"]
third = []
for name in set(sys.modules) - before:
    mod = sys.modules[name]
    f = getattr(mod, "__file__", None) or ""
    top = name.split(".")[0]
    if top == "iommulab" or not f or f.startswith(stdlib) and "site-packages" not in f:
        continue
    third.append(name)
print(repr((sorted(third), elapsed)))
"""


def test_import_is_stdlib_only():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True,
                         cwd=__file__.rsplit("/tests/", 1)[0])
    third, _elapsed = eval(out.stdout.strip().splitlines()[-1])
    assert third == []


def test_plain_import_loads_no_kernel_yet():
    out = subprocess.run([sys.executable, "-c", "import sys, iommulab; print('iommulab.kernel' in sys.modules)"],
                         capture_output=True, text=True, check=True, cwd=__file__.rsplit("/tests/", 1)[0])
    assert out.stdout.strip() == "False"
