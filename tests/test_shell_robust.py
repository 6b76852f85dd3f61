"""Issue 19, the shell: inputs that hung it or blew up, and results bash would not give.
Expected messages and statuses are bash 5.2's (`bash -c '…'`, without its "line 1: ")."""
import subprocess
import sys
import textwrap

import pytest

import iommulab


@pytest.fixture
def k():
    return iommulab.Kernel.from_scenario("desktop-gpu")


def run_isolated(script, scenario="desktop-gpu", seconds=60):
    """k.sh(script) in a child Python, killed after `seconds` (a hang must fail the test, not
    stop the suite); its memory is limited too. → ShResult fields as (status, stdout, stderr)."""
    code = textwrap.dedent(f"""
        import resource, sys, iommulab
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        r = iommulab.Kernel.from_scenario({scenario!r}).sh(sys.stdin.read())
        sys.stdout.write(repr((r.status, r.stdout[-2000:], r.stderr[-2000:])))
    """)
    try:
        p = subprocess.run([sys.executable, "-c", code], input=script, capture_output=True, text=True,
                           timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"k.sh({script!r}) did not return within {seconds} s")
    assert p.returncode == 0, p.stderr[-2000:]
    return eval(p.stdout)       # noqa: S307 - our own repr of a tuple of int and str


# --- hangs and blow-ups --------------------------------------------------------------------

@pytest.mark.parametrize("script, out", [("x='${'; echo $x", "${\n"), ("echo a'${'b", "a${b\n")])
def test_an_unclosed_brace_inside_quotes_parses_and_runs(script, out):
    assert run_isolated(script, seconds=30) == (0, out, "")


def test_a_backquoted_unclosed_brace_is_a_command_bash_does_not_find():
    assert run_isolated("echo `'${'0`", seconds=30) == (0, "\n", "bash: ${0: command not found\n")


def test_iommulab_sh_reads_an_unclosed_brace_without_hanging():
    """`iommulab sh` asks the parser whether a line is complete: the same guard applies."""
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        p = subprocess.run([sys.executable, "-m", "iommulab.cli", "sh"], input="x='${'\necho $x\n",
                           capture_output=True, text=True, timeout=30, cwd=root)
    except subprocess.TimeoutExpired:
        pytest.fail("iommulab sh did not return within 30 s")
    assert (p.returncode, p.stdout) == (0, "${\n")


def test_a_parser_that_never_returns_becomes_a_syntax_error(k, monkeypatch):
    import bashlex

    from iommulab.shell import parse

    def forever(src):
        while True:
            pass
    monkeypatch.setattr(bashlex, "parse", forever)
    monkeypatch.setattr(parse, "PARSE_SECONDS", 0.2)
    r = k.sh("echo this text no parser has seen")
    assert (r.status, r.stdout) == (2, "")
    assert r.stderr == "bash: syntax error: the parser gave up on this text\n"


@pytest.mark.parametrize("expr, value", [
    ("1+2*3", "7"), ("(1+2)*3", "9"), ("2**3**2", "512"), ("-5/2", "-2"), ("-5%2", "-1"),
    ("9223372036854775807+1", "-9223372036854775808"), ("2**63", "-9223372036854775808"),
    ("2**64", "0"), ("1<<64", "1"), ("1<<-1", "-9223372036854775808"), ("-8>>1", "-4"),
    ("(-9223372036854775807-1)/-1", "-9223372036854775808"), ("99999999999999999999", "7766279631452241919"),
    ("16#ff", "255"), ("2#101", "5"), ("64#@", "62"), ("0x1F", "31"), ("010", "8"), ("0x", "0"),
    ("1?2:3", "2"), ("0&&1/0", "0"), ("1||1/0", "1"), ("!0", "1"), ("~0", "-1"), ("3>2", "1"),
    ("1,2", "2"), (" ", "0"), ('"3" + 1', "4"),
])
def test_arithmetic_expansion_is_bashs(k, expr, value):
    r = k.sh(f"echo $(({expr}))")
    assert (r.status, r.stdout, r.stderr) == (0, value + "\n", "")


def test_arithmetic_reads_and_sets_variables_as_bash_does(k):
    r = k.sh("x=1+2; echo $((x*2)) $((unset_var)); i=5; echo $((i++)) $i $((++i)) $((i+=3)) $i; "
             "n=0; for d in a b c; do n=$((n+1)); done; echo $n ${nothing:-$((2**10))} x$((7%3))y")
    assert (r.status, r.stdout, r.stderr) == (0, "6 0\n5 6 7 10 10\n3 1024 x1y\n", "")


@pytest.mark.parametrize("expr, message", [
    ("1/0", '1/0: division by 0 (error token is "0")'),
    ("2**-1", '2**-1: exponent less than 0 (error token is "1")'),
    ("1 +", '1 +: syntax error: operand expected (error token is "+")'),
    (" 1 2 ", '1 2 : syntax error in expression (error token is "2 ")'),
    ("08", '08: value too great for base (error token is "08")'),
    ("65#1", '65#1: invalid arithmetic base (error token is "65#1")'),
    ("1=2", '1=2: attempted assignment to non-variable (error token is "=2")'),
    ("1 ? 2", "1 ? 2: `:' expected for conditional expression (error token is \"2\")"),
])
def test_an_arithmetic_error_ends_the_line_with_bashs_message(k, expr, message):
    r = k.sh(f"echo $(({expr})); echo after")
    assert (r.status, r.stdout, r.stderr) == (1, "", f"bash: {message}\n")


def test_a_variable_naming_itself_in_arithmetic_is_refused(k):
    r = k.sh("x=a; a=x; echo $((x))")
    assert (r.status, r.stderr) == (1, 'bash: a: expression recursion level exceeded (error token is "a")\n')


def test_huge_powers_and_shifts_are_computed_in_64_bits():
    assert run_isolated("echo $((9**9**8)) $((1<<(1<<33)))", seconds=30) == (0, "6548290763416068617 1\n", "")


def budget_stopped(result):
    status, _, err = result
    return status == 152 and err.endswith("CPU time limit exceeded\n") and "budget of work" in err


def test_nested_loops_share_one_budget():
    assert budget_stopped(run_isolated("while true; do while true; do :; done; done", seconds=60))


def test_a_glob_through_sysfs_link_cycles_is_bounded():
    assert budget_stopped(run_isolated("echo /*/*/*/*/*/*/*/*/*/*/*/*/*/*", seconds=60))


def test_a_doubling_string_stops_at_the_budget_of_bytes():
    assert budget_stopped(run_isolated("x=a; while true; do x=$x$x; done", seconds=60))


def test_the_budget_is_per_call(k):
    assert k.sh("while true; do :; done").status == 152
    r = k.sh("for i in 1 2 3; do echo $i; done")
    assert (r.status, r.stdout, r.stderr) == (0, "1\n2\n3\n", "")


def test_lspci_s_looks_up_one_device_without_parsing_every_name(monkeypatch):
    from iommulab.kernel import pcidev
    from iommulab.shell import lspci
    k = iommulab.Kernel.from_scenario("sriov-2000")
    calls = []
    real = pcidev.parse_bdf

    def counting(name):
        calls.append(name)
        return real(name)
    monkeypatch.setattr(lspci, "parse_bdf", counting)
    monkeypatch.setattr(pcidev, "parse_bdf", counting)
    full_nn, full_n = k.sh("lspci -nn").stdout.splitlines(), k.sh("lspci -n").stdout.splitlines()
    calls.clear()
    r = k.sh("lspci -nns 01:00.0; lspci -s 0000:01:00.1 -n; lspci -s 1f:1f.7")
    assert r.stdout == "".join(ln + "\n" for ln in [x for x in full_nn if x.startswith("01:00.0 ")]
                               + [x for x in full_n if x.startswith("01:00.1 ")])
    assert r.stdout.count("\n") == 2
    assert (r.status, r.stderr) == (0, "")
    assert len(calls) < 50


def test_nested_command_substitutions_are_parsed_once(k, monkeypatch):
    import bashlex
    parses = []
    real = bashlex.parse

    def counting(src, *a, **kw):
        parses.append(src)
        return real(src, *a, **kw)
    monkeypatch.setattr(bashlex, "parse", counting)
    n = 100
    r = k.sh("echo " + "$(echo " * n + "deep" + ")" * n)
    assert (r.status, r.stdout, r.stderr) == (0, "deep\n", "")
    assert len(parses) == 1


# --- wrong results -------------------------------------------------------------------------

def test_a_backwards_range_in_a_pattern_matches_nothing(k):
    r = k.sh("x='[z-a]'; echo $x; echo [z-a]; y=abc; echo ${y#[z-a]}")
    assert (r.status, r.stdout, r.stderr) == (0, "[z-a]\n[z-a]\nabc\n", "")


def test_typed_bracket_globs_match(k):
    r = k.sh("echo /sys/bu[s] /sys/[b]u?; ls -d /sys/bus/pci/devices/0000:0[01]:*; echo /sys/bus/pc[!x]")
    assert (r.status, r.stderr) == (0, "")
    assert r.stdout == ("/sys/bus /sys/bus\n" + "".join(
        f"/sys/bus/pci/devices/{d}\n" for d in ("0000:00:00.0", "0000:00:01.0", "0000:00:14.0", "0000:00:1f.0",
                                                "0000:00:1f.3", "0000:00:1f.6", "0000:01:00.0", "0000:01:00.1"))
        + "/sys/bus/pci\n")


def test_for_sees_every_word(k):
    words = " ".join(f"w{i}" for i in range(20144))
    r = k.sh(f"n=0; for w in {words}; do last=$w; done; echo $last")
    assert (r.status, r.stdout, r.stderr) == (0, "w20143\n", "")


def test_for_sees_every_entry_on_the_2000_device_host():
    k = iommulab.Kernel.from_scenario("sriov-2000")
    entries = sum(len(k.listdir(f"/sys/bus/pci/devices/{d}")) for d in k.listdir("/sys/bus/pci/devices"))
    assert entries > 10000
    r = k.sh("for f in /sys/bus/pci/devices/*/*; do echo; done | wc -l")
    assert (r.status, r.stdout, r.stderr) == (0, f"{entries}\n", "")


def test_the_colon_builtin(k):
    r = k.sh(": a b > /dev/null; echo $?")
    assert (r.status, r.stdout, r.stderr) == (0, "0\n", "")


@pytest.mark.parametrize("redirect", ["2>", "2>>"])
def test_a_stderr_redirection_opens_its_file_first(k, redirect):
    r = k.sh(f"ls /nope {redirect} /sys/nope/x; echo $?")
    assert (r.status, r.stdout, r.stderr) == (0, "1\n", "bash: /sys/nope/x: No such file or directory\n")


def test_stderr_onto_a_directory_is_refused(k):
    r = k.sh("echo hi 2> /sys")
    assert (r.status, r.stdout, r.stderr) == (1, "", "bash: /sys: Is a directory\n")


def test_both_streams_to_a_missing_file_are_refused_too(k):
    r = k.sh("ls /nope &> /sys/nope/x; echo $?")         # (this one worked before: a guard)
    assert (r.status, r.stdout, r.stderr) == (0, "1\n", "bash: /sys/nope/x: No such file or directory\n")


def test_a_bang_negates_a_pipelines_status(k):
    r = k.sh("! true; echo $?; ! false | true; echo $?; ! ! true; echo $?; while ! true; do echo no; done; "
             "if ! false; then echo yes; fi")
    assert (r.status, r.stdout, r.stderr) == (0, "1\n1\n0\nyes\n", "")


def test_a_closed_descriptor_and_stdout_to_stderr(k):
    r = k.sh("echo hi >&-; echo $?; ls /nope 2>&-; echo $?; cat /sys/bus/pci/devices/0000:01:00.0/vendor 1>&-")
    assert (r.status, r.stdout) == (1, "1\n2\n")
    assert r.stderr == "bash: echo: write error: Bad file descriptor\ncat: standard output: Bad file descriptor\n"
    r = k.sh("echo to-stderr >&2; echo to-stdout")
    assert (r.status, r.stdout, r.stderr) == (0, "to-stdout\n", "to-stderr\n")


def test_the_budget_holds_inside_bash_c_and_sudo():
    assert budget_stopped(run_isolated("bash -c 'while true; do :; done'", seconds=60))
    assert budget_stopped(run_isolated("sudo bash -c 'x=a; while true; do x=$x$x; done'", seconds=60))


def test_a_huge_printf_width_is_within_the_budget():
    assert budget_stopped(run_isolated("printf '%0999999999d' 1", seconds=60))
