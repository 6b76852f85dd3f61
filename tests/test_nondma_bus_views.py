"""Devices on buses without DMA-ownership hooks (usb, i2c, spi, virtio): their drivers never count
in owner_cnt, whatever driver_managed_dma says (the bus has no dma_configure/dma_cleanup to look
at it), and their data moves as DMA of their controller — the USB core maps URBs with the host
controller's device (usb_hcd_map_urb_for_dma(), drivers/usb/core/hcd.c) — which is translated in
the controller's IOMMU group (../shared/spec/kernel-ownership.md §4, the bus table: "Drivers on these
buses never touch owner_cnt; their IOMMU use (if any) is through the parent controller's device").

The picture and iommulab-why must say so, not "(kernel DMA)" like an NVMe or "DMA not translated".
The machine is notebook 01's (its TOML copied here): a desktop with PCI, USB and I2C devices."""
import html
import re
import shutil

import pytest

from iommulab import Kernel
from iommulab.viz import build
from iommulab.viz.graph import graph, node_id
from conftest import dev, drv, make

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")

MACHINE = """
title = "A desktop with PCI, USB and I2C devices"
description = "GPU + HDMI audio behind a root port without ACS; an NVMe drive; USB and SMBus controllers with a USB stick and an SPD EEPROM."

[kernel]
version = "6.6"

[[driver]]
name = "nouveau"
ids = ["10de:2204"]
[[driver]]
name = "snd_hda_intel"
ids = ["10de:1aef"]
[[driver]]
name = "nvme"
ids = ["144d:a808"]
[[driver]]
name = "xhci_hcd"
ids = ["8086:a12f"]
[[driver]]
name = "i801_smbus"
ids = ["8086:a123"]
[[driver]]
name = "usb-storage"
bus = "usb"
ids = ["0781:5581"]
[[driver]]
name = "ee1004"
bus = "i2c"
ids = ["ee1004"]

[[device]]
name = "0000:00:00.0"
id = "8086:191f"
class = 0x060000
[[device]]
name = "0000:00:01.0"
id = "8086:1901"
kind = "root-port"
acs = false
[[device]]
name = "0000:01:00.0"
id = "10de:2204"
parent = "0000:00:01.0"
multifunction = true
acs = false
class = 0x030000
[[device]]
name = "0000:01:00.1"
id = "10de:1aef"
parent = "0000:00:01.0"
acs = false
class = 0x040300
[[device]]
name = "0000:00:14.0"
id = "8086:a12f"
class = 0x0c0330
[[device]]
name = "0000:00:1b.0"
id = "8086:a167"
kind = "root-port"
[[device]]
name = "0000:02:00.0"
id = "144d:a808"
parent = "0000:00:1b.0"
class = 0x010802
[[device]]
name = "0000:00:1f.0"
id = "8086:a145"
multifunction = true
class = 0x060100
[[device]]
name = "0000:00:1f.4"
id = "8086:a123"
class = 0x0c0500
[[device]]
name = "1-4:1.0"
bus = "usb"
id = "0781:5581"
[[device]]
name = "0-0050"
bus = "i2c"
id = "ee1004"
"""

STICK, EEPROM, NVME, XHCI = "1-4:1.0", "0-0050", "0000:02:00.0", "0000:00:14.0"
NEVER = "(no DMA hooks: never counts)"
CAPTION_WORDS = ("no IOMMU group", "devices on buses without DMA ownership hooks (USB, I²C)", "never counted",
                 "a USB device's DMA is its host controller's", "in the controller's group")


@pytest.fixture
def k():
    return Kernel.from_toml(MACHINE, "01-devices-and-drivers.toml")


def node_label(src, name):
    """The label of a device's node in the DOT text, its lines joined by spaces."""
    line = next(x for x in src.splitlines() if x.strip().startswith(node_id(name) + " ["))
    start = src.index(line)
    body = src[start:src.index("]", start)]
    return " ".join(body.split('label="', 1)[1].split('"', 1)[0].split())


def nogroup_caption(src):
    block = src[src.index("subgraph cluster_nogroup"):]
    return " ".join(block.split('label="', 1)[1].split('"', 1)[0].split())


def owner_cnts(k):
    return {n: g["owner_cnt"] for n, g in k.state()["groups"].items()}


# --- what the kernel does: the facts the words must follow ---------------------------------------------

def test_the_usb_and_i2c_drivers_never_count_and_the_controllers_drivers_do(k):
    st = k.state()["devices"]
    assert st[STICK]["driver"] == "usb-storage" and st[STICK]["group"] is None
    assert st[EEPROM]["driver"] == "ee1004" and st[EEPROM]["group"] is None
    assert st[STICK]["managed"] is False          # the flag k.state() shows is not what decides: the bus is
    before = owner_cnts(k)
    for line in (f"echo {STICK} > /sys/bus/usb/drivers/usb-storage/unbind",
                 f"echo {EEPROM} > /sys/bus/i2c/drivers/ee1004/unbind",
                 f"echo {STICK} > /sys/bus/usb/drivers/usb-storage/bind"):
        assert k.sh(line).status == 0
        assert owner_cnts(k) == before
    n = st[XHCI]["group"]
    assert k.sh(f"echo {XHCI} > /sys/bus/pci/drivers/xhci_hcd/unbind").status == 0
    assert owner_cnts(k)[n] == before[n] - 1       # the controller's driver is the one that counts


# --- the view model and the picture ---------------------------------------------------------------------

def test_the_view_model_says_which_buses_count_drivers(k):
    m = build(k)
    assert not m.devices[STICK].dma_hooks and not m.devices[EEPROM].dma_hooks
    assert m.devices[NVME].dma_hooks and m.devices[XHCI].dma_hooks
    assert m.devices[STICK].driver_kind == "kernel-dma"      # driver_managed_dma false, as k.state() says


def test_the_picture_labels_a_hookless_driver_never_counts_not_kernel_dma(k):
    src = graph(k).source
    assert node_label(src, STICK).endswith(f"usb-storage {NEVER}")
    assert node_label(src, EEPROM).endswith(f"ee1004 {NEVER}")
    for name in (STICK, EEPROM):
        assert "(kernel DMA)" not in node_label(src, name)
    assert node_label(src, NVME).endswith("nvme (kernel DMA)")          # PCI kernel DMA drivers as before
    assert node_label(src, XHCI).endswith("xhci_hcd (kernel DMA)")


def test_the_no_group_caption_says_the_truth_about_usb_and_i2c(k):
    caption = nogroup_caption(graph(k).source)
    for words in CAPTION_WORDS:
        assert words in caption, (words, caption)
    assert "not translated" not in caption          # their data is translated, in the controllers' groups


def test_an_unbound_hookless_device_says_no_driver(k):
    k.sh(f"echo {STICK} > /sys/bus/usb/drivers/usb-storage/unbind")
    label = node_label(graph(k).source, STICK)
    assert label.endswith("no driver") and NEVER not in label


def test_a_device_behind_no_iommu_keeps_dma_not_translated():
    """A PCI device behind no IOMMU does DMA that nothing translates: that caption stays, on its own
    or beside the hookless buses' words when both kinds are in the box."""
    alone = make(devices=[dev("0000:00:03.0", id="8086:1533", iommu=False)], drivers=[drv("igb", ids=["8086:1533"])])
    src = graph(alone).source
    assert nogroup_caption(src) == "no IOMMU group (DMA not translated; never counted)"
    assert node_label(src, "0000:00:03.0").endswith("igb (kernel DMA)")
    both = make(devices=[dev("0000:00:03.0", id="8086:1533", iommu=False), dev("1-1", bus="usb", id="046d:c52b")],
                drivers=[drv("igb", ids=["8086:1533"]), drv("usbhid", bus="usb", ids=["046d:*"])])
    caption = nogroup_caption(graph(both).source)
    assert "devices on buses without DMA ownership hooks (USB)" in caption
    assert "the others sit behind no IOMMU: DMA not translated; never counted" in caption


@pytest.mark.parametrize("version,counts", [("6.4", False), ("6.5", True)])
def test_the_label_follows_the_release_cdx_counts_from_6_5(version, counts):
    """6.4's cdx bus has a firmware-only dma_configure and no dma_cleanup: its drivers never count
    (spec §4.6); 6.5's count. The label says what unbinding does to owner_cnt."""
    k = make(version, devices=[dev("cdx-00:00", bus="cdx", id="10ee:8084")], drivers=[drv("cdx_drv", bus="cdx",
                                                                                         ids=["10ee:8084"])])
    n = k.state()["devices"]["cdx-00:00"]["group"]
    label = node_label(graph(k).source, "cdx-00:00")
    before = owner_cnts(k)[n]
    assert k.sh("echo cdx-00:00 > /sys/bus/cdx/drivers/cdx_drv/unbind").status == 0
    assert (owner_cnts(k)[n] < before) is counts
    assert label.endswith("cdx_drv (kernel DMA)" if counts else f"cdx_drv {NEVER}")


@needs_dot
def test_the_svg_has_the_words(k):
    from iommulab.viz.graph import svg
    text = " ".join(html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg(k), re.S))
    assert f"usb-storage {NEVER}" in text and f"ee1004 {NEVER}" in text
    assert "nvme (kernel DMA)" in text
    assert "devices on buses without DMA ownership hooks" in text and "host controller" in text
    assert "DMA not translated" not in text


# --- iommulab-why ---------------------------------------------------------------------------------------

def test_iommulab_why_says_a_usb_devices_dma_is_its_host_controllers(k):
    out = k.sh(f"iommulab-why {STICK}").stdout.splitlines()
    assert out[0] == (f"{STICK} has no IOMMU group: it sits on the usb bus, which has no DMA-ownership hooks, "
                      "and its DMA is done by its USB host controller, in the controller's IOMMU group")
    assert "not translated" not in "\n".join(out)
    assert any(x.strip().startswith("its driver usb-storage never counts: the usb bus has no DMA-ownership hooks")
               for x in out)


def test_iommulab_why_says_an_i2c_devices_dma_is_its_adapters(k):
    out = k.sh(f"iommulab-why {EEPROM}").stdout
    assert out.startswith(f"{EEPROM} has no IOMMU group: it sits on the i2c bus, which has no DMA-ownership hooks")
    assert "its DMA is done by its I2C adapter" in out and "not translated" not in out
    assert "its driver ee1004 never counts" in out


def test_iommulab_why_keeps_not_translated_for_a_device_behind_no_iommu():
    k = make(devices=[dev("0000:00:03.0", id="8086:1533", iommu=False)])
    first = k.sh("iommulab-why 0000:00:03.0").stdout.splitlines()[0]
    assert first == "0000:00:03.0 has no IOMMU group: it is not behind an IOMMU, so its DMA is not translated"


def test_iommulab_why_of_an_unbound_usb_device_names_no_driver(k):
    k.sh(f"echo {STICK} > /sys/bus/usb/drivers/usb-storage/unbind")
    out = k.sh(f"iommulab-why -o {STICK}").stdout
    assert "never counts" not in out and "the usb bus has no DMA-ownership hooks" in out
