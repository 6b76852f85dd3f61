"""Refusals carry their reason (issue 12, item 1): every refusal path of the model records a
reason code with its facts on the refusing event (kernel/reasons.py); every code of the catalogue
is used by a refusal site and has a sentence in the view layer that renders with that site's
facts; events have typed kinds, operation codes and structured references; and the views word
refusals, WARNs and owners from those, not from function names, errno numbers or labels."""
import ast
import errno
import re
from pathlib import Path

import pytest

from iommulab import Kernel
from iommulab.kernel.iommu import iommu_device_unuse_default_domain, iommu_group_claim_dma_owner
from iommulab.kernel.reasons import CODES, Reason, origin, refuse
from iommulab.viz import explain
from iommulab.viz.explain import SENTENCES, refusal, sentence, words
from iommulab.viz.model import build, describe_action, owner_kind
from iommulab.viz.plot import series
from conftest import bind, dev, drv, make, unbind
from test_refused_changes_nothing import CASES, W, _resolve, machine, user_op

ROOT = Path(__file__).resolve().parent.parent
E = errno


def _run(version, kind, target, arg):
    """Drive one refused operation of test_refused_changes_nothing's table; returns (kernel, the
    refused step's events, the errno the caller saw)."""
    k, p, fds = machine(version)
    if kind == "api" and target.__name__ == "iommu_attach_group":
        from iommulab.kernel.iommu import iommu_paging_domain_alloc
        arg = (iommu_paging_domain_alloc(k.devices["0000:04:00.0"], "Dx"), "G2")
    args = [_resolve(k, fds, a) for a in (arg or ())] if kind == "api" else None
    if kind == "override-bind":
        k.write(f"/sys/bus/pci/devices/{target}/driver_override", arg)
    start = len(k.events)
    seen = 0
    if kind == "api":
        seen = -target(*args)
    else:
        try:
            if kind in (W, "override-bind"):
                k.write(f"/sys/bus/pci/drivers/{arg}/bind" if kind == "override-bind" else target,
                        target if kind == "override-bind" else arg)
            else:
                user_op(p, fds, kind, target, arg)
        except OSError as e:
            seen = e.errno
    evs = k.events[start:]
    last = evs[-1].step
    return k, [e for e in evs if e.step == last], seen


# What the refusal is, for each row of the table: the code the kernel's condition gives.
EXPECTED = {
    "bind unknown device": "no-such-device", "bind without a match": "driver-does-not-match",
    "bind an already bound device": "device-already-bound", "probe fails": "probe-failed",
    "kernel driver into a user-owned group": "device-already-bound", "vfio-pci refuses a bridge": "not-a-header-type-normal",
    "a port is already bound to pcieport": "device-already-bound",
    "unbind a device of another driver": "not-bound-to-driver", "unbind an unbound device": "not-bound-to-driver",
    "new_id junk": "bad-id", "new_id one field": "bad-id", "new_id already matched": "id-already-matched",
    "remove_id unknown": "no-such-dynid", "drivers_probe unknown device": "no-such-device",
    "rescan junk": "bad-value", "remove junk": "bad-value", "override too long": "buffer-too-long",
    "type while bound": "group-in-use", "type junk": "type-unknown", "type of an owned group": "group-owned",
    "module parameter junk": "bad-value", "read-only file": "read-only", "a directory": "is-a-directory",
    "no such file": "no-such-file", "usb has no driver_override": "no-such-file",
    "open a group with no VFIO device": "group-has-no-vfio-device", "open a group file twice": "group-file-open",
    "open a missing cdev": "no-such-file", "open a missing node": "no-such-file",
    "SET_CONTAINER not viable": "group-in-use", "SET_CONTAINER bad fd": "bad-fd",
    "SET_CONTAINER /dev/null": "not-a-container", "SET_CONTAINER twice": "group-has-container",
    "UNSET_CONTAINER nothing set": "group-no-container", "UNSET_CONTAINER devices open": "container-users",
    "GET_DEVICE_FD unknown": "no-such-vfio-device", "GET_DEVICE_FD no container": "group-no-container",
    "SET_IOMMU twice": "iommu-already-set", "unknown ioctl": "unknown-ioctl", "ioctl on a closed fd": "bad-fd",
    "close a closed fd": "bad-fd", "claim a kernel-used group": "group-in-use", "claim an owned group": "group-owned",
    "device claim, other owner": "owned-by-other", "device claim, no group": "no-group",
    "use_default in an owned group": "group-owned", "attach over a user domain": "domain-changed",
    "attach_device, two devices": "group-not-singleton", "pasid 0": "pasid-invalid",
}


def test_the_expectations_cover_the_whole_table():
    assert set(EXPECTED) == {c[0] for c in CASES}


@pytest.mark.parametrize("name,kind,target,arg,want", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("version", ["6.6", "6.18"])
def test_every_refusal_records_its_reason(version, name, kind, target, arg, want):
    k, evs, seen = _run(version, kind, target, arg)
    assert seen == abs(want)
    reason = origin(evs)
    assert isinstance(reason, Reason) and reason.code == EXPECTED[name], (name, reason)
    assert reason.code in CODES and reason.errno == seen
    carrier = next(e for e in evs if e.reason is reason)
    assert carrier.refused or carrier.result == reason.errno           # on the call that refused
    text = sentence(reason)
    assert text and "{" not in text
    rule = refusal(k, evs)
    assert rule[0] == f"-{E.errorcode[seen]}" and rule[2] == text


def test_facts_are_structured_references_not_labels():
    k, evs, _ = _run("6.6", "api", iommu_group_claim_dma_owner, ("G1", "X"))
    r = origin(evs)
    assert r.code == "group-in-use" and r.facts["group"] == ("group", 1) and r.facts["owner_cnt"] == 1
    assert r.facts["kernel_users"] == (("device", "0000:01:00.1"),)
    assert r.facts["drivers"] == (("driver", "snd_hda_intel"),) and r.facts["owner"] is None
    assert sentence(r) == ("group 1 has owner_cnt 1: 0000:01:00.1 is bound to snd_hda_intel, a kernel DMA "
                           "driver: user space can only own a group nobody else uses")
    k, evs, _ = _run("6.6", "api", iommu_group_claim_dma_owner, ("G2", "X"))
    r = origin(evs)
    assert r.facts["owner"] == ("vfio_group", 2)
    assert sentence(r).startswith("group 2 is owned by user space (vfio_group:2, owner_cnt 1)")
    assert r.as_dict()["facts"]["group"] == ["group", 2]


def test_a_refusal_outside_any_traced_call_is_just_the_errno():
    k = make("6.6", devices=[dev("0000:01:00.0", group=1)])
    n = len(k.events)
    assert refuse(k, E.EBUSY, "group-owned", group=k.iommu_groups[1]) == -E.EBUSY
    assert len(k.events) == n and all(e.reason is None for e in k.events)
    with pytest.raises(KeyError):
        refuse(k, E.EBUSY, "no-such-code")


def test_an_outer_site_passing_the_same_errno_on_keeps_the_inner_reason():
    # vfio-pci's probe refuses a bridge (-EINVAL); call_driver_probe() passes it on as a probe failure.
    k, evs, _ = _run("6.6", "override-bind", "0000:06:00.0", "vfio-pci")
    probe = next(e for e in evs if e.reason is not None and e.reason.errno == E.EINVAL)
    assert probe.reason.code == "not-a-header-type-normal" and probe.reason.facts["kind"] == "pcie-to-pci-bridge"


def test_tolerated_inner_refusals_do_not_explain_a_success():
    k = make("6.6", devices=[dev("0000:01:00.0", group=1, id="8086:10d3")],
             drivers=[drv("failing", probe=-12, ids=["8086:10d3"])])
    k.write("/sys/bus/pci/drivers_probe", "0000:01:00.0")          # probe fails; drivers_probe says 0
    evs = [e for e in k.events if e.step == k.events[-1].step]
    assert not evs[0].refused and refusal(k, evs) is None


# --- the catalogue, the refusal sites and the sentences -----------------------------------------------

def _refuse_calls():
    """(file, line, code(s), fact names) of every refuse() call in the kernel package."""
    out = []
    for path in sorted((ROOT / "iommulab" / "kernel").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for fn in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Lambda))] or [tree]:
            dicts = {t.id: {kw.arg for kw in a.value.keywords}
                     for a in ast.walk(fn) if isinstance(a, ast.Assign) and isinstance(a.value, ast.Call)
                     and getattr(a.value.func, "id", None) == "dict" for t in a.targets if isinstance(t, ast.Name)}
            for call in ast.walk(fn):
                if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "refuse"):
                    continue
                code = call.args[2]
                codes = ([code.value] if isinstance(code, ast.Constant)
                         else [code.body.value, code.orelse.value])          # "a" if cond else "b"
                names = {kw.arg for kw in call.keywords if kw.arg}
                for kw in call.keywords:
                    if kw.arg is None:
                        names |= dicts[kw.value.id]
                out.append((path.name, call.lineno, tuple(codes), frozenset(names)))
    return set(out)


SAMPLE = {"rc": -12, "kernel_users": (("device", "0000:01:00.1"),), "drivers": (("driver", "nvme"),),
          "devices": (("device", "a"), ("device", "b")), "pasids": (1, 2), "users": 1, "wants": "claim",
          "bound": ("driver", "e1000e"), "driver": ("driver", "vfio-pci"), "owner": ("iommufd", 1)}


def test_every_code_is_used_by_a_refusal_site_and_every_site_uses_a_catalogued_code():
    calls = _refuse_calls()
    used = {c for _, _, codes, _ in calls for c in codes}
    assert len(calls) > 100
    assert used == set(CODES)


def test_every_code_has_a_sentence_and_every_sentence_a_code():
    assert set(SENTENCES) == set(CODES)


@pytest.mark.parametrize("site", sorted(_refuse_calls()), ids=lambda s: f"{s[0]}:{s[1]}")
def test_each_sentence_renders_with_the_facts_its_refusal_site_records(site):
    _, _, codes, names = site
    for code in codes:
        facts = {n: SAMPLE.get(n, ("str", f"<{n}>")) for n in names}
        text = sentence(Reason(code, E.EINVAL, facts))         # a fact the sentence lacks: KeyError
        assert text and "{" not in text and "}" not in text, (code, text)


def test_words_for_each_reference():
    assert [words(v) for v in (("group", 3), ("vfio_group", 2), ("container", 1), ("iommufd", 4),
                               ("process", 1001), ("device", "0000:01:00.0"), ("null", None), None, 7,
                               (("device", "a"), ("device", "b")), ("idev", 1), ("device_file", "x"))] == [
        "group 3", "vfio_group:2", "container_file:C1", "ictx:I4", "process 1001", "0000:01:00.0", "NULL",
        "NULL", "7", "a, b", "idev1", "x's file"]


# --- the sentences of the main rules, driven end to end ------------------------------------------------

def _step(k):
    last = k.events[-1].step
    return [e for e in k.events if e.step == last]


def gpu_audio(version="6.6", **kw):
    return make(version, devices=[dev("0000:01:00.0", id="10de:2204", group=1, driver="vfio-pci"),
                                  dev("0000:01:00.1", id="10de:1aef", group=1, driver="snd_hda_intel")],
                drivers=[drv("snd_hda_intel", ids=["10de:1aef"])], **kw)


def test_kernel_driver_into_an_owned_group():
    k = gpu_audio()
    p = k.spawn("qemu")
    unbind(k, "0000:01:00.1")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    with pytest.raises(OSError):
        k.write("/sys/bus/pci/drivers/snd_hda_intel/bind", "0000:01:00.1")
    name, text, rule = refusal(k, _step(k))
    assert name == "-EBUSY" and text == "Device or resource busy"
    assert rule == ("group 1 is owned by user space (vfio_group:1, owner_cnt 1): a kernel DMA driver may "
                    "not bind into it")


@pytest.mark.parametrize("version,words_", [("6.2", "the platform does not isolate MSIs and iommufd.allow_unsafe_interrupts is off"),
                                            ("6.6", "the platform does not isolate MSIs and iommufd.allow_unsafe_interrupts is off")])
def test_msi_isolation_before_and_after_6_6(version, words_):
    k = make(version, devices=[dev("0000:01:00.0", group=1, driver="vfio-pci")], msi_isolation=False,
             config={"CONFIG_IOMMUFD_VFIO_CONTAINER": True})
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    with pytest.raises(OSError):
        p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0")
    r = origin(_step(k))
    assert r.code == "msi-not-isolated" and r.errno == E.EPERM
    assert refusal(k, _step(k))[2] == words_


def test_require_direct_blocks_a_claim_from_6_6_only():
    devs = [dev("0000:00:14.0", group=1, require_direct=True, driver="vfio-pci")]
    k = make("6.6", devices=devs)
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    with pytest.raises(OSError) as e:
        p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert e.value.errno == E.EINVAL
    r = origin(_step(k))
    assert r.code == "require-direct" and r.facts["device"] == ("device", "0000:00:14.0")
    assert "0000:00:14.0 requires a direct mapping" in sentence(r)
    k = make("6.5", devices=devs)
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)                # 6.5: no require_direct rule
    assert not any(e.reason for e in _step(k))


def test_group_type_before_and_after_6_4():
    devs = [dev("0000:01:00.0", group=1, id="8086:15b8", driver="e1000e")]
    drivers = [drv("e1000e", ids=["8086:15b8"])]
    for version, err, code, rule in (
            ("6.3", E.EBUSY, "type-group-busy", "0000:01:00.0 is still bound to e1000e"),
            ("6.4", E.EPERM, "group-in-use", "group 1 has owner_cnt 1: 0000:01:00.0 is bound to e1000e, a kernel "
                                             "DMA driver: the default domain can only change while nobody uses the group")):
        k = make(version, devices=devs, drivers=drivers)
        with pytest.raises(OSError) as e:
            k.write("/sys/kernel/iommu_groups/1/type", "identity")
        assert e.value.errno == err
        r = origin(_step(k))
        assert r.code == code and rule in sentence(r)


def test_qemu_on_a_group_that_is_not_viable_is_explained_from_the_status_answer():
    k = Kernel.from_scenario("desktop-gpu")
    k.sh("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override\n"
         "echo 0000:01:00.0 > /sys/bus/pci/drivers/nouveau/unbind\n"
         "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind")
    start = len(k.events)
    r = k.sh("qemu-system-x86_64 -device vfio-pci,host=0000:01:00.0")
    assert r.status
    name, text, rule = refusal(k, k.events[start:], r.stderr)
    assert name == "not viable" and "QEMU" in text
    assert "group 1 has owner_cnt 1: 0000:01:00.1 is bound to snd_hda_intel, a kernel DMA driver" in rule


def test_nothing_refused_nothing_to_explain():
    k = gpu_audio()
    start = len(k.events)
    unbind(k, "0000:01:00.1")
    assert refusal(k, k.events[start:]) is None and refusal(k, []) is None


# --- typed events ----------------------------------------------------------------------------------------

def test_events_have_kinds_ops_and_references():
    k = gpu_audio()
    assert k.events[0].kind == "boot" and k.events[0].op == "boot"
    unbind(k, "0000:01:00.1")
    ev = next(e for e in k.events if e.func == "iommu_device_unuse_default_domain")
    assert ev.refs == (("device", "0000:01:00.1"),) and ev.kind == "call"
    write = next(e for e in k.events if e.depth == 0 and e.step == 1)
    assert write.op == "write" and write.refs[1] == ("str", "/sys/bus/pci/drivers/snd_hda_intel/unbind")
    assert describe_action(write) == "write '0000:01:00.1' to /sys/bus/pci/drivers/snd_hda_intel/unbind"
    assert ("unbound", "0000:01:00.1") in [m for e in k.events for m in e.marks]
    p = k.spawn("qemu")
    fd = p.open("/dev/vfio/vfio")
    op = k.events[-1]
    assert op.op == "open" and op.refs[0] == ("process", p.pid) and describe_action(op) == f"qemu[{p.pid}]: open /dev/vfio/vfio"
    with pytest.raises(OSError):
        p.ioctl(fd, "VFIO_DEVICE_RESET")
    last = k.events[-1]
    assert last.kind == "refusal" and last.reason.code == "unknown-ioctl"
    d = last.as_dict()
    assert d["kind"] == "refusal" and d["op"] == "ioctl" and d["reason"]["code"] == "unknown-ioctl"


def test_a_warn_is_a_typed_mark_and_the_plot_reads_it():
    k = make("6.6", devices=[dev("0000:01:00.0", group=1)])
    iommu_device_unuse_default_domain(k.devices["0000:01:00.0"])
    ev = k.events[-1]
    assert ev.marks == (("warn", "iommu_device_unuse_default_domain"),) and ev.kind == "warn" and ev.warned
    _, marks, _ = series(k.events)
    assert (ev.step, "warn") in marks[1]


def test_a_completed_blocked_write_is_a_completion():
    k = gpu_audio()
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    unbind(k, "0000:01:00.1")
    bind(k, "0000:01:00.1", "vfio-pci")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    p.ioctl(g, "VFIO_GROUP_GET_DEVICE_FD", "0000:01:00.0")
    pw = k.write("/sys/bus/pci/drivers/vfio-pci/unbind", "0000:01:00.0")
    assert pw is not None
    p.exit()
    done = [e for e in k.events if any(m[0] == "completion" for m in e.marks)]
    assert done and done[-1].marks[-1][1] == "/sys/bus/pci/drivers/vfio-pci/unbind"


def test_domain_kinds_come_from_the_domain_reference():
    from iommulab.kernel.iommu import iommu_attach_device, iommu_paging_domain_alloc
    k = make("6.6", devices=[dev("0000:01:00.0", group=1, driver="vfio-pci"), dev("0000:02:00.0", group=2)])
    assert k.state()["groups"][1]["domain_ref"] == ("default", "DMA-FQ") and build(k).groups[1].domain_kind == "default"
    d = k.devices["0000:02:00.0"]
    assert iommu_attach_device(iommu_paging_domain_alloc(d, "Dp"), d) == 0
    g = build(k).groups[2]
    assert (g.domain_kind, g.domain_name, g.domain) == ("private", "Dp", "PRIVATE:Dp")
    p = k.spawn("qemu")
    c, fd = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(fd, "VFIO_GROUP_SET_CONTAINER", c)
    assert build(k).groups[1].domain_kind == "blocking" and k.state()["groups"][1]["domain_ref"] == ("blocking", None)
    p.ioctl(c, "VFIO_SET_IOMMU", "VFIO_TYPE1v2_IOMMU")
    g = build(k).groups[1]
    assert g.domain_kind == "user" and g.domain == f"USER:{g.domain_name}" and g.owner_id == 1


def test_owner_kinds_come_from_the_owner_reference():
    assert owner_kind(None, 0) == "free" and owner_kind(None, 2) == "kernel"
    assert owner_kind(("vfio_group", 1), 1) == "vfio-group" and owner_kind(("container", 1), 1) == "container"
    assert owner_kind(("iommufd", 1), 1) == "iommufd" and owner_kind(("str", "X"), 1) == "other"
    k = gpu_audio()
    unbind(k, "0000:01:00.1")
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert k.state()["groups"][1]["owner_ref"] == ("vfio_group", 1)
    assert build(k).groups[1].owner_kind == "vfio-group"
    k = make("6.0", devices=[dev("0000:01:00.0", group=1, driver="vfio-pci")])     # 5.19-6.0: the container owns
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    assert build(k).groups[1].owner_kind == "container"


# --- the views read no names, numbers or labels ----------------------------------------------------------

FORBIDDEN = [(r"\.func\s*(==|!=|\bin\b|\.startswith)", "matches a kernel function's name"),
             (r"errno\s*(==|!=|\bin\b)\s*[\d(]", "compares an errno number"),
             (r"literal_eval", "re-parses argument labels"),
             (r"\bin\s+(ev|e)\.note\b|\.note\s*and", "reads the note text"),
             (r"\.args\s*\[", "indexes argument labels"),
             (r"in\s+stderr|stderr\.(split|find|startswith)", "matches a program's message"),
             (r'owner"?\]?\.startswith|"vfio_group:"|"ictx:"|"container_file:"', "parses owner labels"),
             (r'\.(owner|domain)\.split\(|startswith\("(DEFAULT|USER:|PRIVATE:)', "parses owner or domain labels")]


@pytest.mark.parametrize("layer", ["viz", "widgets"])
def test_views_and_widgets_read_no_function_names_errno_numbers_or_labels(layer):
    faults = []
    for path in sorted((ROOT / "iommulab" / layer).glob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            for pat, what in FORBIDDEN:
                if re.search(pat, line):
                    faults.append(f"{path.name}:{i}: {what}: {line.strip()}")
    assert faults == []


def test_the_check_finds_a_view_that_matches_names():
    bad = 'if ev.func == "really_probe" and ev.errno == 16 and "WARN" in ev.note: x = ast.literal_eval(a)'
    assert sum(bool(re.search(p, bad)) for p, _ in FORBIDDEN) == 4
    assert re.search(FORBIDDEN[-1][0], 'num = g.owner.split(":", 1)[1]')
    assert explain.__doc__ and "function names" in explain.__doc__


# --- each branch of the sentences ------------------------------------------------------------------------

G1, D1, NVME = ("group", 1), ("device", "0000:01:00.0"), ("driver", "nvme")
BRANCHES = [
    ("group-in-use", dict(group=G1, owner_cnt=2, kernel_users=(), drivers=(), wants="claim"),
     "group 1 has owner_cnt 2: no kernel DMA driver is bound, yet it counts (a leaked count): user space can "
     "only own a group nobody else uses"),
    ("group-in-use", dict(group=G1, owner_cnt=1, kernel_users=(D1,), drivers=(NVME,)),
     "group 1 has owner_cnt 1: 0000:01:00.0 is bound to nvme, a kernel DMA driver"),
    ("domain-changed", dict(group=G1, domain=("domain", "D3"), wants="attach"),
     "group 1 has a non-default domain attached (D3), so another domain cannot be attached over it"),
    ("domain-changed", dict(group=G1, domain=("domain", "D3"), wants="kernel-dma"),
     "group 1 has a non-default domain attached (D3), so no further kernel DMA user may join"),
    ("domain-changed", dict(group=G1, domain=("domain", "D3")), "group 1 has a non-default domain attached (D3)"),
    ("pasids-attached", dict(group=G1, pasids=(1, 5), wants="claim"),
     "group 1 has PASIDs attached (1, 5), so user space cannot claim it"),
    ("pasids-attached", dict(group=G1, pasids=(1,), wants="kernel-dma"),
     "group 1 has PASIDs attached (1), so no further kernel DMA user may join"),
    ("not-bound-to-driver", dict(device=D1, driver=NVME, bound=None),
     "0000:01:00.0 is not bound to nvme (it has no driver)"),
    ("not-bound-to-driver", dict(device=D1, driver=NVME, bound=("driver", "vfio-pci")),
     "0000:01:00.0 is not bound to nvme (its driver is vfio-pci)"),
    ("bad-value", dict(param="iommufd.allow_unsafe_interrupts", value="maybe"),
     "'maybe' is not a boolean for iommufd.allow_unsafe_interrupts (y/n, 1/0, on/off)"),
    ("bad-value", dict(value="yes"), "'yes' is not a value this file accepts"),
    ("no-group", dict(device=D1), "0000:01:00.0 has no IOMMU group"),
    ("no-group", dict(vfio_group=("vfio_group", 3)), "vfio_group:3 has no IOMMU group"),
    ("type-conflicts-with-device", dict(group=G1, type="identity"),
     "the devices of group 1 require different default domain types"),
    ("type-conflicts-with-device", dict(group=G1, device=D1, type="identity", needs="DMA"),
     "0000:01:00.0 requires another default domain type, so group 1 cannot take this one"),
    ("no-sriov", dict(device=D1, driver=None), "0000:01:00.0 has no driver, so SR-IOV cannot be configured"),
    ("no-sriov", dict(device=D1, driver=NVME), "nvme does not configure VFs"),
    ("no-sriov", dict(device=D1, driver=("driver", "vfio-pci"), param="vfio_pci.enable_sriov"),
     "vfio-pci does not configure VFs while vfio_pci.enable_sriov is off"),
    ("probe-failed", dict(device=D1, driver=NVME, rc=-12), "nvme's probe() of 0000:01:00.0 failed with -ENOMEM"),
    ("owned-by-other", dict(group=G1, device=D1, owner=("iommufd", 2), owner_cnt=1, wants="claim"),
     "group 1 is owned by user space (ictx:I2, owner_cnt 1): user space can only own a group nobody else uses"),
    ("group-owned", dict(group=G1, owner=("container", 1), owner_cnt=1, wants="type"),
     "group 1 is owned by user space (container_file:C1, owner_cnt 1): the default domain can only change "
     "while nobody uses the group"),
]


@pytest.mark.parametrize("code,facts,text", BRANCHES, ids=[f"{b[0]}-{i}" for i, b in enumerate(BRANCHES)])
def test_sentence_branches(code, facts, text):
    assert sentence(Reason(code, E.EINVAL, facts)) == text


def test_an_inner_refusal_of_a_step_that_succeeded_at_the_top():
    # new_id probes the unbound audio function; its dma_configure is refused (the group is owned by
    # user space) and driver_attach() goes on: the write succeeds, the inner call was refused.
    k = make("6.6", devices=[dev("0000:01:00.0", id="10de:2204", group=1, driver="vfio-pci"),
                             dev("0000:01:00.1", id="10de:1aef", group=1)],
             drivers=[drv("snd_hda_intel")])
    p = k.spawn("qemu")
    c, g = p.open("/dev/vfio/vfio"), p.open("/dev/vfio/1")
    p.ioctl(g, "VFIO_GROUP_SET_CONTAINER", c)
    k.write("/sys/bus/pci/drivers/snd_hda_intel/new_id", "10de 1aef")
    step = [e for e in k.events if e.step == k.events[-1].step]
    assert not step[0].refused and any(e.refused for e in step)
    assert k.devices["0000:01:00.1"].driver is None
    name, text, rule = refusal(k, step)
    assert name == "-EBUSY" and text == "Device or resource busy"
    assert rule == ("group 1 is owned by user space (vfio_group:1, owner_cnt 1): a kernel DMA driver may not "
                    "bind into it")


def test_a_deferred_probe_on_the_bind_path_is_eagain_with_its_reason():
    k = make("6.6", devices=[dev("0000:01:00.0", id="8086:1533", group=1)],
             drivers=[drv("waits", ids=["8086:1533"], probe=-517)])
    with pytest.raises(OSError) as e:
        k.write("/sys/bus/pci/drivers/waits/bind", "0000:01:00.0")
    assert e.value.errno == E.EAGAIN
    r = origin(_step(k))
    assert r.code == "probe-deferred" and r.errno == E.EAGAIN and r.facts["driver"] == ("driver", "waits")
    assert refusal(k, _step(k))[:2] == ("-EAGAIN", "Resource temporarily unavailable")


@pytest.mark.parametrize("caps,err", [(None, E.EINVAL), (frozenset({"CAP_SYS_ADMIN"}), E.EACCES)])
def test_debugfs_files_are_read_only_with_a_reason(caps, err):
    k = make("6.6", devices=[dev("0000:01:00.0", group=1)])
    with pytest.raises(OSError) as e:
        if caps is None:
            k.write("/sys/kernel/debug/iommulab/groups", "x")
        else:
            k.write("/sys/kernel/debug/iommulab/groups", "x", caps=caps)
    assert e.value.errno == err
    r = origin(_step(k))
    assert r.code == "read-only" and sentence(r) == "/sys/kernel/debug/iommulab/groups is read-only"


def test_a_refused_step_without_a_recorded_reason_still_names_the_errno():
    from iommulab.kernel.trace import Event
    ev = Event(0, 1, 0, "some_call", ())
    ev.result = -E.EBUSY
    assert refusal(gpu_audio(), [ev]) == ("-EBUSY", "Device or resource busy", "the kernel refused it")


def test_qemu_viability_words_for_each_kind_of_user():
    st = {"groups": {1: {"owner_cnt": 1, "owner": "vfio_group:1", "devices": ["a"]},
                     2: {"owner_cnt": 2, "owner": "NULL", "devices": ["b", "c"]},
                     3: {"owner_cnt": 1, "owner": "NULL", "devices": ["d"]}},
          "devices": {"a": {"driver": "vfio-pci", "managed": True}, "b": {"driver": "nvme", "managed": False},
                      "c": {"driver": "e1000e", "managed": False}, "d": {"driver": None, "managed": None}}}
    assert explain._owned(st, 1) == "group 1 is owned by user space (vfio_group:1, owner_cnt 1)"
    assert explain._owned(st, 2) == ("group 2 has owner_cnt 2: b is bound to nvme, a kernel DMA driver; "
                                     "c is bound to e1000e, a kernel DMA driver")
    assert explain._owned(st, 3) == "group 3 has owner_cnt 1 although no kernel DMA driver is bound (a leaked count)"
