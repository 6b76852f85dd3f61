"""Buses and drivers as ops (kernel/bus/, kernel/drivers/): a new bus is one module plus one
register() line, a new built-in driver one class plus one register() line, and the registered
facts agree with each other and with the kernel's names."""
import errno
from types import SimpleNamespace

import pytest

from conftest import bind, dev, drv, make, st, unbind
from iommulab.kernel import bus as buses
from iommulab.kernel import drivers
from iommulab.kernel.bus.common import current_group, dev_group, unuse_default_domain, use_default_domain
from iommulab.kernel.drivers import BuiltinDriver
from iommulab.kernel.trace import traced


# --- a toy bus: one module's worth of ops ------------------------------------------------------

TOY_CALLS = []                  # what the toy bus's hooks were called for


def _toy_module():
    """What kernel/bus/toy.py would hold: its facts, kernel-named DMA hooks and its grouping."""
    @traced(dev_group)
    def toy_dma_configure(dev):
        TOY_CALLS.append(("configure", dev.name))
        return use_default_domain(dev)

    @traced(dev_group)
    def toy_dma_cleanup(dev):
        TOY_CALLS.append(("cleanup", dev.name))
        unuse_default_domain(dev)

    def toy_device_group(k, dev, group_of=current_group):
        """Every toy device shares the first toy device's group (one requester ID for the bus)."""
        for other in k.devices.values():
            if other is not dev and other.bus is dev.bus and group_of(other) is not None:
                return group_of(other), ("generic", other.name)
        return None, ("generic", dev.name)

    return SimpleNamespace(NAME="toy", BEHIND_IOMMU=True, DMA_HOOKS=True, HAS_OVERRIDE=True,
                           dma_configure=toy_dma_configure, dma_cleanup=toy_dma_cleanup,
                           device_group=toy_device_group)


TOY = _toy_module()


@pytest.fixture
def toy_bus():
    TOY_CALLS.clear()
    buses.register(TOY)                                   # the one registration line
    yield
    buses.unregister("toy")


def _toy_machine():
    return make("6.6", devices=[dev("0000:00:02.0", id="8086:1234"),
                                dev("toy0", bus="toy", id="acme,toy"),
                                dev("toy1", bus="toy", id="acme,toy")],
                drivers=[drv("toydrv", bus="toy", ids=["acme,*"]),
                         drv("toymgd", bus="toy", ids=["none"], driver_managed_dma=True)])


def test_a_toy_bus_boots_with_one_module_and_one_registration_line(toy_bus):
    k = _toy_machine()
    toy0, toy1 = k.devices["toy0"], k.devices["toy1"]
    assert toy0.iommu_group is toy1.iommu_group is not None       # the bus's own device_group
    assert toy0.iommu_group is not k.devices["0000:00:02.0"].iommu_group
    # its devices reach the IOMMU layer after the iommu_buses[] ones: PCI's group is 0
    assert k.devices["0000:00:02.0"].iommu_group.id == 0 and toy0.iommu_group.id == 1
    # both bound to the id-matching kernel DMA-API driver at boot, each with a count
    assert toy0.driver.name == toy1.driver.name == "toydrv"
    assert st(k, 1)[0] == 2
    assert TOY_CALLS == [("configure", "toy0"), ("configure", "toy1")]
    assert "toy" in k.listdir("/sys/bus")
    assert {"toy0", "toy1"} <= set(k.listdir("/sys/bus/toy/devices"))
    assert "toy0" in k.listdir("/sys/devices/toy")
    assert "driver_override" in k.listdir("/sys/bus/toy/devices/toy0")


def test_the_toy_bus_counts_through_its_own_dma_hooks(toy_bus):
    k = _toy_machine()
    unbind(k, "toy0", bus="toy")
    assert st(k, 1)[0] == 1
    names = [e.func for e in k.events if e.step == k.events[-1].step]
    assert "toy_dma_cleanup" in names
    bind(k, "toy0", "toymgd", bus="toy")
    assert k.devices["toy0"].driver.name == "toymgd"
    assert st(k, 1)[0] == 1                                  # driver_managed_dma: no count
    assert "toy_dma_configure" in [e.func for e in k.events if e.step == k.events[-1].step]


def test_without_the_registration_line_the_bus_is_unknown():
    with pytest.raises(Exception, match="unknown bus 'toy'"):
        _toy_machine()


# --- a toy built-in driver: one class and one registration line ------------------------------

class ToyStub(BuiltinDriver):
    NAME, BUS, KIND, MODULE = "toy-stub", "pci", "toy-stub", "toy_stub"

    def probe(self, dev):
        self.k.printk(f"toy-stub {dev.name}: hello")
        return 0


@pytest.fixture
def toy_driver():
    drivers.register(ToyStub)                             # the one registration line
    yield
    drivers.unregister("toy-stub")


def test_a_builtin_driver_is_one_class_and_one_registration_line(toy_driver):
    k = make("6.6", devices=[dev("0000:00:02.0", id="8086:1234")])
    assert "toy-stub" in k.listdir("/sys/bus/pci/drivers")
    bind(k, "0000:00:02.0", "toy-stub")
    assert k.devices["0000:00:02.0"].driver.name == "toy-stub"
    assert st(k, 0)[0] == 0                                    # built-ins are driver_managed_dma
    assert any("toy-stub 0000:00:02.0: hello" in line for line in k.dmesg_lines)


def test_builtin_drivers_follow_the_release():
    assert "vfio-cdx" not in make("6.4").drivers and "vfio-cdx" in make("6.5").drivers
    assert "cdx" not in make("6.3").buses and "cdx" in make("6.4").buses


# --- the registered facts agree ----------------------------------------------------------------

def test_registry_order_is_iommu_buses():
    """drivers/iommu/iommu.c iommu_buses[]: platform, pci, amba, fsl-mc, (host1x,) cdx."""
    assert tuple(buses.BUSES)[:5] == ("platform", "pci", "amba", "fsl-mc", "cdx")


def test_each_bus_vfio_driver_is_a_builtin_driver_of_that_bus():
    named = {name: ops.VFIO_DRIVER for name, ops in buses.BUSES.items() if ops.VFIO_DRIVER}
    assert set(named) == {"pci", "platform", "amba", "fsl-mc", "cdx"}
    for bus, vfio in named.items():
        assert drivers.BUILTIN[vfio].BUS == bus and drivers.BUILTIN[vfio].KIND == "vfio"


def test_dma_hooks_carry_the_kernel_function_names():
    for name, ops in buses.BUSES.items():
        if ops.DMA_HOOKS:
            c_name = name.replace("-", "_")
            assert ops.dma_configure.__name__ == f"{c_name}_dma_configure"
            assert ops.dma_cleanup.__name__ == f"{c_name}_dma_cleanup"
        else:
            assert ops.dma_configure is None and ops.dma_cleanup is None


def test_vfio_pci_refuses_a_bridge_through_its_class():
    k = make("6.6", devices=[dev("0000:00:1c.0", kind="root-port", id="8086:a110"),
                             dev("0000:01:00.0", parent="0000:00:1c.0", id="8086:1234")])
    k.write("/sys/bus/pci/devices/0000:00:1c.0/driver_override", "vfio-pci\n")
    k.write("/sys/bus/pci/drivers/pcieport/unbind", "0000:00:1c.0")
    with pytest.raises(OSError) as e:
        k.write("/sys/bus/pci/drivers/vfio-pci/bind", "0000:00:1c.0")
    assert e.value.errno == errno.EINVAL


def test_a_bus_new_in_a_release_is_refused_before_it_by_the_loader():
    late = SimpleNamespace(NAME="latebus", SINCE="6.5", exists=lambda f: f.cdx_ownership)
    buses.register(late)
    try:
        with pytest.raises(Exception, match=r"there is no latebus bus before Linux 6\.5 \(version 6\.4\)"):
            make("6.4", devices=[dev("late0", bus="latebus", id="x")])
        k = make("6.5", devices=[dev("late0", bus="latebus", id="x")])
        assert "latebus" in k.listdir("/sys/bus") and k.devices["late0"].iommu_group is None
        assert "latebus" not in make("6.4").buses
    finally:
        buses.unregister("latebus")


def test_each_bus_grouping_rule_explains_itself():
    """explain_group() asks the bus's device_group op for its rule: arm_smmu_device_group (stream
    IDs), fsl_mc_device_group (DPRC containers), generic_device_group (cdx and the rest)."""
    from iommulab.kernel.explain import explain_group
    k = make("6.6", devices=[dev("ff000000.eth", bus="platform", id="snps,dwmac", streamid=0x800),
                             dev("ff010000.dma", bus="platform", id="arm,pl330", streamid=0x800),
                             dev("dprc.1", bus="fsl-mc", id="dprc"),
                             dev("dpni.1", bus="fsl-mc", id="dpni", parent="dprc.1"),
                             dev("cdx-00:00", bus="cdx", id="10ee:8084")])
    eth, dma = k.devices["ff000000.eth"], k.devices["ff010000.dma"]
    assert eth.iommu_group is dma.iommu_group
    assert k.devices["dprc.1"].iommu_group is k.devices["dpni.1"].iommu_group
    n = eth.iommu_group.id
    assert explain_group(k, "ff000000.eth")[0] == (f"ff000000.eth starts group {n}: no device that came "
                                                   "before it shares its stream ID")
    assert explain_group(k, "ff010000.dma")[0].startswith(f"ff010000.dma joins ff000000.eth in group {n}: "
                                                          "they share SMMU stream ID 0x800")
    m = k.devices["dprc.1"].iommu_group.id
    assert explain_group(k, "dprc.1")[0] == f"dprc.1 starts group {m}: a DPRC container has an ICID of its own"
    assert explain_group(k, "dpni.1")[0].startswith(f"dpni.1 shares group {m} with its container dprc.1")
    c = k.devices["cdx-00:00"].iommu_group.id
    assert explain_group(k, "cdx-00:00") == [f"cdx-00:00 starts group {c}: each cdx device has a requester "
                                             "ID of its own"]
    # iommu_buses[] order numbers the groups: platform first, then fsl-mc, then cdx
    assert n < m < c
