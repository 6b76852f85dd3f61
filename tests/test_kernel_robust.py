"""Issue 19, the kernel model and the scenario loader: numbers written to sysfs are read as
lib/kstrtox.c and lib/vsprintf.c's vsscanf() read them, iommufd object IDs come back as the
xarray allocator gives them, and hostile scenario files get one clear ScenarioError.

Each test states what Linux does (the function is named) and fails on the model before the fix.
"""
import errno

import pytest

from conftest import dev, errno_of, make
from iommulab import Kernel, ScenarioError

NEW_ID = "/sys/bus/pci/drivers/vfio-pci/new_id"
REMOVE_ID = "/sys/bus/pci/drivers/vfio-pci/remove_id"


def gpu():
    """A GPU (10de:2204) and its audio function (10de:1aef), no driver bound."""
    return make("6.6", devices=[dev("0000:01:00.0", id="10de:2204", group=1, **{"class": 0x030000}),
                                dev("0000:01:00.1", id="10de:1aef", group=1, **{"class": 0x040300})])


def bound(k, name):
    d = k.devices[name].driver
    return d.name if d is not None else None


# --- new_id / remove_id: sscanf(buf, "%x %x %x %x %x %x %lx") (new_id_store(), pci-driver.c) ------

def test_new_id_minus_one_converts_nothing_and_is_refused():
    """vsscanf()'s %x is unsigned (is_sign false): "-1" is not a hex digit, so no field converts
    and new_id_store() answers -EINVAL. PCI_ANY_ID is written ffffffff, and matches every device."""
    k = gpu()
    assert errno_of(k.write, NEW_ID, "-1 -1") == errno.EINVAL
    assert k.drivers["vfio-pci"].dynids == []
    assert bound(k, "0000:01:00.0") is None
    k.write(NEW_ID, "ffffffff ffffffff")
    assert (bound(k, "0000:01:00.0"), bound(k, "0000:01:00.1")) == ("vfio-pci", "vfio-pci")


def test_new_id_takes_no_python_number_syntax():
    """simple_strtoul() stops at the first character that is not a hex digit: "1_0 2204" converts
    one field ("1"), so -EINVAL; Python's int("1_0", 16) would have read 16."""
    k = gpu()
    for text in ("1_0 2204", "10de_ 2204", "١٠de 2204", "+10de 2204"):
        assert errno_of(k.write, NEW_ID, text) == errno.EINVAL, text
    assert k.drivers["vfio-pci"].dynids == []


def test_new_id_ignores_what_follows_the_fields_it_converted():
    """vsscanf() returns at the first mismatch with what it converted: "10de 2204 junk" is two
    fields (vendor and device), which is all new_id_store() needs; "0x10de 0x2204" has prefixes
    simple_strtoul() skips."""
    k = gpu()
    k.write(NEW_ID, "10de 2204 junk")
    assert bound(k, "0000:01:00.0") == "vfio-pci"
    k.write(NEW_ID, "0x10de\t0X1aef\n")
    assert bound(k, "0000:01:00.1") == "vfio-pci"


def test_new_id_with_driver_data_must_match_an_id_table_entry():
    """All seven fields: no -EEXIST check, and with a static id table the driver_data must be an
    entry's (vfio_pci_table's one entry has 0); pci-stub has no id table (NULL), so any goes."""
    k = gpu()
    assert errno_of(k.write, NEW_ID, "10de 2204 ffffffff ffffffff 0 0 1") == errno.EINVAL
    assert k.drivers["vfio-pci"].dynids == []
    k.write("/sys/bus/pci/drivers/pci-stub/new_id", "10de 2204 ffffffff ffffffff 0 0 1")
    assert bound(k, "0000:01:00.0") == "pci-stub"


def test_remove_id_ignores_text_after_its_six_fields():
    """remove_id_store()'s sscanf() has six conversions; anything after them is not read."""
    k = gpu()
    k.write(NEW_ID, "10de 2204")
    k.write(REMOVE_ID, "10de 2204 ffffffff ffffffff 0 0 trailing words")
    assert k.drivers["vfio-pci"].dynids == []


def test_ids_parameter_is_read_with_sscanf():
    """vfio_pci_fill_ids(): sscanf(id, "%x:%x:%x:%x:%x:%x"), at least two fields. "10de:2204:"
    is two fields and fine; "-1:-1" converts nothing (the scenario refuses the cmdline)."""
    k = make("6.6", devices=[dev("0000:01:00.0", id="10de:2204", group=1)],
             cmdline="vfio-pci.ids=10de:2204:")
    assert bound(k, "0000:01:00.0") == "vfio-pci"
    with pytest.raises(ScenarioError, match=r"\[kernel\] cmdline.*'-1:-1'"):
        make("6.6", devices=[dev("0000:01:00.0", id="10de:2204", group=1)], cmdline="vfio-pci.ids=-1:-1")


# --- driver_override: driver_set_override() (drivers/base/driver.c) ------------------------------

OVERRIDE = "/sys/bus/pci/devices/0000:01:00.0/driver_override"


def test_driver_override_limit_counts_bytes():
    """`if (len >= (PAGE_SIZE - 1)) return -EINVAL;` with len the bytes written: 4095 bytes are
    too many, 4094 fit; 2047 two-byte characters and an "x" are 4095 bytes (2048 characters)."""
    k = gpu()
    assert errno_of(k.write, OVERRIDE, "é" * 2047 + "x") == errno.EINVAL
    assert errno_of(k.write, OVERRIDE, "x" * 4095) == errno.EINVAL
    assert k.read(OVERRIDE) == "(null)\n"
    k.write(OVERRIDE, "é" * 2047)
    assert k.read(OVERRIDE) == "é" * 2047 + "\n"
    k.write(OVERRIDE, "x" * 4094)
    assert k.read(OVERRIDE) == "x" * 4094 + "\n"


def test_driver_override_ends_at_a_nul():
    """strlen() of the written buffer: Python's write of "vfio-pci\\0..." sets "vfio-pci"."""
    k = gpu()
    k.write(OVERRIDE, "vfio-pci\0junk")
    assert k.read(OVERRIDE) == "vfio-pci\n"
    k.write(OVERRIDE, "\0")
    assert k.read(OVERRIDE) == "(null)\n"


# --- lib/kstrtox.c ---------------------------------------------------------------------------------

def test_kstrtoull_overflow_is_erange_before_trailing_junk():
    """_kstrtoull() tests KSTRTOX_OVERFLOW before it looks past the digits."""
    from iommulab.kernel.kstrtox import kstrtoull
    assert kstrtoull("99999999999999999999x") == (-errno.ERANGE, None)
    assert kstrtoull("1x") == (-errno.EINVAL, None)


@pytest.mark.parametrize("fn,text,want", [
    ("kstrtou16", "65535", (0, 65535)), ("kstrtou16", "0x10000", (-errno.ERANGE, None)),
    ("kstrtou16", "-0", (-errno.EINVAL, None)), ("kstrtouint", "037777777777", (0, (1 << 32) - 1)),
    ("kstrtoint", "-2147483648", (0, -(1 << 31))), ("kstrtoint", "2147483648", (-errno.ERANGE, None)),
    ("kstrtoint", "-0x10\n", (0, -16)), ("kstrtoint", "--1", (-errno.EINVAL, None)),
    ("kstrtoint", "+-1", (-errno.EINVAL, None))])
def test_sized_and_signed_variants(fn, text, want):
    """kstrtou16()/kstrtouint() refuse a sign and anything beyond their type (-ERANGE); the signed
    kstrtoint() takes one '-' and the range of an int."""
    from iommulab.kernel import kstrtox
    assert getattr(kstrtox, fn)(text) == want


# --- iommufd object IDs: xa_alloc() on XA_FLAGS_ALLOC1 (iommufd_fops_open(), main.c) -----------

def two_fn_group():
    return make("6.6", devices=[dev("0000:03:00.0", group=3, driver="vfio-pci"),
                                dev("0000:03:00.1", group=3, driver="vfio-pci")])


def test_a_refused_attach_gives_its_object_id_back():
    """The refused attach allocated an automatic hwpt (ID 6) and iommufd_object_abort() stored
    NULL in its slot: the next IOMMU_IOAS_ALLOC gets 6."""
    k = two_fn_group()
    p = k.spawn("qemu")
    i1 = p.open("/dev/iommu")
    fd0, fd1 = p.open("/dev/vfio/devices/vfio0"), p.open("/dev/vfio/devices/vfio1")
    assert (p.ioctl(fd0, "VFIO_DEVICE_BIND_IOMMUFD", i1), p.ioctl(fd1, "VFIO_DEVICE_BIND_IOMMUFD", i1)) == (1, 2)
    a, b = p.ioctl(i1, "IOMMU_IOAS_ALLOC"), p.ioctl(i1, "IOMMU_IOAS_ALLOC")
    assert (a, b) == (3, 4)
    assert p.ioctl(fd0, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", a) == 5
    assert errno_of(p.ioctl, fd1, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", b) == errno.EINVAL
    assert p.ioctl(i1, "IOMMU_IOAS_ALLOC") == 6


def test_a_destroyed_object_id_is_the_lowest_free_again():
    """iommufd_object_remove() frees the slot too: closing the device file unbinds its idev
    (ID 1), and the next allocation takes 1, the lowest free index."""
    k = two_fn_group()
    p = k.spawn("qemu")
    i1 = p.open("/dev/iommu")
    fd0, fd1 = p.open("/dev/vfio/devices/vfio0"), p.open("/dev/vfio/devices/vfio1")
    p.ioctl(fd0, "VFIO_DEVICE_BIND_IOMMUFD", i1)
    p.ioctl(fd1, "VFIO_DEVICE_BIND_IOMMUFD", i1)
    assert p.ioctl(i1, "IOMMU_IOAS_ALLOC") == 3
    p.close(fd0)
    assert p.ioctl(i1, "IOMMU_IOAS_ALLOC") == 1
    assert p.ioctl(i1, "IOMMU_IOAS_ALLOC") == 4


# --- directories named by a number: only the "%u" spelling exists -----------------------------------

def test_numbered_directories_have_one_spelling():
    """iommu_group_alloc() names the kobject "%d"; /proc/PID and vfioN likewise: "01", "+1" or
    Arabic-Indic digits name nothing (the model's isdigit()/int() took them)."""
    k = gpu()
    assert k.exists("/sys/kernel/iommu_groups/1")
    for name in ("01", "١", "+1", " 1"):
        assert not k.exists(f"/sys/kernel/iommu_groups/{name}"), name
    k2 = two_fn_group()
    assert k2.exists("/dev/vfio/devices/vfio1") and not k2.exists("/dev/vfio/devices/vfio01")
    p = k2.spawn("qemu")
    assert k2.exists(f"/proc/{p.pid}") and not k2.exists(f"/proc/0{p.pid}")


# --- scenario files ------------------------------------------------------------------------------

def bad(text, *parts):
    """The file must not boot, with one ScenarioError naming the file and each of `parts`."""
    with pytest.raises(ScenarioError) as exc:
        Kernel.from_toml(text, "hostile.toml")
    msg = str(exc.value)
    assert msg.startswith("hostile.toml: "), msg
    for part in parts:
        assert part in msg, msg
    return msg


def test_toml_nested_5000_deep_is_a_scenario_error():
    bad("x = " + "[" * 5000 + "]" * 5000 + "\n", "TOML syntax", "nested too deep")
    bad("x = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n", "TOML syntax", "nested too deep")


def platform_chain(n):
    out = ['[kernel]\narch = "arm64"\n[[device]]\nname = "n0"\nbus = "platform"\nstreamid = 1\n']
    for i in range(1, n):
        out.append(f'[[device]]\nname = "n{i}"\nbus = "platform"\nparent = "n{i - 1}"\nstreamid = {i + 1}\n')
    return "".join(out)


def test_a_chain_of_1000_devices_is_a_scenario_error_and_256_boot():
    bad(platform_chain(1000), "[[device]] #257 (n256)", "nest at most 256 deep")
    k = Kernel.from_toml(platform_chain(256), "deep.toml")
    assert len(k.devices) == 256


@pytest.mark.parametrize("section,name,rule", [
    ("device", "../../x", "has a '/'"), ("device", "a/b", "'a!b'"), ("driver", "a/b", "'a!b'"),
    ("driver", "..", "'.' and '..'"), ("device", ".", "'.' and '..'"),
    ("driver", "a\\nb", "control character '\\n'"), ("device", "a\\u0000b", "control character '\\x00'"),
    ("driver", "x" * 256, "at most 255 (NAME_MAX)")])
def test_names_that_cannot_be_sysfs_directories(section, name, rule):
    extra = 'bus = "platform"\n' if section == "device" else ""
    msg = bad(f'[[{section}]]\nname = "{name}"\n{extra}', f"[[{section}]] #1", rule)
    assert "\n" not in msg


def test_a_parent_in_another_pci_domain_is_refused():
    """pci_add_new_bus(): a child bus has its bridge's domain."""
    bad('[[device]]\nname = "0000:00:01.0"\nkind = "root-port"\n'
        '[[device]]\nname = "0001:01:00.0"\nparent = "0000:00:01.0"\n',
        "[[device]] #2 (0001:01:00.0)", "in PCI domain 0001 but its parent 0000:00:01.0 is in domain 0000")


@pytest.mark.parametrize("section,version,rule", [
    ("kernel", "6.6\\n", "5.18 to 6.18.y"), ("kernel", "٦.٦", "ASCII digits"),
    ("kernel", "99.0", "newer than 6.18"), ("kernel", "6.19", "newer than 6.18"),
    ("kernel", "06.6", "no leading zeros"), ("kernel", "6.6." + "9" * 5000, "at most three"),
    ("qemu", "10.1\\n", "7.0 to 10.1.z"), ("qemu", "٧.٠", "ASCII digits"), ("qemu", "99.0", "newer than 10.1")])
def test_versions_are_ascii_and_in_the_modelled_range(section, version, rule):
    bad(f'[{section}]\nversion = "{version}"\n', f"[{section}]", rule)


def test_versions_at_the_ends_of_the_range_boot():
    for text in ("5.18", "6.18", "6.18.999", "6.6.0"):
        Kernel.from_toml(f'[kernel]\nversion = "{text}"\n', "ok.toml")
    Kernel.from_toml('[qemu]\nversion = "10.1.3"\n', "ok.toml")


PF = '[[device]]\nname = "0000:01:00.0"\nvf_id = "8086:10ed"\n'


@pytest.mark.parametrize("key,value,rule", [
    ("revision", -5, "revision must not be negative: it is 0 to 0xff"),
    ("revision", 0x100, "revision 0x100 is too big: it is 0 to 0xff"),
    ("class", 1 << 40, "class 0x10000000000 is too big: it is 0 to 0xffffff"),
    ("vf_offset", 1 << 40, "vf_offset 0x10000000000 is too big: it is 0 to 0xffff"),
    ("vf_stride", 0x10000, "vf_stride 0x10000 is too big: it is 0 to 0xffff"),
    ("sriov_totalvfs", 0x10000, "sriov_totalvfs 0x10000 is too big"),
    ("max_pasids", (1 << 20) + 1, "max_pasids 0x100001 is too big"),
    ("group", 1 << 31, "group 0x80000000 is too big")])
def test_register_sized_keys_are_range_checked(key, value, rule):
    keys = {"sriov_totalvfs": 2, key: value}
    bad(PF + "".join(f"{k} = {v}\n" for k, v in keys.items()), "[[device]] #1 (0000:01:00.0)", rule)


def test_register_sized_keys_at_their_limits_boot():
    k = Kernel.from_toml('[[device]]\nname = "0000:00:00.0"\nvf_id = "8086:10ed"\nsriov_totalvfs = 1\n'
                         "revision = 255\nclass = 0xffffff\nvf_offset = 0xffff\nvf_stride = 0xffff\n"
                         "max_pasids = 0x100000\n", "ok.toml")
    assert k.devices["0000:00:00.0"].class_code == 0xFFFFFF


def test_virtual_functions_beyond_bus_ff_are_refused():
    """pci_iov_virtfn_bus(): PF bus + ((devfn + offset + i * stride) >> 8) must stay a bus number."""
    bad(PF + "sriov_totalvfs = 3\nvf_offset = 0x8000\nvf_stride = 0x8000\n", "beyond bus 0xff")


def test_probe_is_an_errno():
    bad('[[driver]]\nname = "d"\nprobe = -1099511627776\n', "[[driver]] #1 (d)", "MAX_ERRNO")
