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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="iommulab", description="A simulator of Linux DMA ownership "
                                     "(IOMMU groups, VFIO, iommufd).")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("scenarios", help="list the built-in scenarios").set_defaults(func=cmd_scenarios)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
