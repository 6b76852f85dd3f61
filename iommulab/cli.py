"""The `iommulab` command line (argparse)."""
import argparse
import sys


def cmd_scenarios(args):
    from .kernel.scenario import ScenarioError, builtin_names, load
    for name in builtin_names():
        try:
            title = load(name)["title"]
        except ScenarioError as e:
            title = f"(broken: {e})"
        print(f"{name:24} {title}")
    return 0


def _boot(name, command):
    """The scenario's kernel, or None after saying why it does not boot."""
    from .kernel.kernel import Kernel
    from .kernel.scenario import ScenarioError
    try:
        return Kernel.from_scenario(name)
    except ScenarioError as e:
        print(f"iommulab {command}: {e}", file=sys.stderr)
        return None


def cmd_sh(args):
    from .shell.repl import main as repl
    k = _boot(args.scenario, "sh")
    return 2 if k is None else repl(k, args.command)


def cmd_import_host(args):
    import os
    from .hostimport import ImportError_, parse_dirs, parse_live, parse_text, to_document
    from .kernel.scenario import ScenarioError, load_text
    from .scenario_file import to_toml
    try:
        if args.live:
            lst = parse_live(args.sys_root)
        elif args.input != "-" and os.path.isdir(args.input):
            lst = parse_dirs(args.input, args.pci_devices)
        else:
            if args.input == "-":
                text, source = sys.stdin.read(MAX_LISTING + 1), "<stdin>"
                if len(text) > MAX_LISTING:
                    raise ImportError_(source, 0, f"larger than {MAX_LISTING >> 20} MB: not a listing of IOMMU groups")
            else:
                text = _read_listing(args.input, ImportError_)
                source = args.input
            lst = parse_text(text, source)
        toml = to_toml(to_document(lst, args.version, args.title))
        load_text(toml, args.output or "<import>")          # what we write must boot
    except (ImportError_, ScenarioError) as e:
        print(f"iommulab import-host: {e}", file=sys.stderr)
        return 2
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(toml)
        except OSError as e:
            print(f"iommulab import-host: -o {args.output}: {e.strerror or e}"
                  + (" (make the directory first)" if isinstance(e, FileNotFoundError) else ""), file=sys.stderr)
            return 2
        print(f"wrote {args.output}: {len(lst.devices)} devices in "
              f"{len({d['group'] for d in lst.devices.values()})} groups", file=sys.stderr)
    else:
        sys.stdout.write(toml)
    _print_reading(lst, sys.stderr)
    from .hostderive import derive
    from .kernel.kernel import Kernel
    comparison = derive(lst)
    _print_report(Kernel.from_toml(toml, args.output or "<import>"), sys.stderr, comparison)  # stdout: TOML
    return 0


MAX_LISTING = 8 << 20          # bytes: a listing of 20,000 groups is about 3 MB


def _read_listing(path, error):
    """A pasted listing's text: a regular file of at most MAX_LISTING bytes (never a FIFO or a device
    that would block), else `error` (file, 0, why)."""
    import os
    import stat
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise error(path, 0, e.strerror or str(e)) from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise error(path, 0, "not a regular file (a listing is a text file, or - for standard input)")
        data = f.read(MAX_LISTING + 1)
    if len(data) > MAX_LISTING:
        raise error(path, 0, f"larger than {MAX_LISTING >> 20} MB: not a listing of IOMMU groups")
    return data.decode("utf-8", errors="replace")


def _print_reading(lst, out):
    """After the summary: what the reader did with the paste (merged, repeated, joined lines) and every
    line it did not import, with its number and why (hostimport.Listing.notes / .skipped)."""
    notes, skipped = getattr(lst, "notes", []), getattr(lst, "skipped", [])
    for line, text in notes:
        print(f"note{f' (line {line})' if line else ''}: {text}", file=out)
    if skipped:
        print(f"skipped {len(skipped)} line{'s' if len(skipped) != 1 else ''} (not imported):", file=out)
        for line, text, why in skipped[:40]:
            shown = text if len(text) <= 70 else text[:67] + "..."
            print(f"  line {line}: {shown!r} — {why}", file=out)
        if len(skipped) > 40:
            print(f"  … and {len(skipped) - 40} more", file=out)


def _print_report(k, out, comparison=None):
    """The passthrough report (hostreport.report), each device's paragraph wrapped; then, for an
    imported listing, its groups re-derived by Linux's rules (hostderive.Comparison)."""
    import textwrap
    from .hostreport import report
    print("\nPassthrough report (what giving each device to a VM would take from the host):", file=out)
    for paragraph in report(k, comparison):
        print(textwrap.fill(paragraph, 100, initial_indent="- ", subsequent_indent="  "), file=out)
    if comparison is not None:
        first, *rest = comparison.lines()
        print("\n" + textwrap.fill(first, 100), file=out)
        for paragraph in rest:
            print(textwrap.fill(paragraph, 100, initial_indent="- ", subsequent_indent="  "), file=out)


def _is_listing(path):
    """A file that is not a scenario: a pasted listing for import-host."""
    import os
    return os.path.isfile(path) and not path.endswith(".toml")


def cmd_why(args):
    if _is_listing(args.host):
        return _why_listing(args.host)
    k = _boot(args.host, "why")
    if k is None:
        return 2
    _print_report(k, sys.stdout)
    return 0


def _why_listing(path):
    """`why --host paste.txt`: import the listing as import-host would, then report on it."""
    from .hostderive import derive
    from .hostimport import ImportError_, parse_text, to_document
    from .kernel.kernel import Kernel
    from .kernel.scenario import ScenarioError
    from .scenario_file import to_toml
    try:
        lst = parse_text(_read_listing(path, ImportError_), path)
        k = Kernel.from_toml(to_toml(to_document(lst)), path)
    except (OSError, ImportError_, ScenarioError) as e:
        print(f"iommulab why: {e}", file=sys.stderr)
        return 2
    _print_reading(lst, sys.stderr)
    _print_report(k, sys.stdout, derive(lst))
    return 0


LAB_NOTEBOOK_CELLS = (
    ("markdown", "# {title}\n\nThe machine of `{scenario}`, booted in the simulator. Act on it in the "
                 "Lab's shell (for example `lspci -k`, `ls /sys/kernel/iommu_groups/*/devices`), or run "
                 "`iommulab why --host {scenario}` for its passthrough report."),
    ("code", "import iommulab\n\niommulab.run_me_first()"),
    ("code", "from iommulab import Kernel, Lab\n\nLab(Kernel.from_scenario({scenario!r}))"),
)


def lab_notebook(scenario, title):
    """The notebook `iommulab lab` opens: run_me_first, then a Lab on the scenario (a path or a name)."""
    cells = []
    for kind, text in LAB_NOTEBOOK_CELLS:
        source = text.format(scenario=scenario, title=title)
        cell = {"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                        "name": "python3"},
                                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def lab_plan(scenario, directory=None):
    """(notebook path, its JSON, the argv that opens JupyterLab on it) for `iommulab lab`. The notebook
    goes next to a scenario file (`mine.toml` → `mine.ipynb`), or into `directory`, or for a built-in
    scenario's name into a new temporary directory; its Lab boots the scenario by absolute path."""
    import os
    import shutil
    import tempfile
    from .kernel.scenario import load
    doc = load(scenario)                                  # raises ScenarioError if it does not boot
    is_file = scenario.endswith(".toml") or os.path.exists(scenario)
    target = os.path.abspath(scenario) if is_file else scenario
    stem = os.path.splitext(os.path.basename(scenario))[0]
    if directory is None:
        directory = os.path.dirname(target) if is_file else tempfile.mkdtemp(prefix="iommulab-lab-")
    path = os.path.join(directory, f"{stem}.ipynb")
    jupyter = shutil.which("jupyter") or os.path.join(os.path.dirname(sys.executable), "jupyter")
    argv = [jupyter, "lab", "--ip=127.0.0.1", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        argv.append("--allow-root")
    return path, lab_notebook(target, doc["title"]), argv + [path]


def cmd_lab(args):
    import json
    import os
    from .kernel.scenario import ScenarioError
    try:
        path, nb, argv = lab_plan(args.scenario, args.dir)
    except ScenarioError as e:
        print(f"iommulab lab: {e}", file=sys.stderr)
        return 2
    if os.path.exists(path) and not args.force:
        print(f"iommulab lab: {path} exists: opening it as it is (--force writes it again)", file=sys.stderr)
    else:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(nb, f, indent=1)
            f.write("\n")
        print(f"iommulab lab: wrote {path}", file=sys.stderr)
    if args.print_only:
        print(" ".join(argv))
        return 0
    try:
        os.execv(argv[0], argv)
    except OSError as e:
        print(f"iommulab lab: cannot run {argv[0]}: {e.strerror or e} (install the lab extras: "
              "pip install 'iommulab[lab]')", file=sys.stderr)
        return 2


def cmd_explore(args):
    from .check.explore import GOALS, explore
    k = _boot(args.scenario, "explore")
    if k is None:
        return 2
    if args.goal is not None and args.goal not in GOALS:
        print(f"iommulab explore: unknown goal {args.goal!r}; known goals:", file=sys.stderr)
        for name, (text, _) in GOALS.items():
            print(f"  {name:36} {text}", file=sys.stderr)
        return 2
    for flag, value in (("--max-states", args.max_states), ("--max-memory", args.max_memory),
                        ("--max-seconds", args.max_seconds)):
        if value is not None and value <= 0:
            print(f"iommulab explore: {flag} must be more than 0 (0 is not 'no limit': give a large number)",
                  file=sys.stderr)
            return 2
    result = explore(k, depth=args.depth, goal=args.goal, max_states=args.max_states,
                     max_memory_mb=args.max_memory, max_seconds=args.max_seconds)
    print(result)
    if result.limit is not None:
        return 3
    return 0 if result.found else 1


def cmd_quiz(args):
    """OSTEP's homework style: a seeded problem; -c also prints the answers and the rule behind each."""
    from .course.quiz import KINDS, QuizError, problem, time_seed
    if args.kind is not None and args.kind not in KINDS:
        print(f"iommulab quiz: unknown kind {args.kind!r}; the kinds are: {', '.join(KINDS)}", file=sys.stderr)
        return 2
    try:
        seed = time_seed() if args.seed is None else int(args.seed)
    except ValueError:
        print(f"iommulab quiz: a seed is a whole number, not {args.seed!r}", file=sys.stderr)
        return 2
    try:
        p = problem(seed, args.kind, args.version)
    except QuizError as e:
        print(f"iommulab quiz: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(p.text())             # its first line is the command that makes it again
    if args.answers:
        sys.stdout.write("\n" + p.reveal())
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="iommulab", description="A simulator of Linux DMA ownership "
                                     "(IOMMU groups, VFIO, iommufd).")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("scenarios", help="list the built-in scenarios").set_defaults(func=cmd_scenarios)
    sh = sub.add_parser("sh", help="a shell on a simulated machine (reads a script from stdin when "
                        "that is not a terminal)")
    sh.add_argument("--scenario", default="desktop-gpu", help="built-in scenario name or .toml file "
                    "[desktop-gpu]")
    sh.add_argument("-c", dest="command", help="run this command text and exit")
    sh.set_defaults(func=cmd_sh)
    imp = sub.add_parser("import-host", help="turn your machine's IOMMU group listing into a scenario")
    imp.add_argument("input", nargs="?", default="-", help="a pasted listing (the classic loop, ls -l or "
                     "find output), a directory copied from /sys/kernel/iommu_groups, or - for stdin")
    imp.add_argument("--pci-devices", help="with a copied directory: a copy of /sys/bus/pci/devices")
    imp.add_argument("--live", action="store_true", help="read this machine's /sys (read-only)")
    imp.add_argument("--sys-root", default="/sys", help=argparse.SUPPRESS)
    imp.add_argument("--version", help="kernel version for the scenario [newest modelled]")
    imp.add_argument("--title", help="the scenario's title")
    imp.add_argument("-o", "--output", help="write the scenario here instead of stdout")
    imp.set_defaults(func=cmd_import_host)
    why = sub.add_parser("why", help="the passthrough report of a machine: for each GPU, NIC, NVMe and "
                         "USB controller, what giving it to a VM would take from the host, and why")
    why.add_argument("--host", required=True, help="a scenario file (e.g. one import-host wrote), a "
                     "built-in scenario name, or a pasted listing (imported as import-host reads it)")
    why.set_defaults(func=cmd_why)
    lab = sub.add_parser("lab", help="open JupyterLab on a notebook with this machine in the Lab")
    lab.add_argument("scenario", help="a scenario file (e.g. mine.toml) or a built-in scenario name")
    lab.add_argument("--dir", help="write the notebook here [next to the scenario file; a temporary "
                     "directory for a built-in name]")
    lab.add_argument("--force", action="store_true", help="write the notebook again if it exists")
    lab.add_argument("--print-only", action="store_true", help="write the notebook and print the "
                     "command that would open it, without starting JupyterLab")
    lab.set_defaults(func=cmd_lab)
    ex = sub.add_parser("explore", help="search action sequences for a way to break a rule (or reach a goal)",
                        description="Breadth-first search for the shortest action sequence that breaks a rule "
                        "(or reaches --goal), within limits on states, memory and time. Exit status: 0 found, "
                        "1 nothing within --depth, 2 usage error, 3 a limit stopped the search first.")
    ex.add_argument("scenario", help="built-in scenario name or .toml file")
    ex.add_argument("--depth", type=int, default=4, help="longest sequence of actions to try [4]")
    ex.add_argument("--goal", help="reach this instead of breaking a rule (e.g. vm-refused-without-kernel-drivers)")
    from .check.explore import MAX_MEMORY_MB, MAX_SECONDS, MAX_STATES
    ex.add_argument("--max-states", type=int, default=MAX_STATES, metavar="N",
                    help=f"stop after keeping this many distinct states [{MAX_STATES:,}]")
    ex.add_argument("--max-memory", type=float, default=MAX_MEMORY_MB, metavar="MB",
                    help=f"stop when the search has added this much resident memory [{MAX_MEMORY_MB}]")
    ex.add_argument("--max-seconds", type=float, default=MAX_SECONDS, metavar="S",
                    help=f"stop after this many seconds [{MAX_SECONDS:g}]")
    ex.set_defaults(func=cmd_explore)
    qz = sub.add_parser("quiz", help="a seeded problem to solve (OSTEP style): the same seed gives the same "
                        "problem everywhere; -c prints the answers")
    qz.add_argument("--seed", help="the problem's number [one from the clock, printed]")
    qz.add_argument("--kind", help="groups, owner, errno or viability [the seed picks]")
    qz.add_argument("--version", help="kernel version, e.g. 5.18, 6.4, 6.12 [6.6]")
    qz.add_argument("-c", dest="answers", action="store_true", help="also print the answers, with the rule behind each")
    qz.set_defaults(func=cmd_quiz)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
