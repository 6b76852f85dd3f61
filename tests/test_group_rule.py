"""group_rule(k, device): the tag of the rule that put a device in its IOMMU group, and the question
predict.group_rule asks about it (notebook 02, P02.1).

The kernel's order (drivers/iommu/iommu.c, pci_device_group()): 1. the DMA alias walk
(pci_for_each_dma_alias(): behind a PCIe-to-PCI bridge the bridge's requester ID); 2. the walk towards
the root, stopping at the first bridge whose path up has ACS (pci_acs_path_enabled()): a bridge
without that isolation pulls the device into its group; 3. quirk aliases on the bus
(get_pci_alias_group()); 4. the functions of a multifunction device without ACS
(get_pci_function_alias_group()). On an SMMU, devices with one stream ID share a group
(arm_smmu_device_group()); fsl-mc objects their container's (fsl_mc_device_group()). The device
that started a shared group carries the rule the next device joined it by. The expected tags below
are worked out from each machine's hardware facts by those rules, not read from the engine."""
import pytest

from iommulab import Kernel
from iommulab.course import modes, predict, progress
from iommulab.course.predict import QuestionError
from iommulab.kernel.explain import GROUP_RULES, explain_group, group_rule
from conftest import bind, dev, make

EXPECTED = {
    # The GPU and its audio function sit below root port 00:01.0, which has no ACS: the walk towards
    # the root stops at no bridge, so both join the port's group (step 2) before the multifunction
    # rule (step 4) is asked. The port started that group, which the GPU joined by step 2.
    "desktop-gpu": {
        "0000:00:00.0": "alone", "0000:00:14.0": "alone",
        "0000:00:1f.0": "alone", "0000:00:1f.3": "alone", "0000:00:1f.6": "alone",
        "0000:00:01.0": "no-acs-above", "0000:01:00.0": "no-acs-above", "0000:01:00.1": "no-acs-above",
    },
    # Root ports 00:1c.0 and 00:1c.4 are functions of one multifunction device without ACS: 1c.4 joins
    # 1c.0 by step 4 (both on the root bus: no bridge above). The endpoints below them, and 04:00.0
    # below 00:1d.0 (no ACS either), join their port's group by step 2.
    "workstation-no-acs": {
        "0000:00:00.0": "alone",
        "0000:00:1c.0": "multifunction", "0000:00:1c.4": "multifunction",
        "0000:02:00.0": "no-acs-above", "0000:03:00.0": "no-acs-above",
        "0000:00:1d.0": "no-acs-above", "0000:04:00.0": "no-acs-above",
    },
    # Behind the PCIe-to-PCI bridge 05:00.0 the IOMMU sees the bridge's ID: the conventional cards join
    # its group by step 1. The root port above has ACS, so the bridge's own group starts there.
    "legacy-pci-bridge": {
        "0000:00:1c.0": "alone",
        "0000:05:00.0": "dma-alias", "0000:06:00.0": "dma-alias", "0000:06:01.0": "dma-alias",
    },
    # The Ethernet controller and the DMA engine share stream ID 0x877; the UART has no stream ID
    # and no IOMMU in front of it.
    "arm-soc-streamid": {
        "ff0c0000.ethernet": "stream-id", "ff0d0000.dma-controller": "stream-id", "ff1a0000.serial": "no-group",
    },
    # ACS on every root port: every device is alone.
    "server-sriov": {
        "0000:00:00.0": "alone", "0000:3a:00.0": "alone", "0000:5d:00.0": "alone",
        "0000:3b:00.0": "alone", "0000:5e:00.0": "alone",
    },
}


def tags(k):
    return {name: group_rule(k, name) for name in k.devices}


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_each_devices_tag_is_the_kernels_grouping_rule(scenario):
    k = Kernel.from_scenario(scenario)
    assert tags(k) == EXPECTED[scenario]


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_alone_means_a_group_of_one_and_every_tag_is_documented(scenario):
    k = Kernel.from_scenario(scenario)
    for name, tag in tags(k).items():
        g = k.devices[name].iommu_group
        assert tag in GROUP_RULES
        assert (tag == "no-group") == (g is None)
        if g is not None:
            assert (tag == "alone") == (len(g.devices) == 1), name


def test_virtual_functions_behind_acs_are_alone():
    k = Kernel.from_scenario("server-sriov")
    k.write("/sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs", "4")
    vfs = [d for d in k.devices.values() if d.physfn is not None]
    assert len(vfs) == 4 and {group_rule(k, d) for d in vfs} == {"alone"}   # VFs are never multifunction


# --- machines that isolate one rule each ------------------------------------------------------------

def rp(name, **kw):
    return dev(name, kind="root-port", **kw)


def test_multifunction_decides_when_the_path_has_acs():
    """The desktop's GPU with ACS on its root port: the walk stops at the port, so only the function
    rule keeps the two functions together (the other half of P02.1's trap)."""
    k = make(devices=[rp("0000:00:01.0"), dev("0000:01:00.0", parent="0000:00:01.0", multifunction=True, acs=False),
                      dev("0000:01:00.1", parent="0000:00:01.0", acs=False)])
    assert tags(k) == {"0000:00:01.0": "alone", "0000:01:00.0": "multifunction", "0000:01:00.1": "multifunction"}
    iso = make(devices=[rp("0000:00:01.0"), dev("0000:01:00.0", parent="0000:00:01.0", multifunction=True),
                        dev("0000:01:00.1", parent="0000:00:01.0")])
    assert set(tags(iso).values()) == {"alone"}                       # functions with ACS are isolated


def test_a_downstream_port_without_acs_takes_its_device():
    k = make(devices=[rp("0000:00:01.0"), dev("0000:01:00.0", kind="upstream-port", parent="0000:00:01.0"),
                      dev("0000:02:00.0", kind="downstream-port", parent="0000:01:00.0"),
                      dev("0000:02:01.0", kind="downstream-port", parent="0000:01:00.0", acs=False),
                      dev("0000:03:00.0", parent="0000:02:00.0"), dev("0000:04:00.0", parent="0000:02:01.0")])
    assert tags(k)["0000:03:00.0"] == "alone"
    assert tags(k)["0000:02:01.0"] == tags(k)["0000:04:00.0"] == "no-acs-above"


def test_the_alias_walk_comes_before_the_acs_walk():
    """Behind a PCIe-to-PCI bridge below a root port without ACS, a card's first alias with a group is
    the bridge (step 1), which itself joined the port's group by the ACS walk (step 2)."""
    k = make(devices=[rp("0000:00:1c.0", acs=False),
                      dev("0000:01:00.0", kind="pcie-to-pci-bridge", parent="0000:00:1c.0"),
                      dev("0000:02:00.0", kind="conventional", parent="0000:01:00.0")])
    assert tags(k) == {"0000:00:1c.0": "no-acs-above", "0000:01:00.0": "no-acs-above", "0000:02:00.0": "dma-alias"}


def test_a_quirk_alias_and_the_fsl_mc_container_and_explicit_groups():
    q = make(devices=[dev("0000:05:00.0"), dev("0000:05:00.1", dma_alias=["0000:05:00.0"])])
    assert tags(q) == {"0000:05:00.0": "quirk-alias", "0000:05:00.1": "quirk-alias"}
    mc = Kernel.from_scenario("nxp-dpaa2")
    assert tags(mc) == {"dprc.1": "alone", "dprc.2": "fsl-mc-container", "dpni.1": "fsl-mc-container",
                        "dpmac.1": "fsl-mc-container", "dpio.1": "fsl-mc-container"}
    cdx = make(devices=[dev("cdx-00:00", bus="cdx"), dev("cdx-00:01", bus="cdx")])
    assert set(tags(cdx).values()) == {"alone"}                       # generic_device_group()
    ex = make(devices=[rp("0000:00:01.0", acs=False, group=7), dev("0000:01:00.0", parent="0000:00:01.0", group=7)])
    assert set(tags(ex).values()) == {"scenario"}


def test_hotplug_and_noiommu_and_a_usb_device():
    k = make(devices=[rp("0000:00:01.0", acs=False), dev("0000:01:00.0", parent="0000:00:01.0", present=False),
                      dev("1-1", bus="usb")])
    assert tags(k) == {"0000:00:01.0": "alone", "1-1": "no-group"}
    k.write("/sys/bus/pci/rescan", "1")                                 # joins by the same walk
    assert group_rule(k, "0000:01:00.0") == group_rule(k, "0000:00:01.0") == "no-acs-above"
    n = make(devices=[dev("0000:00:03.0", id="8086:1533", iommu=False)], cmdline="vfio.enable_unsafe_noiommu_mode=1")
    assert group_rule(n, "0000:00:03.0") == "no-group"
    bind(n, "0000:00:03.0", "vfio-pci")
    assert group_rule(n, "0000:00:03.0") == "noiommu"


def test_the_wordings_are_one_sentence_each_in_a_fixed_order():
    assert list(GROUP_RULES) == ["alone", "no-acs-above", "multifunction", "dma-alias", "quirk-alias", "stream-id",
                                 "fsl-mc-container", "scenario", "noiommu", "no-group"]
    assert len(set(GROUP_RULES.values())) == len(GROUP_RULES)
    assert all(w and "\n" not in w and not w.endswith(".") for w in GROUP_RULES.values())


# --- the question ---------------------------------------------------------------------------------------

pytestmark = pytest.mark.usefixtures("student_mode")        # conftest.py


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_the_question_asks_every_devices_rule_with_all_the_rules_as_choices(scenario):
    k = Kernel.from_scenario(scenario)
    before = k.state()
    for name, tag in EXPECTED[scenario].items():
        q = predict.group_rule(k, name)
        assert q.kind == "group_rule" and q.expected == tag == group_rule(k, name)
        assert q.choices == tuple(GROUP_RULES.values())                # all of them, the same order
        assert q.rule == explain_group(k, name)[0] and q.details == explain_group(k, name)
        assert q.text == f"Which rule put {name} in its IOMMU group?"
        assert q.solution() == GROUP_RULES[tag] and q.kernel_words == GROUP_RULES[tag]
        assert q.answer(GROUP_RULES[tag]).ok
        wrong = next(t for t in GROUP_RULES if t != tag)
        fb = q.answer(GROUP_RULES[wrong])
        assert not fb.ok and fb.answered and fb.given == wrong and fb.expected == tag and fb.why == q.rule
    assert k.state() == before                                          # nothing ran


def test_answers_are_read_by_words_or_tag_never_by_position():
    k = Kernel.from_scenario("desktop-gpu")
    q = predict.group_rule(k, "01:00.1")                                # the short name is fine
    assert q.expected == "no-acs-above" and q.qid == "group_rule('0000:01:00.1')"
    assert q.answer("no-acs-above").ok and q.answer("No ACS above").ok and q.answer("ACS along the path").ok
    assert q.answer("  " + GROUP_RULES["no-acs-above"].upper() + " ").ok
    position = q.choices.index(GROUP_RULES["no-acs-above"])
    for value in (position, position + 1, str(position + 1), True):
        fb = q.answer(value)
        assert not fb.ok and not fb.answered and "is a position, not a rule" in fb.why, value
    fb = q.answer("a")                                                  # too short to be a rule's start
    assert not fb.answered
    fb = q.answer("multifunction")
    assert not fb.ok and fb.given == "multifunction" and "root port 0000:00:01.0 has no ACS" in fb.why
    assert not q.answer(None).answered and q.answer(None).why == "not yet"
    assert progress.load()["checks"][q.qid]["ok"] is False              # the last answer recorded


def test_solution_mode_fills_in_the_kernels_rule_and_raises_on_a_wrong_one():
    k = Kernel.from_scenario("workstation-no-acs")
    q = predict.group_rule(k, "0000:00:1c.4", qid="P02.1 rule(workstation-no-acs, 0000:00:1c.4)")
    assert q.qid == "P02.1 rule(workstation-no-acs, 0000:00:1c.4)" and q.prefill() is None
    modes.set_solutions(True)
    try:
        assert q.prefill() == GROUP_RULES["multifunction"] and q.prefill() in q.choices
        fb = q.answer(None)
        assert fb.ok and fb.given == fb.expected == "multifunction"
        assert q.answer(q.prefill()).ok
        with pytest.raises(modes.SolutionFailed, match="the kernel says multifunction"):
            q.answer(GROUP_RULES["no-acs-above"])
        with pytest.raises(modes.SolutionFailed):
            q.answer(3)
    finally:
        modes.set_solutions(None)
    assert progress.load()["checks"] == {}


def test_the_question_draws_the_devices_group_and_refuses_an_unknown_device():
    k = Kernel.from_scenario("arm-soc-streamid")
    q = predict.group_rule(k, "ff0d0000.dma-controller")
    assert q.focus_group() == 0 and q.outcome.before == q.outcome.after and q.outcome.snapshots
    pics = q.pictures()
    assert [caption for caption, *_ in pics] == ["the machine (groups are made as devices arrive)"]
    svg, text = pics[0][1:]
    assert "ff0d0000.dma" in (svg or text)
    assert predict.group_rule(k, "ff1a0000.serial").expected == "no-group"
    with pytest.raises(QuestionError, match="no device"):
        predict.group_rule(k, "0000:99:00.0")


def test_smmuv3_gives_each_platform_device_a_group_of_its_own():
    """kernel-ownership.md §8.2: SMMUv2's arm_smmu_device_group() groups masters sharing a stream ID;
    SMMUv3 puts a non-PCI device in a group of its own (generic_device_group). The same SoC on each."""
    from importlib.resources import files
    from iommulab.kernel.explain import explain_group
    text = files("iommulab.scenarios").joinpath("arm-soc-streamid.toml").read_text()
    v2 = Kernel.from_toml(text)
    v3 = Kernel.from_toml(text.replace('iommu_driver = "arm-smmu"', 'iommu_driver = "arm-smmu-v3"'))
    eth, dma = "ff0c0000.ethernet", "ff0d0000.dma-controller"
    assert v2.devices[eth].iommu_group is v2.devices[dma].iommu_group
    assert v3.devices[eth].iommu_group is not v3.devices[dma].iommu_group
    assert group_rule(v3, dma) == "alone" and "SMMUv3" in explain_group(v3, dma)[0]
