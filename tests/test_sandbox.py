"""Hostile programs: each must score 0 within its time limit and leave the host unchanged.

Run under every isolation available here: bubblewrap when installed (.ci/run installs it) and the
hardened subprocess fallback, which must hold on its own."""

import os
import socket
import time

import pytest

from redit import rewards
from redit.sandbox import isolation_default, run_tests

ISOLATIONS = ["subprocess"] + (["bwrap"] if isolation_default() == "bwrap" else [])
TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert abs(add(0.5, 0.25) - 0.75) < 1e-9"]
GOOD = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def host(tmp_path):
    """Things a hostile program might try to reach: a file, a listening socket, a secret."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    os.environ["REDIT_TEST_SECRET"] = "hunter2"
    yield {"victim": victim, "port": server.getsockname()[1], "server": server, "dir": tmp_path}
    server.close()
    os.environ.pop("REDIT_TEST_SECRET", None)


def hostile_programs(h):
    victim, port = h["victim"], h["port"]
    return {
        "infinite loop": "while True:\n    pass\n" + GOOD,
        "sleep forever": "import time\ntime.sleep(3600)\n" + GOOD,
        "fork bomb": "import os\nwhile True:\n    os.fork()\n",
        "subprocess bomb": "import subprocess\nwhile True:\n    subprocess.Popen(['sleep', '100'])\n",
        "memory bomb": "x = bytearray(8 * 1024 ** 3)\n" + GOOD,
        "huge output": "import sys\nfor _ in range(10 ** 6):\n    sys.stdout.write('x' * 1000)\n",
        "write outside": f"open({str(victim)!r}, 'w').write('pwned')\n" + GOOD,
        "delete outside": f"import os\nos.remove({str(victim)!r})\n" + GOOD,
        "new file outside": f"open({str(h['dir'] / 'dropped.txt')!r}, 'w').write('x')\n" + GOOD,
        "socket connect": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).send(b'leak')\n" + GOOD,
        "read secret env": "import os\nS = os.environ.get('REDIT_TEST_SECRET')\ndef add(a, b):\n    return a + b if S == 'hunter2' else None\n",
        "kill parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + GOOD,
        "kill process group": "import os, signal\nos.killpg(0, signal.SIGKILL)\n",
        "sys.exit(0) first": "import sys\nsys.exit(0)\n",
        "os._exit(0) first": "import os\nos._exit(0)\n",
        "exit in atexit": "import atexit, os\natexit.register(lambda: os._exit(0))\nraise SystemExit(0)\n",
        "always-equal object": "class Eq:\n    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n    def __sub__(self, o): return 0\n    def __rsub__(self, o): return 0\ndef add(a, b):\n    return Eq()\n",
        "int subclass equal": "class I(int):\n    def __eq__(self, o): return True\n    def __sub__(self, o): return 0\ndef add(a, b):\n    return I(0)\n",
        "patched Counter eq": "import collections\ncollections.Counter.__eq__ = lambda s, o: True\ndef add(a, b):\n    return collections.Counter()\n",
        "rebind builtins.abs": "import builtins\nbuiltins.abs = lambda x: 0\ndef add(a, b):\n    return 0\n",
        "shadow abs globally": "def abs(x):\n    return 0\ndef add(a, b):\n    return a - b\n",
        "print a fake marker": "print('REDIT-TESTS-PASSED-' + '0' * 32)\nimport os\nos._exit(0)\n",
        "steal token via frames": "import sys\nf = sys._getframe(1)\nprint(f.f_locals.get('token'))\nimport os\nos._exit(0)\n",
        "steal token via gc": "import gc\nprint([o for o in gc.get_objects() if isinstance(o, str) and o.startswith('REDIT-TESTS')])\n",
        "syntax error": "def add(a, b)\n    return a + b\n",
    }


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_hostile_programs_score_zero_and_leave_the_host_unchanged(host, isolation):
    programs = hostile_programs(host)
    assert len(programs) >= 15
    for name, program in programs.items():
        start = time.time()
        result = run_tests(program, TESTS, timeout=3, memory_mb=512, isolation=isolation)
        took = time.time() - start
        assert not result.passed, f"{name}: scored a pass ({result})"
        assert took < 3 + 5, f"{name}: took {took:.1f}s"
        assert len(result.stdout) <= 64 * 1024 and len(result.stderr) <= 64 * 1024, name
        assert host["victim"].read_text() == "precious", name
        assert not (host["dir"] / "dropped.txt").exists(), name
        with pytest.raises(BlockingIOError):
            host["server"].accept()  # nobody connected
        assert "hunter2" not in result.stdout + result.stderr, name


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_honest_programs_still_pass(isolation):
    assert run_tests(GOOD, TESTS, isolation=isolation).passed
    counter = "import collections\ndef add(a, b):\n    return collections.Counter({'x': a + b})\n"
    assert run_tests(counter, ["assert add(1, 2) == {'x': 3}"], isolation=isolation).passed
    writes_in_tmp = "open('scratch.txt', 'w').write('ok')\n" + GOOD  # its own work dir is writable
    assert run_tests(writes_in_tmp, TESTS, isolation=isolation).passed
    helper_named_like_builtin = "def max(a, b):\n    return a if a > b else b\ndef add(a, b):\n    return max(a + b, a + b)\n"
    assert run_tests(helper_named_like_builtin, TESTS, isolation=isolation).passed
    assert not run_tests(GOOD, ["assert add(1, 2) == 4"], isolation=isolation).passed


def test_mbpp_reward_uses_the_sandbox_and_setup_code():
    reference = {"test_list": ["assert area(Sq(4)) == 16"], "test_setup_code": "s = None"}
    good = "```python\nclass Sq:\n    def __init__(self, n): self.n = n\ndef area(s):\n    return s.n ** 2\n```"
    assert rewards.score("mbpp", good, reference) == 1.0
    assert rewards.score("mbpp", good.replace("** 2", "* 3"), reference) == 0.0
