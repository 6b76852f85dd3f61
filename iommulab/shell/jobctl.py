"""jobs, kill, wait and ps: bash's job control over the simulated processes."""
import re


def _marks(sh):
    running = [j for j in sh.jobs]
    return {j.num: ("+" if j is running[-1] else "-" if len(running) > 1 and j is running[-2] else " ")
            for j in running}


def jobs(sh, argv, io, line):
    sh.refresh_jobs()
    marks = _marks(sh)
    for j in list(sh.jobs):
        if "-p" in argv:
            io.write(f"{j.pid}\n")
            continue
        pid = f"{j.pid} " if "-l" in argv else ""
        io.write(f"[{j.num}]{marks[j.num]}  {pid}{j.state:<24}{j.cmdline}\n")
        if j.state != "Running":
            sh.jobs.remove(j)
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
    if args and args[0] == "-s" and len(args) > 1:
        args = args[2:]
    elif args and re.fullmatch(r"-(\d+|[A-Z]+)", args[0]):
        args = args[1:]
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
        p.kill()
    sh.refresh_jobs()
    return status


def wait(sh, argv, io, line):
    sh.refresh_jobs()
    return 0


def ps(sh, argv, io, line):
    k = sh.k
    rows = [f"{sh.pid:>7} pts/0    00:00:00 bash"]
    rows += [f"{p.pid:>7} pts/0    00:00:00 {p.name[:15]}" for p in sorted(k.processes.values(), key=lambda p: p.pid)]
    io.write("    PID TTY          TIME CMD\n" + "\n".join(rows) + "\n")
    return 0


COMMANDS = {"jobs": jobs, "kill": kill, "wait": wait, "ps": ps}
