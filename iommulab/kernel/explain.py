"""Why a device is in its IOMMU group, rule by rule, in plain words: explain_group(k, device).

It replays the IOMMU layer's decision as it was when the device arrived (devices that reach the
IOMMU layer later have no group yet), with the same code that made it (topology.py).
group_rule(k, device) names that rule with a short stable tag; GROUP_RULES words each tag.

explain_ownership(k, group_or_device): who holds a group and what each count of owner_cnt is,
from struct iommu_group's owner/owner_cnt (drivers/iommu/iommu.c, v5.19), the bus rule of which
bound drivers count (bus.common.dma_configure_uses_default_domain), the processes' files, and VFIO's
pre-5.19 allow-list (vfio_dev_viable). A real host shows none of this state."""
from .bus.common import bus_has_dma_cleanup, dma_configure_uses_default_domain
from .iommu import iommu_group_has_isolated_msi
from .pcidev import DOWNSTREAM_PORT_KINDS, KIND_WORDS, PCI_BRIDGE_KINDS, device_name
from .kernel import enumeration_order
from .vfio_noiommu import is_noiommu_group
from .topology import first_without_acs, is_multifunction, pci_acs_enabled, upstream_bridge


def _word(dev):
    return KIND_WORDS.get(dev.kind, "device")


def _arrival(k):
    order = {d.name: i for i, d in enumerate(enumeration_order(list(k.devices.values())))}
    return order


# The controller that moves the data of a device on a bus without DMA-ownership hooks: the USB
# core maps URBs with the host controller's device (usb_hcd_map_urb_for_dma(), hcd->self.sysdev),
# an I2C or SPI client's bytes move through its adapter or controller, virtio's rings are mapped
# with the transport's device (vring_dma_dev()). Spec §4 bus table: "their IOMMU use (if any) is
# through the parent controller's device".
_CONTROLLERS = {"usb": "USB host controller", "i2c": "I2C adapter (the I2C or SMBus controller)",
                "spi": "SPI controller", "virtio": "virtio transport (a virtio-pci or virtio-mmio device)"}


def controller_words(dev):
    """What does the DMA of a device on a bus without DMA-ownership hooks, in words."""
    return _CONTROLLERS.get(dev.bus.name, f"{dev.bus.name} controller")


def bus_counts_drivers(dev):
    """Whether dev's bus, in this release, has the dma_configure/dma_cleanup pair that counts a
    kernel DMA-API driver in owner_cnt (pci, platform, amba, fsl-mc; cdx from 6.5). False for usb,
    i2c, spi and virtio, which have no DMA-ownership hooks, and for 6.4's cdx: a driver bound there
    never counts, whatever its driver_managed_dma (the flag is never looked at)."""
    return bus_has_dma_cleanup(dev.bus)


def why(k, dev, order=None):
    """One sentence: why `dev` joined the group it is in (or why it started one)."""
    g = dev.iommu_group
    if g is None:
        if not dev.bus.dma_hooks:
            return (f"{dev.name} has no IOMMU group: it sits on the {dev.bus.name} bus, which has no "
                    f"DMA-ownership hooks, and its DMA is done by its {controller_words(dev)}, in the "
                    "controller's IOMMU group")
        return f"{dev.name} has no IOMMU group: it is not behind an IOMMU, so its DMA is not translated"
    n = g.id
    if is_noiommu_group(g):
        return (f"{dev.name} is alone in group {n}, a VFIO no-IOMMU group: no IOMMU sees its DMA, and "
                "vfio.enable_unsafe_noiommu_mode=1 let VFIO make a group for it")
    if dev.explicit_group is not None:
        return f"{dev.name} is in group {n} because the scenario says so (group = {n})"
    order = order or _arrival(k)
    me = order[dev.name]

    def group_of(d):
        return d.iommu_group if order.get(d.name, me + 1) < me else None
    joined, (rule, other) = dev.bus.ops.device_group(k, dev, group_of)     # the bus's rule
    if rule == "stream-id":
        first = next((d for d in g.devices if order.get(d.name, me) < me), None)
        if first is not None and dev.streamid is not None:
            return (f"{dev.name} joins {first.name} in group {n}: they share SMMU stream ID "
                    f"{dev.streamid:#x}, so the IOMMU cannot tell their DMA apart")
        return f"{dev.name} starts group {n}: no device that came before it shares its stream ID"
    if rule == "smmu-v3":
        return (f"{dev.name} has group {n} to itself: the SMMUv3 driver gives each non-PCI device a group of "
                "its own (generic_device_group), whatever its stream ID")
    if rule == "dprc":
        return f"{dev.name} starts group {n}: a DPRC container has an ICID of its own"
    if rule == "container":
        return f"{dev.name} shares group {n} with its container {dev.parent}: objects use their container's ICID"
    if rule == "generic":
        return f"{dev.name} starts group {n}: each {dev.bus.name} device has a requester ID of its own"
    o = k.devices.get(other)
    if joined is None:
        return _starts(k, dev, n)
    if rule == "dma-alias":
        return (f"{dev.name} shares group {n} with {o.name}: behind the {_word(o)} {o.name} the IOMMU "
                f"sees {o.name}'s requester ID for its DMA, not its own")
    if rule == "no-acs-above":
        culprit = first_without_acs(k, o) or o
        place = f"{_word(culprit)} {culprit.name} has no ACS"
        if culprit is not o:
            place += f" (above {_word(o)} {o.name})"
        return f"{dev.name} shares group {n} with {o.name} because {place}, so everything below it is one group"
    if rule == "multifunction":
        return (f"{dev.name} joins {o.name} in group {n}: they are functions of one multifunction device "
                f"without ACS, which may talk to each other without the IOMMU seeing it")
    if rule == "quirk-alias":
        return (f"{dev.name} joins group {n}: a quirk says it uses another function's requester ID "
                f"({', '.join(dev.dma_alias) or o.name})")
    return f"{dev.name} is in group {n}"


def _starts(k, dev, n):
    """Why a PCI device got a new group, and what that means for devices after it."""
    above = upstream_bridge(k, dev)
    where = ("it sits on the root bus" if above is None
             else "every port above it up to the root has ACS, so the IOMMU can tell its DMA apart")
    notes = []
    if is_multifunction(k, dev) and not pci_acs_enabled(k, dev):
        notes.append("it is the first function of a multifunction device without ACS: its other functions join it")
    if dev.kind in DOWNSTREAM_PORT_KINDS and not dev.acs:
        notes.append(f"this {_word(dev)} has no ACS itself, so everything below it will join its group")
    if dev.kind in PCI_BRIDGE_KINDS:
        notes.append("devices behind this bridge use its requester ID, so they will join its group")
    return f"{dev.name} starts group {n}: {where}" + "".join(f"; {x}" for x in notes)


def explain_group(k, device):
    """The chain of reasons for a device's group: the device's own, then each other member's."""
    dev = k.devices[device] if isinstance(device, str) else device
    order = _arrival(k)
    lines = [why(k, dev, order)]
    if dev.iommu_group is not None:
        for other in dev.iommu_group.devices:
            if other is not dev:
                lines.append(why(k, other, order))
    return lines


# --- the rule behind a group, as a tag ------------------------------------------------------------
#
# group_rule(k, device) names the rule why() words, as a short stable tag. A device that joined a
# group at its arrival gets the tag of the rule it joined by. The device that started a group gets
# "alone" when no device joined it, else the tag of the rule by which the first device after it
# joined (the reason its group is shared: a root port without ACS -> "no-acs-above", the first
# function of a multifunction device without ACS -> "multifunction", a PCIe-to-PCI bridge ->
# "dma-alias", the first of two devices sharing a stream ID -> "stream-id").
#
#   alone             it started a group of its own and no device joined it (every port above it
#                     has ACS, or it is on the root bus; generic_device_group(); a stream ID no
#                     other device uses)
#   no-acs-above      pci_device_group()'s walk towards the root: a bridge whose path to the root
#                     lacks ACS pulls the device into that bridge's group (or the device is that
#                     port, and devices below it joined)
#   multifunction     get_pci_function_alias_group(): functions of one multifunction device
#                     without ACS share a group
#   dma-alias         pci_for_each_dma_alias(): behind a PCIe-to-PCI (or conventional) bridge the
#                     IOMMU sees the bridge's requester ID (or the device is that bridge)
#   quirk-alias       get_pci_alias_group(): a quirk DMA alias on the same bus (pci_devs_are_dma_aliases)
#   stream-id         arm_smmu_device_group(): devices with one SMMU stream ID share a group
#   fsl-mc-container  fsl_mc_device_group(): fsl-mc objects use their DPRC container's ICID
#   scenario          the scenario file names the group (group = N): no kernel rule decided
#   noiommu           a VFIO no-IOMMU group: no IOMMU sees the device; VFIO made a group for it alone
#   no-group          it has no IOMMU group: no IOMMU sits in front of it (a device on a bus without
#                     DMA-ownership hooks, such as USB, has its DMA done by its controller)

GROUP_RULES = {
    "alone": "alone: it started a group of its own and no device joined it",
    "no-acs-above": "ACS along the path: a port without ACS (above the device, or the device itself) "
                    "puts everything below it in one group",
    "multifunction": "multifunction without ACS: functions of one device without ACS share a group",
    "dma-alias": "a PCIe-to-PCI bridge's alias: the IOMMU sees the bridge's requester ID for "
                 "everything behind it",
    "quirk-alias": "a quirk's DMA alias: a quirk says a function uses another function's requester ID",
    "stream-id": "a shared stream ID: the SMMU cannot tell devices with one stream ID apart",
    "fsl-mc-container": "an fsl-mc container's ICID: objects use their DPRC container's ICID and "
                        "share its group",
    "scenario": "the scenario says so: its group = N decides, not a kernel rule",
    "noiommu": "VFIO's no-IOMMU mode: no IOMMU sees its DMA, and VFIO made a group for it alone",
    "no-group": "no group: no IOMMU sees the device itself (a USB or I2C device's DMA is its "
                "controller's, in the controller's group)",
}

_JOINED_BY = {"dma-alias": "dma-alias", "no-acs-above": "no-acs-above", "multifunction": "multifunction",
              "quirk-alias": "quirk-alias", "stream-id": "stream-id", "container": "fsl-mc-container"}


def _joined_tag(k, dev, order):
    """The tag of the rule dev joined its group by at its arrival, or None when it started it."""
    if dev.explicit_group is not None:
        return "scenario"
    me = order[dev.name]

    def group_of(d):
        return d.iommu_group if order.get(d.name, me + 1) < me else None
    joined, (rule, _other) = dev.bus.ops.device_group(k, dev, group_of)
    if rule == "container":                 # why() words an fsl-mc object as sharing its container's
        return _JOINED_BY[rule]
    return _JOINED_BY.get(rule) if joined is not None else None


def group_rule(k, device):
    """The tag (a key of GROUP_RULES) of the rule that decided device's group, replayed as at its
    arrival the way why() does: the rule it joined by; for the device that started its group,
    "alone" or the rule the first device after it joined by. A Device or a device name."""
    dev = k.devices[device] if isinstance(device, str) else device
    g = dev.iommu_group
    if g is None:
        return "no-group"
    if is_noiommu_group(g):
        return "noiommu"
    order = _arrival(k)
    tag = _joined_tag(k, dev, order)
    if tag is not None:
        return tag
    for other in sorted((d for d in g.devices if d is not dev), key=lambda d: order[d.name]):
        tag = _joined_tag(k, other, order)
        if tag is not None:
            return tag
    return "alone"


# --- ownership: who holds a group, read from the iommu core's own state --------------------

TEST_REMOVE_FIX = "f429378a9bf8 (6.6-rc1; stable 6.5.3, 6.4.16 and 6.1.53)"


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def _group_and_device(k, x):
    """(group or None, device or None) for a group number, a group, a device or a device name."""
    from .device import Device
    from .iommu import IommuGroup
    if isinstance(x, IommuGroup):
        return x, None
    if isinstance(x, Device):
        return x.iommu_group, x
    if isinstance(x, int) or (isinstance(x, str) and x.isdigit() and x not in k.devices):
        if int(x) not in k.iommu_groups:
            raise ValueError(f"no IOMMU group {x}")
        return k.iommu_groups[int(x)], None
    name = device_name(k.devices, x)
    if name is None:
        raise ValueError(f"no device {x}")
    return k.devices[name].iommu_group, k.devices[name]


def explain_ownership(k, group_or_device):
    """Whether a group (or a device's group) is free for user space, and why, from the state the
    iommu core keeps in struct iommu_group: owner, owner_cnt and what each count is. A group
    number, an IommuGroup, a Device or a device name; returns the sentences."""
    g, dev = _group_and_device(k, group_or_device)
    if g is None:
        head = (f"{dev.name} has no IOMMU group: nothing tracks its DMA ownership, and VFIO cannot "
                "give it to user space")
        if dev.bus.dma_hooks:
            return [head]
        drv = (f"its driver {dev.driver.name} never counts: " if dev.driver is not None else "")
        return [head, f"{drv}the {dev.bus.name} bus has no DMA-ownership hooks; its DMA is done by its "
                f"{controller_words(dev)}, and only the controller's driver can count, in the controller's group"]
    if is_noiommu_group(g):
        return [f"group {g.id} is a VFIO no-IOMMU group: nothing translates or isolates its DMA, so VFIO "
                "never claims it (owner_cnt stays 0); user space with CAP_SYS_RAWIO opens "
                f"/dev/vfio/noiommu-{g.id}, and the kernel is tainted"]
    if k.f.rfc2021:
        return _rfc_ownership(k, g)
    if not k.f.has_ownership:
        return _old_viability(k, g)
    if g.owner is not None or (g.owner_cnt and g.domain is g.blocking_domain is not None):
        return _claimed(k, g)
    return _counted(k, g)


def counted_devices(g):
    """The group's devices whose bound driver holds a default-domain use (a count of owner_cnt)."""
    return [d for d in g.devices if dma_configure_uses_default_domain(d)]


def _direct_uses(k, g):
    """Net iommu_device_use_default_domain() calls made directly (not from a bus's dma_configure)
    for this group, from the event history: [(step, device)] of the uses still outstanding."""
    open_uses = []
    for ev in k.events:
        if ev.depth != 0 or not ev.groups or ev.groups[0][0] != g.id:
            continue
        if ev.func == "iommu_device_use_default_domain" and ev.result == 0:
            open_uses.append((ev.step, ev.args[0]))
        elif ev.func == "iommu_device_unuse_default_domain" and open_uses:
            open_uses.pop()
    return open_uses


def _leaks(k):
    return bool(k.config.get("CONFIG_DEBUG_TEST_DRIVER_REMOVE")) and not k.f.test_remove_cleanup_fix


def _counted(k, g):
    """No owner: owner_cnt counts kernel DMA-API users only."""
    n, cnt = g.id, g.owner_cnt
    counted = counted_devices(g)
    if cnt == 0 and not counted:
        return _viable(k, g)
    names = ", ".join(d.driver.name for d in counted)
    drivers = f"{_plural(len(counted), 'bound kernel DMA driver')} ({names})"
    stray = cnt - len(counted)
    if stray < 0:
        verdict = (f"is viable for VFIO (owner_cnt 0) although it has {drivers}" if cnt == 0 else
                   f"is not viable: owner_cnt {cnt} is less than its {drivers}")
        return [f"group {n} {verdict}: a driver is bound without its count (cdx_dma_configure() "
                "returns 0 when the use failed), or someone gave back a count that was not theirs"
                ] + _why_counted(counted)
    direct = _direct_uses(k, g)[:stray]
    leaked = stray - len(direct) if _leaks(k) else 0
    other = stray - len(direct) - leaked
    parts = _stray_parts(leaked, len(direct), other)
    head = " and ".join([drivers] + parts) if counted else "no bound kernel DMA driver: " + " and ".join(parts)
    lines = [f"group {n} is not viable: owner_cnt {cnt} counts {head}"]
    lines += _why_counted(counted) + _not_counted(g)
    if leaked:
        lines.append(_the_leak(k))
    lines += [f"step {step}: iommu_device_use_default_domain({name}) was called directly, with no "
              "matching iommu_device_unuse_default_domain()" for step, name in direct]
    if other:
        lines.append(_not_the_leak(k))
    lines.append(f"VFIO sees group {n} as claimed (iommu_group_dma_owner_claimed()), so "
                 f"VFIO_GROUP_GET_STATUS has no VIABLE flag and QEMU says \"group {n} is not viable\"")
    return lines


def _viable(k, g):
    n = g.id
    head = (f"group {n} is viable: owner_cnt 0 — no bound kernel DMA driver counts in it and nobody "
            "owns it, so VFIO or iommufd may claim it")
    if n not in k.vfio_groups:
        head += (f" once one of its devices is on a VFIO driver (until then there is no /dev/vfio/{n} "
                 "for user space to open)")
    return [head] + _not_counted(g) + _msi(k, g)


def _msi(k, g):
    """Viable is not enough where the platform cannot isolate MSIs (no interrupt remapping): VFIO's
    type1 refuses to attach the group (vfio_iommu_type1_attach_group) and iommufd to bind a device
    (iommufd_device_bind), each unless its allow_unsafe_interrupts parameter is set."""
    if iommu_group_has_isolated_msi(g):
        return []
    off = [p for p in ("vfio_iommu_type1.allow_unsafe_interrupts", "iommufd.allow_unsafe_interrupts")
           if not k.params.get(p)]
    if not off:
        return ["the platform cannot isolate MSIs, and both allow_unsafe_interrupts parameters are on: "
                "VFIO and iommufd accept the group anyway (and the kernel logs a warning)"]
    return ["the platform cannot isolate MSIs (no interrupt remapping): "
            + " and ".join(f"{'legacy VFIO (type1)' if p.startswith('vfio') else 'iommufd'} refuses the group "
                           f"until {p} is set" for p in off)]


def _stray_parts(leaked, direct, other):
    """The counts no bound driver explains, by cause."""
    parts = []
    if leaked:
        parts.append(f"{_plural(leaked, 'count')} with no driver behind it — "
                     f"{'a leaked count' if leaked == 1 else 'leaked counts'}; see CONFIG_DEBUG_TEST_DRIVER_REMOVE")
    if direct:
        parts.append(f"{_plural(direct, 'count')} taken by a kernel-API caller "
                     "(iommu_device_use_default_domain() called directly)")
    if other:
        parts.append(f"{_plural(other, 'count')} with no driver behind it — a kernel-API caller's "
                     "iommu_device_use_default_domain() without its unuse")
    return parts


def _the_leak(k):
    return (f"this {k.f.release} kernel has CONFIG_DEBUG_TEST_DRIVER_REMOVE=y without {TEST_REMOVE_FIX}: "
            "really_probe() probes each driver twice, and its test_remove pass calls remove() but not "
            "dma_cleanup(), so every bind of a kernel DMA driver (unless it suppresses bind attributes) "
            "leaves owner_cnt one too high; unbinding gives only one count back, and only a reboot (or "
            "removing every device of the group) clears the rest")


def _not_the_leak(k):
    if not k.config.get("CONFIG_DEBUG_TEST_DRIVER_REMOVE"):
        return "it is not the test_remove leak: this kernel has no CONFIG_DEBUG_TEST_DRIVER_REMOVE"
    return f"it is not the test_remove leak: this {k.f.release} kernel has {TEST_REMOVE_FIX.split()[0]}"


def _why_counted(counted):
    return [f"{d.name} is bound to {d.driver.name}, which uses the kernel DMA API "
            f"(driver_managed_dma false): {d.bus.ops.dma_configure.__name__}() took a "
            "default-domain use when it probed; unbind it to give the count back" for d in counted]


def _not_counted(g):
    counted = counted_devices(g)
    out = []
    for d in g.devices:
        if d.driver is None or d in counted:
            continue
        if d.driver.driver_managed_dma:
            out.append(f"{d.name} is bound to {d.driver.name}, which sets driver_managed_dma: it does not count")
        else:
            out.append(f"{d.name} is bound to {d.driver.name}, but the {d.bus.name} bus of this kernel has "
                       "no DMA-ownership hooks: it does not count")
    return out


def _owner_words(k, g):
    from .iommufd import IommufdCtx
    from .vfio import VfioGroup
    from .vfio_container import VfioContainer
    o, lab = g.owner, g.owner_label()
    if isinstance(o, VfioGroup):
        return True, f"the VFIO group {lab} (its file is /dev/vfio/{o.id})"
    if isinstance(o, VfioContainer):
        return True, (f"the VFIO container file {lab} (/dev/vfio/vfio): on this kernel VFIO claims a "
                      "group with its container's file (later kernels with the vfio_group)")
    if isinstance(o, IommufdCtx):
        return True, f"the iommufd context {lab} (a /dev/iommu file, or /dev/vfio/vfio in compat mode)"
    if o is None:
        return False, ("a NULL owner: a kernel-API caller's iommu_group_claim_dma_owner(group, NULL), "
                       "which 5.19–6.1 accept (6.2 refuses it with a WARN)")
    return False, f"{lab}, a kernel-API caller's owner cookie"


def _claimed(k, g):
    from .iommufd import IommufdCtx, IommufdDevice
    n, cnt = g.id, g.owner_cnt
    user, words = _owner_words(k, g)
    who = "user space" if user else "a kernel-API caller, not user space"
    lines = [f"group {n} is claimed by {who}: its owner is {words}"]
    if isinstance(g.owner, IommufdCtx):
        bound = [o.dev.name for o in g.owner.objects.values()
                 if isinstance(o, IommufdDevice) and o.dev in g.devices]
        lines.append(f"owner_cnt {cnt} counts {_plural(len(bound), 'device')} bound to {g.owner_label()} "
                     f"({', '.join(bound)}): iommufd claims per device (iommu_device_claim_dma_owner())")
    elif cnt == 1:
        lines.append("owner_cnt 1 counts that one claim")
    else:
        lines.append(f"owner_cnt {cnt} counts the claim and {_plural(cnt - 1, 'more claim')} by the same "
                     "owner (iommu_device_claim_dma_owner())")
    vg = k.vfio_groups.get(n)
    if user and vg is not None and vg.container is not None:
        lines.append(f"the group is in the VFIO container {vg.container.label()} "
                     f"(IOMMU type: {vg.container.iommu_driver or 'not set yet'})")
        if not any(d.vfio_device is not None for d in g.devices):
            lines.append("no device of the group is bound to a VFIO driver any more, yet the group stays "
                         "in its container and claimed until VFIO_GROUP_UNSET_CONTAINER or the close of "
                         "its group file" + ("" if k.f.vfio_force_detach_on_last_unbind else
                                             " (5.19 and 6.0 do not detach it when the last device goes)"))
    elif user and vg is not None and vg.iommufd is not None:
        lines.append(f"the group is set to {vg.iommufd.label()} through /dev/vfio/vfio "
                     "(iommufd's VFIO compat container)")
    lines.append(f"its domain is {_domain_words(g)}")
    holders = _holders(k, g)
    if holders:
        lines += holders
    elif user:
        lines.append("no process holds its files now")
    lines.append("while it is claimed, binding a kernel DMA driver to one of its devices fails with "
                 "-EBUSY and another owner's claim with -EPERM")
    return lines


def _domain_words(g):
    kind, d = g.domain_kind(), g.domain
    if kind in ("user", "private"):
        return f"the owner's page table {d.name} ({g.domain_label()})"
    return {None: "none", "blocking": "the blocking domain: no page table of the owner is attached yet, "
            "DMA is blocked"}.get(kind) or f"still the default {d.type} domain"


def _relevant(f, g):
    from .process import _groups_of_file
    return f.obj is g.owner or g in _groups_of_file(f)


def _holders(k, g):
    """Which processes hold the group's files or its owner's (k.state()["processes"] shows them)."""
    lines = []
    for pid, p in sorted(k.processes.items()):
        fds = [f"fd {fd} {f.path}" for fd, f in sorted(p.fds.items()) if _relevant(f, g)]
        if fds:
            lines.append(f"{p.name} (pid {pid}) holds {', '.join(fds)}")
    return lines


def _old_viability(k, g):
    """Before 5.19: no owner or owner_cnt; VFIO's own allow-list decides (vfio_dev_viable)."""
    from .vfio import vfio_dev_viable_old
    n = g.id
    vg = k.vfio_groups.get(n)
    lines = [f"Linux {k.f.release} has no owner or owner_cnt (DMA ownership is 5.19's): VFIO decides "
             "viability itself — every device of the group must have no driver, a VFIO driver, "
             "pci-stub, or be a PCI bridge"]
    bad = [d for d in g.devices if not vfio_dev_viable_old(d, vg)]
    if bad:
        lines.append(f"group {n} is not viable: " + "; ".join(
            f"{d.name} is bound to {d.driver.name}, a kernel driver VFIO does not allow" for d in bad))
    else:
        lines.append(f"group {n} is viable: " + "; ".join(_old_reason(d, vg) for d in g.devices))
    if vg is None:
        lines.append(f"no device of group {n} is bound to a VFIO driver, so there is no /dev/vfio/{n}")
    elif vg.container_users:
        lines.append(f"user space is using group {n} (it is in a container): on this kernel binding "
                     "a kernel driver to one of its devices hits VFIO's BUG_ON (5.19 made it -EBUSY)")
        lines += _holders(k, g)
    return lines


def _old_reason(d, vg):
    if d.driver is None:
        return f"{d.name} has no driver"
    if d.vfio_device is not None and d.vfio_device.group is vg:
        return f"{d.name} is bound to {d.driver.name}"
    if d.driver.name == "pci-stub":
        return f"{d.name} is bound to pci-stub"
    return f"{d.name} is a bridge ({d.driver.name})"


def _rfc_ownership(k, g):
    """The unmerged November 2021 design: a tri-state dma_owner instead of owner/owner_cnt."""
    from .rfc2021 import DMA_OWNER_KERNEL, DMA_OWNER_NONE, driver_claims_kernel_owner
    n, cnt, mode = g.id, g.owner_cnt, g.dma_owner
    lines = [f"this kernel has the RFC of November 2021: group {n}'s dma_owner is {mode} "
             f"with owner_cnt {cnt}"]
    if mode == DMA_OWNER_NONE:
        lines.append(f"group {n} is viable: nobody claimed it")
    elif mode == DMA_OWNER_KERNEL:
        users = [d for d in g.devices if d.driver is not None and driver_claims_kernel_owner(d.driver)]
        names = ", ".join(d.driver.name for d in users)
        lines.append(f"group {n} is not viable: owner_cnt {cnt} counts "
                     f"{_plural(len(users), 'bound kernel DMA driver')} ({names})")
        if k.config.get("CONFIG_DEBUG_TEST_DRIVER_REMOVE"):
            lines.append("the RFC claims before really_probe()'s re_probe label, so "
                         "CONFIG_DEBUG_TEST_DRIVER_REMOVE leaks no count here")
    else:
        lines.append(f"group {n} is claimed by user space: owner_cnt {cnt} counts its VFIO devices, "
                     f"recorded with the file {g.owner_user_file.label()}")
        lines += _holders(k, g)
    return lines
