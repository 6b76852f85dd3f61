"""The timeline's commands (iommulab only, not on a real host): undo, steps; and bash's history.

`undo` takes back the last step of the machine's timeline (timeline.py): one action that changed
the kernel, with the shell session (jobs, variables, cwd) as it was then. `steps` lists them."""

NO_TIMELINE = "iommulab: {0}: this shell has no timeline (use k.sh(), the Lab or iommulab sh)"


def _timeline(sh, name, io):
    if sh.timeline is None:
        io.error(NO_TIMELINE.format(name))
    return sh.timeline


def undo(sh, argv, io, line):
    """undo [N]: take back the last N steps (1 by default)."""
    tl = _timeline(sh, "undo", io)
    if tl is None:
        return 1
    if len(sh._src) > 1:
        io.error("iommulab: undo: type it as a command of its own, not inside $( ) or bash -c")
        return 1
    count = argv[1] if len(argv) > 1 else "1"
    if len(argv) > 2 or not count.isdigit() or int(count) < 1:
        io.error("usage: undo [N]   (take back the last N steps; `steps` lists them)")
        return 2
    tl.checkpoint()                       # what this line changed before `undo` is a step too
    undone = []
    for _ in range(int(count)):
        m = tl.undo()
        if m is None:
            break
        undone.append(m)
    if not undone:
        io.error("iommulab: undo: nothing to undo (the machine is as the timeline began)")
        return 1
    for m in undone:
        io.write(f"undone: {' '.join(m.action.split())}\n")
    return 0


def steps(sh, argv, io, line):
    """steps: the timeline, one line per action that changed the machine; * marks where it is."""
    tl = _timeline(sh, "steps", io)
    if tl is None:
        return 1
    io.write("".join(s + "\n" for s in tl.listing()))
    return 0


def history(sh, argv, io, line):
    """history [N]: the lines typed in this session, numbered as bash numbers them."""
    entries = list(enumerate(sh.history, sh.history_count - len(sh.history) + 1))
    if len(argv) > 1:
        if not argv[1].isdigit():
            io.error(f"bash: history: {argv[1]}: numeric argument required")
            return 1
        entries = entries[-int(argv[1]):] if int(argv[1]) else []
    io.write("".join(f"{n:5}  {text}\n" for n, text in entries))
    return 0


COMMANDS = {"undo": undo, "steps": steps, "history": history}
