"""The markers: `browser` and `slow` are registered (pytest runs with --strict-markers) and the
browser test skips, saying why, where Debian's Chromium is missing, but fails under CI=true."""
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_browser_and_slow_are_registered_and_the_browser_test_carries_both():
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert {m.split(":")[0] for m in ini["markers"]} >= {"browser", "slow"} and "--strict-markers" in ini["addopts"]
    import test_browser
    assert {m.name for m in test_browser.pytestmark} == {"browser", "slow"}


def run_browser_test(tmp_path, ci):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(tmp_path)                     # no chromium on it
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsE",
                           str(ROOT / "tests" / "test_browser.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def browser_tests():
    import test_browser
    return sum(1 for name in dir(test_browser) if name.startswith("test_"))


def test_the_browser_test_skips_with_its_reason_where_chromium_is_missing(tmp_path):
    r = run_browser_test(tmp_path, ci=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{browser_tests()} skipped" in r.stdout and "Debian's chromium is not on PATH" in r.stdout


def test_the_browser_test_is_required_under_ci(tmp_path):
    r = run_browser_test(tmp_path, ci=True)
    assert r.returncode != 0 and f"{browser_tests()} error" in r.stdout, r.stdout + r.stderr
    assert "the browser test is required under CI=true: Debian's chromium is not on PATH" in r.stdout
