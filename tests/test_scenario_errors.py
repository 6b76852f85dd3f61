"""Bad scenario files raise one ScenarioError naming the file, the entry and the problem, and
nothing boots (../shared/spec/api.md §1)."""
import pytest

from iommulab import Kernel, ScenarioError

OK_DEVICE = '[[device]]\nname = "0000:01:00.0"\ngroup = 1\n'

BAD = [
    ("unknown top-level key", 'titel = "x"\n', "top level", "unknown key 'titel'"),
    ("unknown device key", '[[device]]\nname = "0000:01:00.0"\nacs_enabled = true\n',
     "(0000:01:00.0)", "unknown key 'acs_enabled'"),
    ("wrong type", '[[device]]\nname = "0000:01:00.0"\ngroup = "one"\n', "[[device]] #1", "'group' must be an integer"),
    ("bool is not an integer", '[[device]]\nname = "0000:01:00.0"\ngroup = true\n', "[[device]] #1", "'group' must be an integer"),
    ("device in two groups", OK_DEVICE + '[[device]]\nname = "0000:01:00.0"\ngroup = 2\n',
     "[[device]] #2 (0000:01:00.0)", "a device in two groups (1 and 2)"),
    ("device listed twice", OK_DEVICE + OK_DEVICE, "[[device]] #2", "a device listed twice"),
    ("unknown driver", '[[device]]\nname = "0000:01:00.0"\ndriver = "nouveau"\n', "(0000:01:00.0)", "unknown driver 'nouveau'"),
    ("malformed PCI address", '[[device]]\nname = "01:00.0"\n', "[[device]] #1 (01:00.0)", "is not a PCI address"),
    ("function 8", '[[device]]\nname = "0000:01:00.8"\n', "(0000:01:00.8)", "is not a PCI address"),
    ("upper-case hex", '[[device]]\nname = "0000:0A:00.0"\n', "(0000:0A:00.0)", "is not a PCI address"),
    ("bad version", '[kernel]\nversion = "six"\n', "[kernel]", "is not \"X.Y\""),
    ("too old", '[kernel]\nversion = "5.10"\n', "[kernel]", "older than 5.18"),
    ("unknown Kconfig", '[kernel]\nconfig = { CONFIG_FOO = true }\n', "[kernel]", "unknown Kconfig symbol 'CONFIG_FOO'"),
    ("cdev before 6.6", '[kernel]\nversion = "6.4"\nconfig = { CONFIG_VFIO_DEVICE_CDEV = true }\n', "[kernel]", "before 6.6"),
    ("iommufd before 6.2", '[kernel]\nversion = "6.1"\nconfig = { CONFIG_IOMMUFD = true }\n', "[kernel]", "before 6.2"),
    ("unknown bus", '[[device]]\nname = "x"\nbus = "pcie"\n', "[[device]] #1 (x)", "unknown bus 'pcie'"),
    ("driver on the wrong bus", '[[driver]]\nname = "eth"\nbus = "platform"\n[[device]]\nname = "0000:01:00.0"\ndriver = "eth"\n',
     "(0000:01:00.0)", "is a platform driver, but this is a pci device"),
    ("redefined built-in driver", '[[driver]]\nname = "vfio-pci"\n', "[[driver]] #1 (vfio-pci)", "built-in driver"),
    ("duplicate driver", '[[driver]]\nname = "a"\n[[driver]]\nname = "a"\n', "[[driver]] #2 (a)", "defined twice"),
    ("bad PCI id pattern", '[[driver]]\nname = "a"\nids = ["10de-2204"]\n', "[[driver]] #1 (a)", "is not \"vendor:device\""),
    ("positive probe", '[[driver]]\nname = "a"\nprobe = 5\n', "[[driver]] #1 (a)", "negative errno"),
    ("unknown parent", '[[device]]\nname = "0000:01:00.0"\nparent = "0000:00:01.0"\n', "(0000:01:00.0)", "parent '0000:00:01.0' is not a device"),
    ("endpoint as parent", '[[device]]\nname = "0000:00:02.0"\n[[device]]\nname = "0000:01:00.0"\nparent = "0000:00:02.0"\n',
     "[[device]] #2", "is an endpoint, not a bridge"),
    ("unknown kind", '[[device]]\nname = "0000:01:00.0"\nkind = "switch"\n', "(0000:01:00.0)", "unknown kind 'switch'"),
    ("negative group", '[[device]]\nname = "0000:01:00.0"\ngroup = -1\n', "(0000:01:00.0)", "must not be negative"),
    ("unknown arch", '[kernel]\narch = "mips"\n', "[kernel]", "arch 'mips' is not one of x86_64, arm64"),
    ("unknown IOMMU driver", '[kernel]\niommu_driver = "dart"\n', "[kernel]", "iommu_driver 'dart' is not one of"),
    ("IOMMU of another arch", '[kernel]\narch = "arm64"\niommu_driver = "amd"\n', "[kernel]",
     "'amd' is an x86_64 IOMMU, not one an arm64 machine has"),
    ("bad QEMU version", '[qemu]\nversion = "ten"\n', "[qemu]", "is not \"X.Y\" or \"X.Y.Z\""),
    ("QEMU too old", '[qemu]\nversion = "6.2"\n', "[qemu]", "older than 7.0"),
    ("bad cmdline ids", '[kernel]\ncmdline = "vfio-pci.ids=10de:zzzz"\n', "[kernel] cmdline", "'10de:zzzz'"),
    ("TOML syntax", '[kernel\nversion = "6.6"\n', "TOML syntax", "line 1"),
    ("device without a name", '[[device]]\nbus = "pci"\n', "[[device]] #1", "needs a 'name'"),
]


@pytest.mark.parametrize("what,text,entry,problem", BAD, ids=[b[0] for b in BAD])
def test_bad_scenario_text(what, text, entry, problem):
    with pytest.raises(ScenarioError) as exc:
        Kernel.from_toml(text, "bad.toml")
    msg = str(exc.value)
    assert msg.startswith("bad.toml: "), msg
    assert entry in msg, msg
    assert problem in msg, msg


def test_bad_file_is_named(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('[[device]]\nname = "0000:01:00.0"\nfoo = 1\n')
    with pytest.raises(ScenarioError, match=r"mine\.toml: \[\[device\]\] #1 \(0000:01:00\.0\): unknown key 'foo'"):
        Kernel.from_scenario(str(f))


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(ScenarioError, match="No such file"):
        Kernel.from_scenario(str(tmp_path / "nope.toml"))
    with pytest.raises(ScenarioError, match="no such file or built-in scenario"):
        Kernel.from_scenario("no-such-scenario")


def test_binary_file(tmp_path):
    f = tmp_path / "bin.toml"
    f.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(ScenarioError, match="bin.toml"):
        Kernel.from_scenario(str(f))


def test_scenario_error_is_a_value_error_with_parts():
    with pytest.raises(ValueError) as exc:
        Kernel.from_toml('titel = "x"', "t.toml")
    assert (exc.value.source, exc.value.entry) == ("t.toml", "top level")
