"""`iommulab sh`: an interactive shell on a simulated machine (prompt, history, job notices), or a
script read from standard input when that is not a terminal."""
import os
import sys

from .timeline import timeline_for


def _complete(buffered):
    """Whether the text so far is a whole command (bash would not ask for more with PS2)."""
    from .parse import parse
    try:
        parse(buffered)
        return True
    except Exception as e:      # bashlex raises several types; EOF ones mean "keep reading"
        return "unexpected EOF" not in str(e)


def run_lines(session, lines, out, err, prompt=None):
    """Feed lines to the session as bash reads them: a command may span lines."""
    status, buf = 0, ""
    for line in lines:
        buf += line if line.endswith("\n") else line + "\n"
        if not _complete(buf):
            continue
        r = session.run(buf)
        buf = ""
        out.write(r.stdout)
        err.write(r.stderr)
        status = r.status
        if session.exited:
            return status
    if buf.strip():
        r = session.run(buf)
        out.write(r.stdout)
        err.write(r.stderr)
        status = r.status
    return status


def interactive(session):
    try:
        import readline
    except ImportError:          # not on every platform; the shell works without history
        readline = None
    hist = os.path.expanduser("~/.iommulab_history")
    if readline is not None:
        try:
            readline.read_history_file(hist)
        except OSError:
            pass
    k = session.k
    print(f"iommulab: {k.scenario.get('title') or 'simulated host'} — Linux {k.f.release} (simulated). "
          "Type help for commands, exit or Ctrl-D to leave.")
    buf = ""
    status = 0
    while True:            # job notices come with a command's stderr (Session.run), as in bash
        prompt = "> " if buf else f"root@iommulab:{session.cwd}# "
        try:
            line = input(prompt)
        except EOFError:
            print()
            break
        except KeyboardInterrupt:
            print("^C")
            buf = ""
            continue
        buf += line + "\n"
        if not _complete(buf):
            continue
        r = session.run(buf)
        buf = ""
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        status = r.status
        if session.exited:
            break
    if readline is not None:
        try:
            readline.write_history_file(hist)
        except OSError:
            pass
    return status


def main(k, script=None):
    session = timeline_for(k).session           # `undo` and `steps` work here too
    session.interactive = sys.stdin.isatty() and script is None
    if script is not None:
        r = session.run(script)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        return r.status
    if sys.stdin.isatty():
        return interactive(session)
    return run_lines(session, sys.stdin, sys.stdout, sys.stderr)
