"""bashlex, guarded: no text may hang the shell, and `$((…))` parses.

Two gaps of bashlex 0.18 are closed here, at the two functions where they sit (bashlex/subst.py):
- `_paramexpand` loops for ever on a word holding `${` with no `}` after it (`x='${'`): its
  `string.find('}')` returns -1 and the scan starts again at 0. Such a word is now left as it is
  (no parameter node): the expander, which reads the raw text with bash's quoting rules, makes
  of it what bash does (`'${'` is two literal characters; an unquoted `${` is bash's
  "bad substitution").
- `_extractcommandsubst` raises NotImplementedError for `$((`: it now returns a node spanning
  to the matching `))` (the expander evaluates the text: arith.py).
And as a last line of defence every parse runs in a worker thread the caller waits on for a
bounded time (where threads exist; not in Pyodide): a parser loop nobody has found yet ends as a
syntax error instead of a frozen notebook.

The trees of the `$(…)` inside a text come from the same parse (bashlex parses them in place),
so running a substitution does not parse its text again (subst_tree).
"""
import functools
import sys
import threading

import bashlex
import bashlex.errors
from bashlex import ast as _ast
from bashlex import subst as _subst

ParsingError = bashlex.errors.ParsingError
PARSE_SECONDS = 5.0               # a worker's time, plus PARSE_SECONDS_PER_CHAR per character
PARSE_SECONDS_PER_CHAR = 0.002
WORKER_FRAMES = 4000              # the worker's recursion limit, on a stack of WORKER_STACK bytes
WORKER_STACK = 64 << 20
_SUBST_MAX = 4096                 # substitution trees kept (from the texts parsed lately)

_orig_paramexpand = _subst._paramexpand


def _paramexpand(parserobj, string, sindex):
    """bashlex's, but for the two cases above (one wrapper: each `$(` nesting costs frames)."""
    if string.startswith("${", sindex) and string.find("}", sindex + 2) == -1:
        return None, len(string)              # no `}`: not a parameter bashlex can delimit
    if string.startswith("$((", sindex):
        return _arithmetic(string, sindex + 2)           # bashlex: NotImplementedError
    return _orig_paramexpand(parserobj, string, sindex)


def _arithmetic(string, sindex):
    """`$((…))` from string[sindex] (its second `(`): a node over the whole text. When the
    parentheses do not close as `))` it is `$( (…) … )`, a command substitution, as in bash."""
    depth, j = 1, sindex + 1
    while j < len(string) and depth:
        c = string[j]
        if c == "\\":
            j += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        j += 1
    if depth or not string.startswith(")", j):
        raise ParsingError("unexpected EOF while looking for matching `)'", string, sindex)
    # a "parameter" node (bashlex's visitors know no other kind): the expander reads the text
    return _ast.node(kind="parameter", value=string[sindex - 2:j + 1], pos=(sindex - 2, j + 1)), j + 1


_subst._paramexpand = _paramexpand


class ParserGaveUp(Exception):
    """The parser ran out of its time on a text (a loop in bashlex)."""


def _can_thread():
    try:
        t = threading.Thread(target=lambda: None, daemon=True)
        t.start()
        t.join()
        return True
    except RuntimeError:          # Pyodide: no threads
        return False


_THREADS = None


def _stop_thread(thread):
    """Raise ParserGaveUp inside a worker that is still running (it is pure Python: it sees it
    at its next bytecode)."""
    import ctypes
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(ParserGaveUp))


def _bounded(src):
    global _THREADS
    if _THREADS is None:
        _THREADS = _can_thread()
    if not _THREADS:
        return tuple(bashlex.parse(src))
    box = {}

    def work():
        try:
            box["trees"] = tuple(bashlex.parse(src))
        except BaseException as e:            # handed to the caller, whatever it is
            box["error"] = e

    t = threading.Thread(target=work, name="iommulab-parse", daemon=True)
    limit = sys.getrecursionlimit()           # bashlex recurses ~10 frames a `$(` level: the
    sys.setrecursionlimit(max(limit, WORKER_FRAMES))   # worker (a fresh stack) may go deeper
    size = threading.stack_size(WORKER_STACK)
    try:
        t.start()
    finally:
        threading.stack_size(size)
    try:
        t.join(PARSE_SECONDS + PARSE_SECONDS_PER_CHAR * len(src))
    finally:
        sys.setrecursionlimit(limit)
    if t.is_alive():
        try:
            _stop_thread(t)
        except Exception:        # no ctypes: the daemon thread is left to its loop
            pass
        raise ParserGaveUp("the parser gave up on this text")
    if "error" in box:
        raise box["error"]
    return box["trees"]


_SUBSTS: dict = {}


@functools.lru_cache(maxsize=1024)
def parse(src):
    """bashlex's trees for a text, kept: the Lab's buttons, a level's hints and the explorer type the
    same lines again and again, and walking a tree never changes it. (A text that does not parse
    raises each time: exceptions are not cached.)"""
    trees = _bounded(src)
    _note_substitutions(src, trees)
    return trees


def _note_substitutions(src, trees):
    """Remember, for each `$(…)` / `` `…` `` whose whole text bashlex parsed, its tree (positions in
    `src`)."""
    if len(_SUBSTS) > _SUBST_MAX:
        _SUBSTS.clear()
    todo = list(trees)
    while todo:
        node = todo.pop()
        if node.kind == "commandsubstitution":
            start, end = node.pos
            inner_start = start + (2 if src.startswith("$(", start) else 1)
            inner = src[inner_start:end - 1]
            cmd = node.command
            if (cmd is not None and not src[inner_start:cmd.pos[0]].strip()
                    and not src[cmd.pos[1]:end - 1].strip()):
                _SUBSTS.setdefault(inner, (src, cmd))
        for value in vars(node).values():
            if isinstance(value, _ast.node):
                todo.append(value)
            elif isinstance(value, list):
                todo.extend(v for v in value if isinstance(v, _ast.node))


def subst_tree(text):
    """(source, tree) of a substitution's text seen in a parsed text, or None."""
    return _SUBSTS.get(text)
