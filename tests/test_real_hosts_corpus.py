"""Every publicly posted listing in tests/data/real-hosts/ (the shared ground truth's copy) and
tests/data/corpus/ (our own, issue 17) — NAME.txt with NAME.expected.json — imports to
the groups, IDs, class codes and drivers a person reads in it. Listings the importer cannot read yet
are strict xfails naming what they trip on, so a fix shows up as an XPASS failure to be un-marked."""
import json
from pathlib import Path

import pytest

from iommulab import Kernel
from iommulab.hostimport import import_text

DATA = Path(__file__).resolve().parent / "data"
DIRS = (DATA / "real-hosts", DATA / "corpus")


def path(name, suffix):
    return next((d / f"{name}{suffix}" for d in DIRS if (d / f"{name}{suffix}").exists()), DIRS[-1] / f"{name}{suffix}")

# What the importer trips on today (issue 17); remove an entry when PARSER's fix makes it pass.
KNOWN_FAILURES: dict[str, str] = {
    # "name": "what the importer trips on (the line or feature)",
}


def listing_names():
    return sorted(p.name[:-len(".expected.json")] for d in DIRS for p in d.glob("*.expected.json")
                  if (d / (p.name[:-len(".expected.json")] + ".txt")).exists())


def params():
    for name in listing_names():
        marks = ([pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[name])]
                 if name in KNOWN_FAILURES else [])
        yield pytest.param(name, marks=marks, id=name)


def test_the_corpus_holds_at_least_twelve_listings():
    assert len(listing_names()) >= 12
    assert sorted(p.stem for d in DIRS for p in d.glob("*.txt")) == listing_names()   # each has its expectations


@pytest.mark.parametrize("name", list(params()))
def test_listing_imports_to_what_a_person_reads(name):
    expected = json.loads(path(name, ".expected.json").read_text(encoding="utf-8"))
    text = path(name, ".txt").read_text(encoding="utf-8")
    k = Kernel.from_toml(import_text(text, f"{name}.txt"))
    got = {str(n): sorted(d.name for d in g.devices) for n, g in k.iommu_groups.items()}
    assert got == {g: sorted(m) for g, m in expected["groups"].items()}
    for dev, facts in expected.get("devices", {}).items():
        d = k.devices[dev]
        if "id" in facts:
            assert d.id == facts["id"], dev
        if "class" in facts:
            assert f"{d.class_code >> 8:04x}" == facts["class"], dev
        if "driver" in facts:
            assert (d.driver.name if d.driver else None) == facts["driver"], dev
