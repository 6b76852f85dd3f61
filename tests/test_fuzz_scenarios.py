"""An adversarial suite, part 3: scenario-file mutation (issue: robustness, "bad files"). The
library's scenario files, mutated by seeded random edits (lines dropped, doubled or swapped; values
swapped for hostile ones: names with `/`, `..` or newlines, versions such as "6.6\\n" or "٦.٦",
numbers of 2⁴⁰ or -5; characters flipped; devices and drivers added, parent cycles, chains of
bridges, arrays nested deep). Each mutated file must either boot or raise ScenarioError naming
the file, within the time bound and touching no real file; a machine that booted must show its
files: the shell lists every bus's devices and every group without an internal error.
"""
import random
import re
import time

from iommulab import Kernel, ScenarioError
from iommulab.kernel.scenario import SCENARIO_DIR
from test_fuzz_shell import LIMIT_S, FileWatch, Finding, Overran, report, time_bound

SEED = 19
EXAMPLES = 1500
SOURCE = "mutated.toml"
LIBRARY = sorted(p for p in SCENARIO_DIR.glob("*.toml") if p.stat().st_size < 20_000)   # not sriov-2000 (bench)
LOOK = ("ls -l /sys/bus/*/devices /sys/kernel/iommu_groups/*/devices; lspci -nn; "
        "for d in /sys/bus/*/devices/*; do readlink -f $d/driver; done; cat /sys/kernel/iommu_groups/*/type")

HOSTILE = ['"../../x"', '"a/b"', '"x\\ny"', '""', '" "', '"."', '".."', '"0000:01:00.0\\n"', "1099511627776", "-5",
           '"6.6\\n"', '"\u0666.\u0666"', '"99.0"', '"5.17"', '"6"', '"rfc-2021-11"', '"6.6.0.1"', "0x10000000000", "true",
           "[]", "{}", '"0000:ff:1f.7"', '"10000:00:00.0"', '"0001:00:00.0"', '"0000:00:00.8"', '"0000:00:20.0"',
           '"ffff:ffff"', '"*:*"', '"10de:22"', "1e3", "nan", "inf", '"\u00e9"', '"\\u0000"', '["a", 1]',
           '"' + "x" * 5000 + '"', "0", "-1", "2147483648", "{ a = 1 }", '"root-port"', '"conventional"',
           '"pci-bridge"', '"platform"', '"usb"', '"nonesuch"', "0x877", '["10de:2204", "10de:2204"]', '"-19"', "-19",
           "-4095", "false", '"vfio-pci"', '"pcieport"']
KEYS = ["name", "id", "parent", "kind", "bus", "group", "driver", "acs", "multifunction", "present", "class",
        "revision", "streamid", "ids", "probe", "version", "driver_managed_dma", "sriov_totalvfs", "vf_offset",
        "vf_stride", "physfn", "untrusted", "require_direct", "nonesuch"]
CHARS = '[]{}=",\n#\'. 0x\\'
# Values a scenario could well hold, by key: most mutations should still boot, to reach the kernel
PLAUSIBLE = {"acs": ["true", "false"], "multifunction": ["true", "false"], "present": ["true", "false"],
             "untrusted": ["true", "false"], "require_direct": ["true", "false"], "driver_managed_dma": ["true", "false"],
             "kind": ['"endpoint"', '"root-port"', '"downstream-port"', '"upstream-port"', '"pcie-to-pci-bridge"',
                      '"pci-bridge"', '"conventional"'],
             "group": ["0", "1", "2", "45", "1000"], "revision": ["0", "0xa1", "255"], "streamid": ["0x800", "0", "1"],
             "class": ["0x030000", "0x040300", "0x060400", "0x020000", "0x0c0330"],
             "id": ['"10de:2204"', '"8086:1533"', '"10de:1aef"', '"19e5:a222"', '"1234:5678"'],
             "version": ['"5.18"', '"5.19"', '"6.1"', '"6.1.53"', '"6.2"', '"6.4"', '"6.6"', '"6.18"', '"rfc-2021-11"'],
             "driver": ['"vfio-pci"', '"pci-stub"', '"pcieport"', '"nouveau"', '"snd_hda_intel"'],
             "bus": ['"pci"', '"platform"', '"amba"', '"usb"'], "probe": ["0", "-19", "-12", "-517"],
             "sriov_totalvfs": ["0", "4", "7"], "vf_offset": ["1", "8"], "vf_stride": ["1", "2"]}


class Mutator:
    def __init__(self, rng, deep=1000, chain=300):
        self.r, self.deep, self.chain = rng, deep, chain

    def pick(self, xs):
        return self.r.choice(xs)

    def names(self, text):
        return re.findall(r'^name = "([^"]*)"', text, re.M) or ["0000:00:01.0"]

    def mutate(self, text):
        for _ in range(self.pick([1, 1, 1, 1, 2, 2, 3])):
            text = self.pick([self.lines, self.value, self.key, self.chars, self.device, self.driver, self.cycle,
                              self.plausible, self.plausible, self.plausible, self.plausible, self.lines, self.device,
                              self.nested, self.bridges])(text)
        return text

    def lines(self, text):
        ls = text.split("\n")
        i, j = self.r.randrange(len(ls)), self.r.randrange(len(ls))
        op = self.r.random()
        if op < 0.4:
            del ls[i]
        elif op < 0.7:
            ls.insert(j, ls[i])
        else:
            ls[i], ls[j] = ls[j], ls[i]
        return "\n".join(ls)

    def value(self, text):
        spots = list(re.finditer(r"^(\w+) = (.*)$", text, re.M))
        if not spots:
            return text
        m = self.pick(spots)
        return text[:m.start(2)] + self.pick(HOSTILE) + text[m.end(2):]

    def plausible(self, text):
        spots = [m for m in re.finditer(r"^(\w+) = (.*)$", text, re.M) if m.group(1) in PLAUSIBLE or m.group(1) == "parent"]
        if not spots:
            return text
        m = self.pick(spots)
        values = PLAUSIBLE.get(m.group(1)) or [f'"{n}"' for n in self.names(text)]
        return text[:m.start(2)] + self.pick(values) + text[m.end(2):]

    def key(self, text):
        spots = list(re.finditer(r"^(\w+) = ", text, re.M))
        if not spots:
            return text
        m = self.pick(spots)
        return text[:m.start(1)] + self.pick(KEYS) + text[m.end(1):]

    def chars(self, text):
        s = list(text)
        for _ in range(self.pick([1, 1, 1, 1, 2, 2, 3])):
            i = self.r.randrange(len(s))
            op = self.r.random()
            if op < 0.4:
                s.insert(i, self.pick(CHARS))
            elif op < 0.7:
                del s[i]
            else:
                s[i] = self.pick(CHARS)
        return "".join(s)

    def device(self, text):
        names = self.names(text)
        fields = {"name": self.pick(HOSTILE[:9] + ['"0000:0%d:00.0"' % self.r.randint(0, 9), '"eth@%d"' % self.r.randint(0, 9)]
                                    + [f'"{n}"' for n in names])}
        for k in self.r.sample(KEYS[1:], self.r.randint(0, 5)):
            fields[k] = self.pick(HOSTILE + [f'"{n}"' for n in names])
        return text + "\n[[device]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items())

    def driver(self, text):
        fields = {"name": self.pick(HOSTILE[:9] + ['"nouveau"', '"vfio-pci"', '"drv%d"' % self.r.randint(0, 9)])}
        for k in self.r.sample(["bus", "ids", "driver_managed_dma", "probe", "suppress_bind_attrs", "nonesuch"],
                               self.r.randint(0, 3)):
            fields[k] = self.pick(HOSTILE)
        return text + "\n[[driver]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items())

    def cycle(self, text):
        """Two devices each the other's parent, or one its own."""
        a, b = "0000:0%d:00.0" % self.r.randint(1, 9), "0000:0%d:00.0" % self.r.randint(1, 9)
        kind = self.pick(['"root-port"', '"downstream-port"', '"pci-bridge"', '"endpoint"'])
        return text + (f'\n[[device]]\nname = "{a}"\nparent = "{b}"\nkind = {kind}\n'
                       f'\n[[device]]\nname = "{b}"\nparent = "{a}"\nkind = {kind}\n')

    def nested(self, text):
        n = self.pick([3, 50, 300, self.deep])
        return text.replace("\n[kernel]\n", "\n[kernel]\n", 1) + f"\nnested = {'[' * n}{']' * n}\n"

    def bridges(self, text):
        n = self.pick([2, 20, self.chain])
        out, parent = [], None
        for i in range(n):
            name = f"0001:{i % 256:02x}:{i // 256:02x}.0"
            out.append(f'\n[[device]]\nname = "{name}"\nkind = "pci-bridge"\n' + (f'parent = "{parent}"\n' if parent else ""))
            parent = name
        return text + "".join(out)


def check_text(text, source=SOURCE, limit=LIMIT_S, allowed=None):
    """Boot `text`; the findings (empty when it booted and shows its files, or was refused clearly)."""
    found = []
    watch = FileWatch.get()
    t = time.perf_counter()
    with watch.watching(*([allowed] if allowed else [])) as touched:
        try:
            with time_bound(limit):                 # the boot, then the look, each within the bound
                try:
                    k = Kernel.from_toml(text, source)
                except ScenarioError as e:
                    if source not in str(e):
                        found.append(Finding("bad-result", text, f"ScenarioError without the file's name: {e}"))
                    k = None
            if k is not None:
                with time_bound(limit):
                    k.state()
                    r = k.sh(LOOK)
                if "internal error" in r.stderr or "Traceback" in r.stderr:
                    found.append(Finding("internal-error", text, r.stderr.strip()[-400:]))
        except Overran as e:
            found.append(Finding("overran", text, str(e), time.perf_counter() - t))
        except Exception as e:      # noqa: BLE001 — what the suite looks for
            found.append(Finding("exception", text, f"{type(e).__name__}: {str(e)[:300]}"))
    if touched:
        found.append(Finding("file-touched", text, "; ".join(touched[:3])))
    return found


def examples(seed, n, deep=1000, chain=300, library=LIBRARY):
    rng = random.Random(seed)
    texts = {p.name: p.read_text() for p in library}
    m = Mutator(rng, deep, chain)
    return [(name, m.mutate(texts[name])) for name in (rng.choice(sorted(texts)) for _ in range(n))]


def fuzz(seed, n, deep=1000, chain=300, allowed=None, library=LIBRARY):
    findings = []
    for _, text in examples(seed, n, deep, chain, library):
        findings += check_text(text, allowed=allowed)
    return findings


def test_the_library_itself_boots_and_shows_its_files():
    assert len(LIBRARY) >= 10
    for p in LIBRARY:
        assert check_text(p.read_text()) == [], p.name


def test_mutations_are_deterministic_and_some_boot():
    a = examples(SEED, 100)
    assert a == examples(SEED, 100)
    booted = refused = 0
    for _, text in a:
        try:
            Kernel.from_toml(text, SOURCE)
            booted += 1
        except ScenarioError:
            refused += 1
        except Exception:          # noqa: BLE001 — counted by test_scenario_fuzz
            pass
    assert booted >= 10 and refused >= 30, (booted, refused)


def test_scenario_fuzz(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    t = time.perf_counter()
    findings = fuzz(SEED, EXAMPLES, allowed=str(tmp_path))
    print(f"\n{EXAMPLES} mutated scenario files in {time.perf_counter() - t:.1f} s")
    assert not findings, report(findings, "scenario files")
