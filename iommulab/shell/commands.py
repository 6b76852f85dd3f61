"""Every command the simulated host knows, by name."""
from . import builtins, coreutils, hostcmds, jobctl, kmod, qemu, textutils, timectl
from .lspci import lspci

COMMANDS = {}
for table in (coreutils.COMMANDS, textutils.COMMANDS, builtins.COMMANDS, jobctl.COMMANDS, kmod.COMMANDS, qemu.COMMANDS,
              hostcmds.COMMANDS, timectl.COMMANDS):
    COMMANDS.update(table)
COMMANDS["lspci"] = lspci
