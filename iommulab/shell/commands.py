"""Every command the simulated host knows, by name."""
from . import coreutils, jobctl, kmod, qemu
from .lspci import lspci

COMMANDS = {}
for table in (coreutils.COMMANDS, jobctl.COMMANDS, kmod.COMMANDS, qemu.COMMANDS):
    COMMANDS.update(table)
COMMANDS["lspci"] = lspci
