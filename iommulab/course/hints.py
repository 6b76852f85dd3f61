"""Computed hints: from the learner's own state, the next action towards the goal and why — never
the whole path. When the goal cannot be reached from here within the level's bound (something was
broken on the way), the shortest way back: how many undos reach a step from which it can.
"""
from dataclasses import dataclass

from .goals import Observed, kernel_dma_users


@dataclass
class Hint:
    """`kind`: "authored" (the level's own words), "next" (computed: `line` is the action),
    "way-back" (undo `undo` steps first), "done" (the goal holds), "stuck" (no way within the bound)."""
    kind: str
    text: str
    line: str = ""
    undo: int = 0

    def __str__(self):
        return self.text + (f"\n  try: {self.line}" if self.line else "")

    def _repr_html_(self):
        import html
        code = f"<br><code>{html.escape(self.line)}</code>" if self.line else ""
        return f'<div class="iommulab-hint"><b>hint</b> — {html.escape(self.text)}{code}</div>'


def action_reason(k, action, devices=None):
    """Why this action helps, in the kernel's terms, from the state before it (of `devices` only)."""
    s = k.state(devices)
    a = action.args
    if action.kind == "unbind":
        dev, drv = a[0], a[2]
        d = s["devices"].get(dev, {})
        if d.get("managed") is False:
            n = d.get("group")
            if k.version < (5, 19):              # no owner_cnt yet: VFIO's own viability walk
                return (f"{dev} is still on {drv}, a driver that is not VFIO's: VFIO finds group {n} not "
                        "viable while any member is bound to one (vfio_dev_viable)")
            return (f"{dev} is still on {drv}, a kernel DMA driver: it counts in group {n}'s owner_cnt, which "
                    "must be 0 before user space can own the group or its type can change")
        return f"{dev} must leave {drv} first"
    if action.kind == "override":
        return (f"with driver_override set to {a[2]}, only {a[2]} may bind {a[0]} — its host driver cannot "
                "take it back on the next probe")
    if action.kind == "clear-override":
        return f"{a[0]}'s driver_override must be cleared before its own driver can bind it again"
    if action.kind == "bind":
        d = s["devices"].get(a[0], {})
        if a[2].startswith("vfio"):
            return f"{a[0]} must be bound to {a[2]} before user space can open it through VFIO"
        return f"{a[0]} is not bound to {a[2]} yet" + (" (it has no driver)" if not d.get("driver") else "")
    if action.kind == "vm":
        devs, path = a[:2]
        n = s["devices"].get(devs[0], {}).get("group")
        owner = s["groups"].get(n, {}).get("owner", "NULL")
        if owner != "NULL":
            return (f"group {n} is already owned by {owner}: start a VM with {', '.join(devs)} and see what "
                    "the kernel answers another owner")
        if n is not None and not kernel_dma_users(Observed(k, s), n):
            cnt = s["groups"].get(n, {}).get("owner_cnt", 0)
            if cnt:
                return (f"no device of group {n} is on a kernel DMA driver, yet its owner_cnt is {cnt}: start "
                        f"QEMU with {', '.join(devs)} and read what VFIO answers")
            return f"no device of group {n} is on a kernel DMA driver now: QEMU can take it ({path} VFIO)"
        return f"try the VM with {', '.join(devs)} and see what the kernel says"
    if action.kind == "kill":
        p = s["processes"].get(a[0], {})
        held = p.get("holds", {}).get("groups", [])
        return (f"process {a[0]} ({p.get('name', '?')}) holds group{'s' if len(held) != 1 else ''} "
                f"{', '.join(map(str, held)) or 'nothing'} open; it must let go first")
    if action.kind == "type":
        return f"group {a[0]}'s default domain is changed by writing its type file"
    if action.kind == "remove":
        return f"{a[0]} leaves the machine"
    if action.kind == "rescan":
        return "a rescan finds the removed devices again"
    if action.kind == "sriov":
        dev, n = a
        if n != "0":
            return (f"{dev} is an SR-IOV physical function: writing {n} to its sriov_numvfs creates a virtual "
                    "function, a PCI device with a requester ID (and here a group) of its own")
        return f"writing 0 to {dev}'s sriov_numvfs removes its virtual functions"
    if action.kind == "param":
        path, value = a
        name = path.split("/")[-1]
        module = path.split("/")[3] if path.count("/") > 3 else ""
        return (f"{module}'s {name} must be {'on' if value == '1' else 'off'}: without interrupt remapping "
                "that isolates MSIs, VFIO refuses the device unless the administrator allows it")
    if action.kind == "reboot":
        return "the kernel has crashed: only a reboot brings it back"
    return ""
