"""jobs, kill, wait and ps: bash's job control over the simulated processes."""
import re


def _marks(sh):
    running = [j for j in sh.jobs]
    return {j.num: ("+" if j is running[-1] else "-" if len(running) > 1 and j is running[-2] else " ")
            for j in running}


def job_line(sh, j, with_pid=False):
    """bash's pretty_print_job(): `[1]+  Done                    CMD` (state padded to 24)."""
    pid = f"{j.pid} " if with_pid else ""
    return f"[{j.num}]{_marks(sh)[j.num]}  {pid}{j.state:<24}{j.shown()}"


def jobs(sh, argv, io, line):
    sh.refresh_jobs()
    out = []
    for j in list(sh.jobs):
        if "-p" in argv:
            out.append(f"{j.pid}\n")
            continue
        out.append(job_line(sh, j, "-l" in argv) + "\n")
    for j in list(sh.jobs):
        if j.state != "Running" and "-p" not in argv:
            sh.jobs.remove(j)
    io.write("".join(out))
    return 0


def _job(sh, spec):
    sh.refresh_jobs()
    if spec in ("%", "%%", "%+"):
        return sh.jobs[-1] if sh.jobs else None
    if spec == "%-":
        return sh.jobs[-2] if len(sh.jobs) > 1 else None
    num = spec[1:]
    return next((j for j in sh.jobs if str(j.num) == num), None)


def kill(sh, argv, io, line):
    k = sh.k
    args = argv[1:]
    if args and args[0] == "-l":
        io.write(" 1) SIGHUP\t 2) SIGINT\t 3) SIGQUIT\t 9) SIGKILL\t15) SIGTERM\n")
        return 0
    signal = "TERM"
    if args and args[0] in ("-s", "-n") and len(args) > 1:
        signal, args = args[1], args[2:]
    elif args and re.fullmatch(r"-(\d+|[A-Za-z0-9+]+)", args[0]):
        signal, args = args[0][1:], args[1:]
    signal = _SIGNAL_STATES.get(signal.upper().removeprefix("SIG"), "Terminated")

    if not args:
        io.error("kill: usage: kill [-s sigspec | -n signum | -sigspec] pid | jobspec ... or kill -l [sigspec]")
        return 2
    status = 0
    for a in args:
        if a.startswith("%"):
            job = _job(sh, a)
            if job is None:
                io.error(f"bash: kill: {a}: no such job")
                status = 1
                continue
            if job.process is not None and job.process.alive:
                job.signal = signal             # what the job table says once it has died
                job.process.kill()
            elif job.pending is not None and not job.pending.done:
                k.printk(f"vfio-pci: Device is currently in use, task \"bash\" ({job.pid}) blocked "
                         "until device is released")
            continue
        if not a.isdigit():
            io.error(f"bash: kill: {a}: arguments must be process or job IDs")
            status = 1
            continue
        p = k.processes.get(int(a))
        if p is None:
            io.error(f"bash: kill: ({a}) - No such process")
            status = 1
            continue
        for j in sh.jobs:
            if j.process is p:
                j.signal = signal
        p.kill()
    sh.refresh_jobs()
    return status


_SIGNAL_STATES = {"1": "Hangup", "HUP": "Hangup", "2": "Interrupt", "INT": "Interrupt", "3": "Quit",
                  "QUIT": "Quit", "9": "Killed", "KILL": "Killed", "15": "Terminated", "TERM": "Terminated"}


_SIGNAL_NUMBERS = {state: int(sig) for sig, state in _SIGNAL_STATES.items() if sig.isdigit()}


def _job_status(j):
    """$? of a finished job as `wait` returns it: N for Exit N, 128+signal for a signal."""
    if j.state == "Done":
        return 0
    if j.state.startswith("Exit "):
        return int(j.state[5:])
    return 128 + _SIGNAL_NUMBERS.get(j.state, 15)


def wait(sh, argv, io, line):
    """wait [%N|PID]...: a finished job's status (it leaves the table, without a notice). A job
    still running would make bash wait until it ends; here nothing ends by itself, so wait
    returns at once and says so."""
    sh.refresh_jobs()
    if len(argv) == 1:
        targets = list(sh.jobs)
    else:
        targets = []
        for a in argv[1:]:
            j = _job(sh, a) if a.startswith("%") else next((j for j in sh.jobs if str(j.pid) == a), None)
            if j is None:
                io.error(f"bash: wait: {a}: no such job" if a.startswith("%") else
                         f"bash: wait: pid {a} is not a child of this shell")
                return 127
            targets.append(j)
    status = 0
    for j in targets:
        if j.state == "Running":
            io.error(f"iommulab: wait returns at once: job [{j.num}] ({j.cmdline}) runs until it is killed")
            status = 0
            continue
        status = _job_status(j)
        sh.jobs.remove(j)
    return status if len(argv) > 1 else 0


def ps(sh, argv, io, line):
    k = sh.k
    rows = [f"{sh.pid:>7} pts/0    00:00:00 bash"]
    rows += [f"{p.pid:>7} pts/0    00:00:00 {p.name[:15]}" for p in sorted(k.processes.values(), key=lambda p: p.pid)]
    io.write("    PID TTY          TIME CMD\n" + "\n".join(rows) + "\n")
    return 0


COMMANDS = {"jobs": jobs, "kill": kill, "wait": wait, "ps": ps}
