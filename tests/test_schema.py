"""One scenario schema (kernel/schema.py) used by the loader, the devices, the writer, the Builder,
the importer and the README; the style-preserving writer: a Builder round trip of a file it did
not edit gives the file back byte for byte, and an edited file keeps what was not edited."""
import math
import re
import tomllib
from pathlib import Path

import pytest

from iommulab import Kernel, ScenarioError
from iommulab import scenario_file as sf
from iommulab.builder import MachineBuilder
from iommulab.hostimport import import_text
from iommulab.kernel import schema
from iommulab.kernel.scenario import SCENARIO_DIR, builtin_names, load_text

ROOT = Path(__file__).resolve().parent.parent


def text_of(name):
    return (SCENARIO_DIR / f"{name}.toml").read_text(encoding="utf-8")


# --- the README's table is the schema's ---------------------------------------------------------

def test_the_readme_key_table_is_generated_from_the_schema():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- generated from iommulab/kernel/schema.py[^\n]*-->\n(.*?)<!-- end of the generated table -->",
                  readme, re.S)
    assert m, "README.md has no generated scenario key table"
    assert m.group(1) == schema.readme_table(), \
        "README's key table differs from schema.readme_table(): paste its output between the markers"
    for _, keys in schema.SECTIONS:
        for k in keys:
            assert f"| `{k.name}` |" in m.group(1)


# --- the loader checks keys and types against it ------------------------------------------------

_WRONG = {str: 1, bool: "yes", int: "1", list: "x", dict: 1}
_WHERE = {"top level": ("", "top level"), "[kernel]": ("[kernel]\n", "[kernel]"), "[qemu]": ("[qemu]\n", "[qemu]"),
          "[[driver]]": ('[[driver]]\nname = "d"\n', "[[driver]] #1"),
          "[[device]]": ('[[device]]\nname = "0000:01:00.0"\n', "[[device]] #1"),
          "[expect]": ("[expect]\n", "[expect]")}


@pytest.mark.parametrize("section,key", [(s, k) for s, keys in schema.SECTIONS for k in keys])
def test_the_loader_refuses_a_value_of_another_type_than_the_schema_says(section, key):
    header, entry = _WHERE[section]
    if key.name == "name":
        header = header.replace('name = "d"\n', "").replace('name = "0000:01:00.0"\n', "")
    value = _WRONG[key.type]
    text = header + f"{key.name} = {sf.to_toml({'x': value}).split(' = ', 1)[1]}"
    with pytest.raises(ScenarioError) as e:
        load_text(text, "t.toml")
    assert e.value.entry.startswith(entry) and f"{key.name!r} must be" in e.value.problem


@pytest.mark.parametrize("section", [s for s, _ in schema.SECTIONS])
def test_the_loader_refuses_a_key_the_schema_lacks_and_lists_the_schema_keys(section):
    header, entry = _WHERE[section]
    with pytest.raises(ScenarioError) as e:
        load_text(header + "no_such_key = 1\n", "t.toml")
    keys = dict(schema.SECTIONS)[section]
    assert e.value.problem == f"unknown key 'no_such_key' (allowed: {', '.join(k.name for k in keys)})"


# --- the devices and drivers take their defaults from it ----------------------------------------

DEVICE_ATTRS = {"id": "id", "kind": "kind", "multifunction": "multifunction", "acs": "acs",
                "untrusted": "untrusted", "require_direct": "require_direct", "streamid": "streamid",
                "dma_alias": "dma_alias", "physfn": "physfn", "sriov_totalvfs": "sriov_totalvfs",
                "vf_id": "vf_id", "vf_offset": "vf_offset", "vf_stride": "vf_stride", "revision": "revision",
                "default_domain": "default_domain_support", "max_pasids": "max_pasids", "present": "present",
                "bus": None}
DRIVER_ATTRS = {"ids": "ids", "driver_managed_dma": "driver_managed_dma", "probe": "probe_rc",
                "suppress_bind_attrs": "suppress_bind_attrs", "sriov_configure": "sriov_configure", "bus": None}


def test_a_device_and_a_driver_that_say_nothing_get_the_schema_defaults():
    assert set(DEVICE_ATTRS) == set(schema.DEVICE_DEFAULTS) - {"name"}
    assert set(DRIVER_ATTRS) == set(schema.DRIVER_DEFAULTS) - {"name"}
    k = Kernel.from_toml('[[driver]]\nname = "d"\n[[device]]\nname = "0000:01:00.0"\n')
    d, drv = k.devices["0000:01:00.0"], k.drivers["d"]
    for key, attr in DEVICE_ATTRS.items():
        want = schema.DEVICE_DEFAULTS[key]
        got = d.bus.name if attr is None else getattr(d, attr)
        assert got == (tuple(want) if isinstance(want, tuple) else want), key
    for key, attr in DRIVER_ATTRS.items():
        want = schema.DRIVER_DEFAULTS[key]
        got = drv.bus.name if attr is None else getattr(drv, attr)
        assert got == (tuple(want) if isinstance(want, tuple) else want), key
    assert schema.DEVICE_DEFAULTS["max_pasids"] == 1 << 20 and schema.DEVICE_DEFAULTS["vf_offset"] == 16


def test_the_loader_takes_its_kernel_and_qemu_defaults_from_the_schema():
    s = load_text("", "t.toml")
    assert s["kernel"]["version_text"] == schema.KERNEL_DEFAULTS["version"]
    assert s["kernel"]["arch"] == "x86_64" and s["kernel"]["cmdline"] == "" and s["kernel"]["msi_isolation"] is True
    assert s["qemu"]["version_text"] == schema.QEMU_NEWEST


# --- the plain writer ------------------------------------------------------------------------------

def test_the_plain_writer_writes_hex_keys_in_hex_floats_and_multiline_strings():
    doc = {"title": "t", "description": "two\nlines with \"quotes\", a \\ and a tab\t\x01\n",
           "kernel": {"version": "6.6"},
           "device": [{"name": "ethernet@ff0c0000", "bus": "platform", "streamid": 0x877},
                      {"name": "0000:01:00.0", "class": 0x030000, "revision": 0xa1}]}
    text = sf.to_toml(doc)
    assert "streamid = 0x877\n" in text and "class = 0x030000\n" in text and "revision = 0xa1\n" in text
    assert 'description = """\ntwo\nlines' in text
    assert tomllib.loads(text) == doc
    floats = tomllib.loads(sf.to_toml({"expect": {"a": 1.5, "b": 1e-5, "c": 1e16, "d": float("inf")}}))["expect"]
    assert floats == {"a": 1.5, "b": 1e-5, "c": 1e16, "d": float("inf")}
    assert math.isnan(tomllib.loads(sf.to_toml({"expect": {"n": float("nan")}}))["expect"]["n"])


def test_the_importer_writes_class_and_revision_in_hex():
    text = import_text("IOMMU Group 1 01:00.0 VGA compatible controller [0300]: NVIDIA Corporation "
                       "GA102 [GeForce RTX 3090] [10de:2204] (rev a1)\n")
    assert "class = 0x030000\n" in text and "revision = 0xa1\n" in text
    assert Kernel.from_toml(text).devices["0000:01:00.0"].class_code == 0x030000


# --- the Builder's round trip --------------------------------------------------------------------

@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "sriov-2000" else n
                                  for n in builtin_names()])
def test_a_builder_round_trip_of_every_library_scenario_is_byte_for_byte(name, tmp_path):
    b = MachineBuilder.from_scenario(name)
    assert b.to_toml() == text_of(name)
    out = b.export(tmp_path / f"{name}.toml")
    assert Path(out).read_bytes() == (SCENARIO_DIR / f"{name}.toml").read_bytes()
    doc = sf.parse(text_of(name))
    sf.tidy(doc)                          # the layout rule leaves a library file as it is
    assert sf.to_toml(doc) == text_of(name)


@pytest.mark.parametrize("name", ["desktop-gpu", "arm-soc-streamid", "seed-001"])
def test_the_builder_widget_exports_a_library_scenario_unchanged(name, tmp_path):
    from iommulab import Builder
    w = Builder(name)
    assert w.machine.to_toml() == text_of(name)
    path = tmp_path / "out.toml"
    w.export(path)
    assert path.read_text(encoding="utf-8") == text_of(name)


def test_an_edit_keeps_comments_hex_and_the_multiline_description():
    b = MachineBuilder.from_scenario("arm-soc-streamid")
    b.set("ff1a0000.serial", streamid="0x877")
    text, before = b.to_toml(), text_of("arm-soc-streamid")
    # everything up to the edited table is as it was: comments, the multi-line description, hex
    head = before[:before.index('[[device]]\nname = "ff1a0000.serial"')]
    assert text.startswith(head) and "# vfio-platform refuses a device it cannot reset" in text
    assert 'name = "ff1a0000.serial"\nbus = "platform"\nid = "snps,dw-apb-uart"\nstreamid = 0x877\n' in text
    assert "[expect]" not in text            # it described the machine before the edit
    assert text.endswith('streamid = 0x877\n') and not text.endswith("\n\n")
    assert len(b.kernel.iommu_groups) == 1 and load_text(text)["description"] == load_text(before)["description"]


def test_setting_an_existing_key_keeps_its_place_and_its_comment():
    text = text_of("desktop-gpu").replace("acs = false\nclass = 0x030000", "acs = false   # no ACS\nclass = 0x030000")
    doc = sf.parse(text)
    sf.set_key(doc["device"][2], "acs", True)
    assert "acs = true   # no ACS\nclass = 0x030000" in sf.to_toml(doc)


def test_added_parts_are_written_like_the_files_entries():
    b = MachineBuilder.from_scenario("desktop-gpu")
    names = b.add("nvme", parent=None)
    text = b.to_toml()
    before = text_of("desktop-gpu")
    assert text.startswith(before[:before.index("\n[[driver]]\nname = \"snd_hda_intel\"")])
    assert ('[[driver]]\nname = "e1000e"\nids = ["8086:15b8"]\n\n[[driver]]\nname = "nvme"\nids = ["144d:a808"]\n\n'
            '[[device]]\nname = "0000:00:00.0"\n') in text          # a new driver goes with the drivers
    assert text.endswith(f'class = 0x020000\n\n[[device]]\nname = "{names[0]}"\nid = "144d:a808"\nclass = 0x010802\n'
                         'device_name = "NVMe SSD Controller SM981/PM981/PM983"\n')
    assert "\n\n\n" not in text


def test_a_machine_built_from_nothing_reads_as_the_plain_writer_writes_it():
    b = MachineBuilder()
    port = b.add("root-port")[0]
    b.set(port, acs=False)
    sw = b.add("switch", parent=port)
    b.add("gpu", parent=sw[1])
    b.add("eth-dma-pair", streamid="0x877")
    b.remove(sw[2])
    assert b.to_toml() == sf.to_toml(sf.plain(b.doc))
    assert "streamid = 0x877" in b.to_toml() and "class = 0x030000" in b.to_toml()
    b.remove(port)
    b.remove(b.devices[0]["name"])
    b.remove(b.devices[0]["name"])
    assert b.devices == [] and b.to_toml() == sf.to_toml(sf.plain(b.doc))


@pytest.mark.parametrize("start", ['[[device]]\nname = "0000:00:01.0"', '[[device]]\nname = "0000:00:01.0"\n',
                                   'title = "x"', 'title = "x"\n\n[kernel]\nversion = "6.6"\n', ""])
def test_appended_tables_are_laid_out_as_the_plain_writer_lays_them_out(start):
    doc = sf.parse(start)
    sf.append_table(doc, "device", {"name": "0000:00:02.0", "class": 0x030000})
    sf.append_table(doc, "driver", {"name": "x", "ids": ["10de:2204"]})
    sf.append_table(doc, "device", {"name": "0000:00:03.0", "streamid": 0x877})
    assert sf.to_toml(doc) == sf.to_toml(sf.plain(doc))
    sf.remove_tables(doc, "device", lambda t: t["name"] == "0000:00:03.0")
    assert sf.to_toml(doc) == sf.to_toml(sf.plain(doc))


def test_a_sub_table_keeps_its_place_when_tables_are_added():
    text = ('title = "x"\n\n[kernel]\nversion = "6.6"\n\n[kernel.config]\nCONFIG_IOMMUFD = true\n\n'
            '[[device]]\nname = "0000:00:01.0"\n')
    doc = sf.parse(text)
    sf.tidy(doc)
    assert sf.to_toml(doc) == text
    sf.append_table(doc, "device", {"name": "0000:00:02.0"})
    sf.append_table(doc, "driver", {"name": "x"})
    assert sf.to_toml(doc) == ('title = "x"\n\n[kernel]\nversion = "6.6"\n\n[kernel.config]\nCONFIG_IOMMUFD = true\n\n'
                               '[[driver]]\nname = "x"\n\n[[device]]\nname = "0000:00:01.0"\n\n'
                               '[[device]]\nname = "0000:00:02.0"\n')
    assert load_text(sf.to_toml(doc))["kernel"]["config"]["CONFIG_IOMMUFD"] is True
