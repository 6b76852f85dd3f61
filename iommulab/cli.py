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


def cmd_sh(args):
    from .kernel.kernel import Kernel
    from .kernel.scenario import ScenarioError
    from .shell.repl import main as repl
    try:
        k = Kernel.from_scenario(args.scenario)
    except ScenarioError as e:
        print(f"iommulab sh: {e}", file=sys.stderr)
        return 2
    return repl(k, args.command)


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
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
