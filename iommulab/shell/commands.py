"""Every command the simulated host knows, by name."""
from . import builtins, coreutils, hostcmds, jobctl, kmod, qemu, textutils
from .lspci import lspci

COMMANDS = {}
for table in (coreutils.COMMANDS, textutils.COMMANDS, builtins.COMMANDS, jobctl.COMMANDS, kmod.COMMANDS, qemu.COMMANDS,
              hostcmds.COMMANDS):
    COMMANDS.update(table)
COMMANDS["lspci"] = lspci
