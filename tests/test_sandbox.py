"""Hostile programs: each must score 0 within its time limit and leave the host unchanged.

Run under every isolation mode that works here (bubblewrap and the unshare+setpriv fallback; .ci/run
installs bubblewrap). A program that tries to read something it must not see defines a correct
`add` only if the read succeeded, so a leak shows up as a pass; every other program's `add` is wrong
(or missing), so any pass is a forged verdict."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from redit import rewards, sandbox
from redit.sandbox import SandboxUnavailable, available_isolations, run_tests

ISOLATIONS = available_isolations()
TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert abs(add(0.5, 0.25) - 0.75) < 1e-9"]
GOOD = "def add(a, b):\n    return a + b\n"
BAD = "def add(a, b):\n    return -1\n"
MARK = "9876.5"  # argument of every `sleep` a program leaves behind, to find survivors on the host
# add is right only if `ok` (the attack's result) is truthy
IF_OK = "def add(a, b):\n    return a + b if ok else None\n"


def hostile_programs(h):
    victim, d, port, pid, me = str(h["victim"]), str(h["dir"]), h["port"], h["sentinel"], os.getpid()
    tmpname = h["tmpname"]
    p = {
        # -- forging the verdict
        "rebind __main__ checkers": "import sys\nm = sys.modules['__main__']\nfor n in ('_strict_eq', '_plain', '_EQ', '_ask', '_dec'):\n    setattr(m, n, lambda *a, **k: True)\n" + BAD,
        "rebind builtins.abs": "import builtins\nbuiltins.abs = lambda x: 0\n" + BAD,
        "shadow abs globally": "def abs(x):\n    return 0\n" + BAD,
        "rebind builtins everywhere": "import builtins\nfor n in ('abs', 'isinstance', 'type', 'len', 'all'):\n    setattr(builtins, n, lambda *a: 0)\n" + BAD,
        "always-equal object": "class Eq:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n    def __sub__(self, o): return 0\n    def __rsub__(self, o): return 0\n    def __bool__(self): return True\ndef add(a, b):\n    return Eq()\n",
        "int subclass equal": "class I(int):\n    def __eq__(self, o): return True\n    def __sub__(self, o): return 0\ndef add(a, b):\n    return I(0)\n",
        "patched Counter eq": "import collections\ncollections.Counter.__eq__ = lambda s, o: True\ndef add(a, b):\n    return collections.Counter()\n",
        "patched int eq via ctypes-free gc": "import gc\nfor o in gc.get_objects():\n    pass\n" + BAD,
        "object whose lt/abs lie": "class L:\n    def __eq__(s, o): return True\n    def __lt__(s, o): return True\n    def __abs__(s): return 0\n    def __sub__(s, o): return s\ndef add(a, b):\n    return L()\n",
        "print PASS and exit 0": "print('\\nPASS')\nimport sys\nsys.stdout.flush()\nimport os\nos._exit(0)\n",
        "write PASS to every fd": "import os\nfor fd in range(0, 30):\n    try: os.write(fd, b'\\nPASS\\n')\n    except OSError: pass\n" + BAD,
        "pre-forge answers on every fd": "import os\nfor fd in range(0, 30):\n    try: os.write(fd, b'{\"v\": [\"t\"]}\\n' * 50)\n    except OSError: pass\n" + BAD,
        "sys.exit(0) first": "import sys\nsys.exit(0)\n",
        "os._exit(0) first": "import os\nos._exit(0)\n",
        "exit 0 in atexit": "import atexit, os\natexit.register(lambda: os._exit(0))\nraise SystemExit(0)\n",
        "exit 0 on first call": "import os\ndef add(a, b):\n    os._exit(0)\n",
        "sys.setprofile spy": "import sys\nseen = []\nsys.setprofile(lambda f, e, a: seen.append(f.f_locals.get('token')))\n" + BAD,
        "inspect.stack spy": "import inspect\ndef add(a, b):\n    for fr in inspect.stack():\n        for v in fr.frame.f_locals.values():\n            if isinstance(v, str) and 'PASS' in v: print(v)\n    return -1\n",
        "excepthook walks traceback": "import sys\ndef hook(t, v, tb):\n    while tb:\n        print(tb.tb_frame.f_locals); tb = tb.tb_next\n    print('\\nPASS'); sys.stdout.flush()\nsys.excepthook = hook\nraise ValueError('x')\n",
        "frames of the caller": "import sys\ndef add(a, b):\n    f = sys._getframe(1)\n    return f.f_locals.get('expected', -1)\n",
        "/proc/self/mem scan": "import re\ndef add(a, b):\n    found = []\n    for line in open('/proc/self/maps'):\n        if 'rw-p' in line:\n            lo, hi = [int(x, 16) for x in line.split()[0].split('-')]\n            try:\n                with open('/proc/self/mem', 'rb') as m:\n                    m.seek(lo); blob = m.read(min(hi - lo, 1 << 20))\n                found += re.findall(rb'assert add\\(1, 2\\) == (\\d+)', blob)\n            except OSError: pass\n    return int(found[0]) if found else -1\n",
        "read the judge's files": "import glob, json\nfiles = glob.glob('/tmp/redit-judge-*/cfg.json') + glob.glob('/tmp/*/cfg.json')\nok = bool(files)\n" + IF_OK,
        "find and kill the judge": "import os, signal\nfor p in os.listdir('/proc'):\n    if p.isdigit():\n        try:\n            if b'judge' in open(f'/proc/{p}/cmdline', 'rb').read(): os.kill(int(p), signal.SIGKILL)\n        except OSError: pass\n" + BAD,
        "ptrace the judge via /proc/pid/mem": "import os\nok = False\nfor p in os.listdir('/proc'):\n    if p.isdigit() and int(p) != os.getpid():\n        try:\n            open(f'/proc/{p}/mem', 'r+b').write(b'x'); ok = True\n        except OSError: pass\n" + IF_OK,
        "syntax error": "def add(a, b)\n    return a + b\n",
        "no function at all": "x = 1\n",
        # -- reading secrets
        "read /etc/shadow": "try:\n    ok = 'root:' in open('/etc/shadow').read()\nexcept OSError:\n    ok = False\n" + IF_OK,
        "read the parent's environ": f"import os\nok = False\nfor p in set([os.getppid(), {me}] + [int(x) for x in os.listdir('/proc') if x.isdigit()]):\n    try:\n        ok = ok or b'hunter2' in open(f'/proc/{{p}}/environ', 'rb').read()\n    except OSError: pass\n" + IF_OK,
        "read own environ secret": "import os\nok = os.environ.get('REDIT_TEST_SECRET') == 'hunter2'\n" + IF_OK,
        "read a host file": f"try:\n    ok = open({victim!r}).read() == 'precious'\nexcept OSError:\n    ok = False\n" + IF_OK,
        "list other sandboxes": "import glob\nok = len(glob.glob('/tmp/redit-*')) > 0\n" + IF_OK,
        "see host processes": f"import os\nok = os.path.exists('/proc/{pid}') or os.path.exists('/proc/{me}')\n" + IF_OK,
        # -- writing outside the work dir
        "write outside": f"open({victim!r}, 'w').write('pwned')\n" + BAD,
        "delete outside": f"import os\nos.remove({victim!r})\n" + BAD,
        "rename outside": f"import os\nos.rename({victim!r}, {victim + '.moved'!r})\n" + BAD,
        "chmod outside": f"import os\nos.chmod({victim!r}, 0o777)\n" + BAD,
        "new file outside": f"open({d + '/dropped.txt'!r}, 'w').write('x')\n" + BAD,
        "os.open with dir_fd": f"import os\nfor top in ('/tmp', {d!r}, '/var/tmp', '/dev/shm'):\n    try:\n        fd = os.open(top, os.O_RDONLY)\n        os.close(os.open({tmpname!r}, os.O_CREAT | os.O_WRONLY, dir_fd=fd))\n    except OSError: pass\n" + BAD,
        "mkfifo outside": f"import os\nfor top in ('/tmp', {d!r}):\n    try: os.mkfifo(top + '/' + {tmpname!r})\n    except OSError: pass\n" + BAD,
        "mknod outside": f"import os, stat\nfor top in ('/tmp', {d!r}):\n    try: os.mknod(top + '/' + {tmpname!r}, stat.S_IFREG | 0o644)\n    except OSError: pass\n" + BAD,
        "write world-writable dirs": f"for top in ('/tmp', '/var/tmp', '/dev/shm', '/run/lock', '/dev/mqueue'):\n    try: open(top + '/' + {tmpname!r}, 'w').write('x')\n    except OSError: pass\n" + BAD,
        "symlink and hardlink outside": f"import os\nfor f in (os.symlink, os.link):\n    try: f('/etc/passwd', {d + '/' + tmpname!r})\n    except OSError: pass\n" + BAD,
        # -- escaping the process tree
        "fork_exec new session": f"import _posixsubprocess, os\nr, w = os.pipe()\na = [['/bin/sleep', '{MARK}'], [b'/bin/sleep'], True, (), None, None, -1, -1, -1, -1, -1, -1, r, w, True, True, None, None, None, -1, -1]\nfor extra in ([None], [None, False], [None, False, None]):\n    try: _posixsubprocess.fork_exec(*a, *extra); break\n    except TypeError: pass\n" + BAD,
        "Popen new session": f"import subprocess\nsubprocess.Popen(['sleep', '{MARK}'], start_new_session=True)\n" + BAD,
        "double fork daemon": f"import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.execv('/bin/sleep', ['sleep', '{MARK}'])\n    os._exit(0)\n" + BAD,
        "ignore SIGHUP/SIGTERM and linger": f"import os, signal\nif os.fork() == 0:\n    signal.signal(signal.SIGHUP, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN)\n    os.setsid()\n    os.execv('/bin/sleep', ['sleep', '{MARK}'])\n" + BAD,
        # -- tampering with other processes
        "kill a host process": f"import os, signal\ntry: os.kill({pid}, signal.SIGKILL)\nexcept OSError: pass\n" + BAD,
        "kill the parent and group": "import os, signal\nfor f in (lambda: os.kill(os.getppid(), 9), lambda: os.killpg(0, 9)):\n    try: f()\n    except OSError: pass\n" + BAD,
        "kill everything (-1)": "import os\ntry: os.kill(-1, 9)\nexcept OSError: pass\n" + BAD,
        "pidfd_send_signal": f"import os, signal\ntry: signal.pidfd_send_signal(os.pidfd_open({pid}), signal.SIGKILL)\nexcept OSError: pass\n" + BAD,
        "resource.prlimit on a host pid": f"import resource\ntry: resource.prlimit({pid}, resource.RLIMIT_NOFILE, (3, 3))\nexcept OSError: pass\n" + BAD,
        "write a host process's memory": f"try: open('/proc/{pid}/mem', 'r+b').write(b'x')\nexcept OSError: pass\n" + BAD,
        "socket connect": f"import socket\ntry: socket.create_connection(('127.0.0.1', {port}), timeout=2).send(b'leak')\nexcept OSError: pass\n" + BAD,
        # -- exhausting resources
        "infinite loop": "while True:\n    pass\n" + GOOD,
        "sleep forever": "import time\ntime.sleep(3600)\n" + GOOD,
        "fork bomb": "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass\n",
        "memory bomb": "x = bytearray(8 * 1024 ** 3)\n" + GOOD,
        "huge output": "import sys\nfor _ in range(10 ** 6):\n    sys.stdout.write('x' * 1000)\n",
        "huge answer": "def add(a, b):\n    return 'x' * (64 << 20)\n",
        "deeply nested answer": "def add(a, b):\n    x = []\n    for _ in range(10 ** 5): x = [x]\n    return x\n",
        "fill the disk": "with open('big', 'wb') as f:\n    while True: f.write(b'x' * (1 << 20))\n" + GOOD,
        "thread bomb": "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(100,)).start()\n",
        "fd exhaustion": "import os\nfs = []\nwhile True:\n    fs.append(os.open('/dev/null', os.O_RDONLY))\n",
    }
    return p


@pytest.fixture
def host(tmp_path):
    """Things a hostile program might try to reach: a file, a listening socket, a secret, a process."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    victim.chmod(0o644)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    os.environ["REDIT_TEST_SECRET"] = "hunter2"
    sentinel = subprocess.Popen(["sleep", "300"])
    tmpname = f"redit-hostile-{os.getpid()}"
    yield {"victim": victim, "port": server.getsockname()[1], "server": server, "dir": tmp_path,
           "sentinel": sentinel.pid, "proc": sentinel, "tmpname": tmpname}
    server.close()
    os.environ.pop("REDIT_TEST_SECRET", None)
    sentinel.kill()
    sentinel.wait()


def _survivors():
    found = []
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and MARK.encode() in open(f"/proc/{p}/cmdline", "rb").read():
                found.append(int(p))
        except OSError:
            pass
    return found


def _nofile_limit(pid):
    return next(line for line in open(f"/proc/{pid}/limits") if line.startswith("Max open files"))


NAMES = sorted(hostile_programs({"victim": "/v", "dir": "/d", "port": 1, "sentinel": 1, "tmpname": "t"}))
assert len(NAMES) >= 40


@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("name", NAMES)
def test_hostile_program_scores_zero_and_leaves_the_host_unchanged(host, isolation, name):
    program = hostile_programs(host)[name]
    limit_before = _nofile_limit(host["sentinel"])
    start = time.time()
    result = run_tests(program, TESTS, timeout=3, memory_mb=512, isolation=isolation)
    took = time.time() - start
    assert not result.passed, f"{name}: scored a pass ({result})"
    assert took < 3 + 5, f"{name}: took {took:.1f}s"
    assert len(result.stdout) <= 64 * 1024 and len(result.stderr) <= 2 * 64 * 1024
    assert "hunter2" not in result.stdout + result.stderr
    # the host
    assert host["victim"].read_text() == "precious"
    assert oct(host["victim"].stat().st_mode & 0o777) == oct(0o644)
    assert sorted(x.name for x in host["dir"].iterdir()) == ["victim.txt"]
    for top in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
        assert not os.path.lexists(os.path.join(top, host["tmpname"])), top
    with pytest.raises(BlockingIOError):
        host["server"].accept()  # nobody connected
    assert host["proc"].poll() is None, "a host process was killed"
    assert _nofile_limit(host["sentinel"]) == limit_before, "a host process's limits changed"
    time.sleep(0.2)
    survivors = _survivors()
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"{name}: left processes behind"


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_honest_programs_still_pass(isolation):
    assert run_tests(GOOD, TESTS, isolation=isolation).passed
    counter = "import collections\ndef add(a, b):\n    return collections.Counter({'x': a + b})\n"
    assert run_tests(counter, ["assert add(1, 2) == {'x': 3}"], isolation=isolation).passed
    writes_in_cwd = "open('scratch.txt', 'w').write('ok')\nimport os\nos.remove('scratch.txt')\n" + GOOD
    assert run_tests(writes_in_cwd, TESTS, isolation=isolation).passed
    helper_named_like_builtin = "def max(a, b):\n    return a if a > b else b\ndef add(a, b):\n    return max(a + b, a + b)\n"
    assert run_tests(helper_named_like_builtin, TESTS, isolation=isolation).passed
    tree = "class Node:\n    def __init__(self, v): self.v, self.left = v, None\ndef depth(n):\n    return 0 if n is None else 1 + depth(n.left)\n"
    assert run_tests(tree, ["assert depth(root) == 2"], setup="root = Node(1)\nroot.left = Node(2)", isolation=isolation).passed
    gen = "def evens(n):\n    return (i for i in range(n) if i % 2 == 0)\n"
    assert run_tests(gen, ["assert list(evens(5)) == [0, 2, 4]", "import math\nassert math.isclose(sum(evens(3)), 2)"], isolation=isolation).passed
    typed = "def drop(xs, t):\n    return [x for x in xs if not isinstance(x, t)]\ndef sum(a, b):\n    return a - b\n"
    assert run_tests(typed, ["assert drop((1, 'a', 2.5), int) == ['a', 2.5]"], isolation=isolation).passed
    assert run_tests(typed, ["assert sum(5, 3) == 2"], isolation=isolation).passed  # MBPP's `def sum` under test
    raises = "def inv(x):\n    if x == 0: raise ValueError('zero')\n    return 1 / x\n"
    assert run_tests(raises, ["try:\n    inv(0)\nexcept ValueError:\n    pass\nelse:\n    assert False"], isolation=isolation).passed
    assert not run_tests(GOOD, ["assert add(1, 2) == 4"], isolation=isolation).passed
    assert not run_tests("def add(a, b):\n    return object()\n", ["assert add(1, 2)"], isolation=isolation).passed


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_humaneval_helpers_come_from_the_prompt_not_the_program(isolation):
    """HumanEval/32-style: `check` uses the prompt's `poly`; a program redefining it stays wrong."""
    prompt = "def poly(xs, x):\n    return sum(c * x ** i for i, c in enumerate(xs))\ndef root(xs):\n    '''a zero of poly'''\n"
    test = "def check(candidate):\n    assert abs(poly([-2, 1], candidate([-2, 1]))) < 1e-6\ncheck(root)\n"
    honest = prompt + "    return -xs[0] / xs[1]\n"
    forged = "def poly(xs, x):\n    return 0\ndef root(xs):\n    return 123.0\n"
    assert run_tests(honest, test, context=prompt, calls=("root",), isolation=isolation).passed
    assert not run_tests(forged, test, context=prompt, calls=("root",), isolation=isolation).passed


def test_the_issue_forgery_scores_zero():
    forged = ("```python\nimport sys\nsys.modules['__main__']._strict_eq = lambda a, b: True\n"
              "def min_cost(cost, m, n):\n    return -1\n```")
    assert rewards.score("mbpp", forged, {"test_list": ["assert min_cost([[1, 2, 3], [4, 8, 2], [1, 5, 3]], 2, 2) == 8"]}) == 0.0


def test_mbpp_reward_uses_the_sandbox_and_setup_code():
    reference = {"test_list": ["assert area(Sq(4)) == 16"], "test_setup_code": "s = None"}
    good = "```python\nclass Sq:\n    def __init__(self, n): self.n = n\ndef area(s):\n    return s.n ** 2\n```"
    assert rewards.score("mbpp", good, reference) == 1.0
    assert rewards.score("mbpp", good.replace("** 2", "* 3"), reference) == 0.0


def test_every_isolation_mode_this_machine_should_have_works():
    """bwrap when installed (anywhere); the unshare fallback whenever we are root."""
    if sandbox._which("bwrap"):
        assert "bwrap" in ISOLATIONS
    if os.geteuid() == 0:
        assert "unshare" in ISOLATIONS
    assert ISOLATIONS, sandbox.FIX


@pytest.mark.skipif(not sandbox._which("bwrap"), reason="bubblewrap not installed")
def test_bwrap_found_outside_the_usual_dirs(monkeypatch):
    """bwrap resolved to an absolute path by the parent: the child's PATH never needs it."""
    import shutil
    import tempfile
    from pathlib import Path

    tmp_path = Path(tempfile.mkdtemp(prefix="redit-oddbin-"))  # pytest's tmp is mode 700; bwrap runs as nobody
    odd = tmp_path / "odd" / "bin"
    odd.mkdir(parents=True)
    shutil.copy2(sandbox._which("bwrap"), odd / "bwrap")
    for p in (tmp_path, tmp_path / "odd", odd):
        p.chmod(0o755)  # bwrap runs as nobody when we are root
    monkeypatch.setenv("PATH", f"{odd}:{os.environ['PATH']}")
    monkeypatch.setattr(sandbox, "_PROBED", {})
    assert sandbox._which("bwrap") == str(odd / "bwrap")
    assert sandbox.isolation_default() == "bwrap"
    try:
        assert run_tests(GOOD, TESTS, isolation="bwrap").passed
    finally:
        shutil.rmtree(tmp_path)


def test_no_safe_mode_refuses_with_one_line(monkeypatch):
    # Simulates a machine without bubblewrap and without root (cannot be produced for real here).
    monkeypatch.setattr(sandbox, "_PROBED", {"bwrap": False, "unshare": False})
    with pytest.raises(SandboxUnavailable) as err:
        rewards.score("mbpp", GOOD, {"test_list": ["assert add(1, 2) == 3"]})
    assert "\n" not in str(err.value) and "apt-get install bubblewrap" in str(err.value)


def test_tests_never_enter_the_sandbox(tmp_path):
    """The program process sees the arguments but not the expected values."""
    spy = hostile_programs({"victim": "/v", "dir": "/d", "port": 1, "sentinel": 1, "tmpname": "t"})["/proc/self/mem scan"]
    spy = spy.replace("return int(found[0]) if found else -1", "return len(found) + 1")  # found nothing -> 1
    result = run_tests(spy, ["assert add(1, 2) == 1"], isolation=ISOLATIONS[0])
    assert result.passed, result


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
