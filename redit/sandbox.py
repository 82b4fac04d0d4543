"""Run model-written Python against tests, treating it as hostile input.

    >>> run_tests("def add(a, b):\\n    return a + b", ["assert add(1, 2) == 3"]).passed
    True

Design: two processes per evaluation, and the verdict is never decided where model code runs.

* **The program process** (untrusted) runs the model's program inside an OS sandbox, then serves
  requests on a pipe: "call `name`/object with these arguments", "get/set this attribute", "list /
  len / index this object". It answers with the *outputs* only, serialized as tagged JSON of plain
  data (None, bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset, Counter,
  OrderedDict, defaultdict, deque); any other object stays in the program process and travels as an
  opaque handle. It never sees the tests, the expected values or the verdict.
* **The judge process** (trusted: it runs only the dataset's test code, e.g. MBPP's `test_list` and
  `test_setup_code`, or HumanEval's prompt, `check` and `check(entry_point)`) runs the tests with
  every name the program was meant to define bound to a proxy for the program process. It decodes
  answers with a strict decoder that can only build the plain types above from its own classes, so
  `==`, `math.isclose`, `sorted`, ... are the real ones. A proxy's truth value and ordering are
  refused (TypeError) and `==` on it is identity, so a non-plain object cannot answer a check. Names
  the tests use that are standard-library modules (`math`, `re`, ...) are imported by the judge
  itself, never taken from the program. The judge prints the verdict to its own stdout, which the
  program process cannot reach; the parent reads it there.

Guarantees: a pass means the judge ran every test to the end and each check held on values the
program process returned for the tests' inputs. Rebinding checkers, patching `__eq__`, printing
markers, exiting early, introspecting frames or memory, or killing the judge cannot produce a pass
(the judge runs as a different user / outside the sandbox's PID namespace, and a judge that dies or
times out is a fail).
Not guaranteed: that the tests are strong (a test that compares two program outputs with each other,
or only calls the program, is as weak here as anywhere); tests that rely on the program mutating an
argument in place fail (arguments are copied across the pipe), as do tests that pass a judge-side
function (a lambda) to the program; the program runs on the sandbox's interpreter, which can be a
different patch release of the same Python than the caller's; side channels, CPU contention between
concurrent sandboxes and kernel exploits are out of scope.

Isolation (`isolation_default()` picks the first that works, or REDIT_SANDBOX=bwrap|unshare;
`run_tests` refuses to run without one):
* `bwrap`: bubblewrap 0.8+, found by absolute path (PATH, then the usual install dirs), with new user
  (the program is uid/gid 65534 in it, and cannot make user namespaces of its own:
  `--disable-userns`), PID, network, UTS, cgroup and IPC namespaces (as root the IPC one is made
  before bubblewrap starts, see below), a file system holding only /usr (+ the
  /bin, /lib links), the interpreter's prefix, a fresh /proc (with /proc/keys and /proc/key-users
  hidden), a read-only /dev of null, zero, full, random and urandom, and sized tmpfs: /tmp (DISK_MB,
  also the program's cwd) and /dev/shm (SHM_MB). The program is PID 1 of its namespace and dies with
  its parent. When the caller is root, bubblewrap runs as the scoring's own uid (below), with a
  system python3 when the caller's interpreter is under a mode-700 home.
* `unshare`: (root only) util-linux `unshare` gives new PID (with a fresh /proc, /proc/keys hidden),
  mount, network and UTS namespaces; read-only-for-it tmpfs (64 KB, mode 755) over every private
  place (/var, /run, /home, /root, /sys, /dev/mqueue, ...), a DISK_MB tmpfs as /tmp and cwd and an
  SHM_MB one as /dev/shm; then `setpriv` drops to the scoring's uid with no capabilities and
  no_new_privs, and two user namespaces follow (the first caps user.max_user_namespaces, so the
  program cannot make its own; the second makes it uid/gid 65534). /etc/shadow stays unreadable
  (mode 640), the caller's environment is not inherited.
Per scoring, in both modes (as root): a uid of its own, REDIT_SANDBOX_UID_BASE (default UID_BASE) +
a slot of UID_SLOTS taken round-robin and held by an abstract unix socket; a fresh user namespace (so
its user, user-session and persistent keyrings are new), a fresh anonymous session keyring, a fresh
IPC namespace whose System V limits are set first (shared memory <= SHM_MB in all, 16 queues), and
after the verdict `kill -9 -1` run as that uid, so every process of the scoring dies (even one that
left the session and cleared its parent-death signal). The program's source reaches it through a
memfd: nothing of the program's is ever on the host's disk, and its files live only in its tmpfs,
which vanish with its mount namespace.
The judge is not sandboxed (it runs only the dataset's tests, as the caller, with the same rlimits, a
clean environment and its own temporary directory, which the program cannot see; removed by
`remove_tree`, which copes with any depth or mode).
Limits, both modes: RLIMIT_CPU (the timeout), RLIMIT_AS (memory_mb, per process), RLIMIT_FSIZE
(FILE_MB), RLIMIT_NOFILE (NOFILE), no core dumps, and NPROC processes (threads included), counted in
the scoring's own user namespace, so concurrent scorings (verl scores in a thread pool) never share a
count; files at most DISK_MB + SHM_MB (+ 64 KB of /dev under bwrap) in all; a wall-clock timeout.

What each mode promises (tests/test_sandbox.py runs its hostile programs under both): nothing a
program leaves (files, keyrings, System V or POSIX IPC, processes, sockets) reaches the next scoring
or a concurrent one; nothing it does raises out of `run_tests` or `redit.rewards.score` (any str:
NULs, lone surrogates, huge; a program over MAX_PROGRAM bytes fails unrun); it writes nothing to the
host. Not promised: a total memory bound. RLIMIT_AS is per process, and kernel memory held through
tmpfs inodes, pipes or memfds (<= NOFILE x FILE_MB) is not counted in it; without a memory cgroup the
worst case is about NPROC x memory_mb. As a non-root caller (bwrap only) there is no per-scoring uid:
System V limits are the kernel's defaults, and a program that leaves its session and clears its
parent-death signal can outlive its scoring (root callers, as in .ci and here, are covered). The
keyctl step needs a known syscall number (x86_64, aarch64, riscv64, loongarch64). A builtin-named
task's program (MBPP's `def sum`) over MAX_PARSE characters is parsed as defining nothing.
"""

from __future__ import annotations

import ast
import builtins
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MAX_OUTPUT = 64 * 1024  # bytes of stdout/stderr kept
MAX_MESSAGE = 8 << 20  # bytes in one answer from the program process
MAX_PROGRAM = 16 << 20  # bytes of program source (UTF-8); a larger program fails without running
MAX_PARSE = 1 << 20  # characters of program source the caller parses itself (see _top_level_defs)
NPROC = 64  # processes (threads included) per scoring
DISK_MB = 32  # the program's cwd and /tmp: one private tmpfs of this size
SHM_MB = 8  # /dev/shm: a private tmpfs of this size; SysV shared memory is capped at the same size
FILE_MB = 16  # RLIMIT_FSIZE: the largest file (memfds included)
NOFILE = 64  # RLIMIT_NOFILE
NOBODY = 65534
UID_SLOTS = 4096  # root: each concurrent scoring runs as its own uid, UID_BASE + slot
UID_BASE = 0x7A000000  # 2046820352; REDIT_SANDBOX_UID_BASE overrides (a block of UID_SLOTS unused uids)
FIX = ("code rewards need a sandbox and none works here: install bubblewrap 0.8 or newer (apt-get install bubblewrap), "
       "or run as root with util-linux's unshare and setpriv")


class SandboxUnavailable(RuntimeError):
    """No isolation mode works on this machine; the message is one line naming the fix."""


@dataclass
class SandboxResult:
    passed: bool
    status: str  # passed | failed | timeout | error
    returncode: int | None  # the judge's exit status
    seconds: float
    stdout: str  # the judge's report (+ the program's own stdout, which goes to stderr)
    stderr: str


# ----------------------------------------------------------------- the program process (untrusted)
# Plain source, run by `python -I -S` inside the sandbox; needs nothing from this package.
# fd 0: requests from the judge, fd 1: answers to the judge; the program's prints go to stderr.
CHILD = r'''
import builtins as _bi, collections as _c, json as _json, os as _os, resource as _res, sys as _sys
# Processes per scoring, counted in this scoring's own user namespace (so per scoring, not per uid).
_h = _res.getrlimit(_res.RLIMIT_NPROC)[1]
_res.setrlimit(_res.RLIMIT_NPROC, (@NPROC@, @NPROC@) if _h == _res.RLIM_INFINITY or _h > @NPROC@ else (_h, _h))
_rin = _os.fdopen(_os.dup(0), "rb"); _rout = _os.fdopen(_os.dup(1), "wb")
_null = _os.open(_os.devnull, _os.O_RDONLY); _os.dup2(_null, 0); _os.dup2(2, 1)
_OBJ = {}
_SEQ = {list: "l", tuple: "u", set: "S", frozenset: "z", _c.deque: "q"}
_MAP = {dict: "d", _c.Counter: "C", _c.OrderedDict: "O", _c.defaultdict: "D"}

def _enc(x, depth=0):
    t = type(x)
    if depth > 200:
        raise ValueError("value nested too deeply")
    if x is None: return ["n"]
    if t is bool: return ["t" if x else "F"]
    if t is int: return ["i", hex(x)]
    if t is float: return ["f", x.hex()]
    if t is complex: return ["c", x.real.hex(), x.imag.hex()]
    if t is str: return ["s", x]
    if t is bytes: return ["b", x.hex()]
    if t in _SEQ: return [_SEQ[t], [_enc(v, depth + 1) for v in x]]
    if t in _MAP: return [_MAP[t], [[_enc(k, depth + 1), _enc(v, depth + 1)] for k, v in dict.items(x)]]
    _OBJ[id(x)] = x
    return ["h", id(x)]

def _dec(v):
    tag = v[0]
    if tag == "h": return _OBJ[v[1]]
    if tag == "g": return _NS[v[1]]
    if tag == "B": return getattr(_bi, v[1])
    if tag == "n": return None
    if tag in "tF": return tag == "t"
    if tag == "i": return int(v[1], 16)
    if tag == "f": return float.fromhex(v[1])
    if tag == "c": return complex(float.fromhex(v[1]), float.fromhex(v[2]))
    if tag == "s": return v[1]
    if tag == "b": return bytes.fromhex(v[1])
    seq = {"l": list, "u": tuple, "S": set, "z": frozenset, "q": _c.deque}
    if tag in seq: return seq[tag](_dec(e) for e in v[1])
    maps = {"d": dict, "C": lambda kv: _c.Counter(dict(kv)), "O": _c.OrderedDict, "D": dict}
    return maps[tag]((_dec(k), _dec(e)) for k, e in v[1])

_NS = {"__name__": "__main__", "__builtins__": __builtins__}
_LOAD_ERROR = None
try:
    with _os.fdopen(int(_sys.argv[1]), "r", encoding="utf-8") as _f:  # the program's source (a memfd)
        _SRC = _f.read()
    exec(compile(_SRC, "<program>", "exec"), _NS)
except BaseException as e:  # noqa: the program may raise anything, SystemExit included
    _LOAD_ERROR = ["RuntimeError", "the program raised " + type(e).__name__ + ": " + str(e)[:500]]

def _serve(req):
    if _LOAD_ERROR:
        return {"e": _LOAD_ERROR}
    op, ref = req["op"], _dec(req["ref"])
    if op == "call":
        out = ref(*[_dec(a) for a in req["args"]], **{k: _dec(a) for k, a in req["kwargs"].items()})
    elif op == "get":
        out = ref
    elif op == "getattr":
        out = getattr(ref, req["name"])
    elif op == "setattr":
        setattr(ref, req["name"], _dec(req["value"])); out = None
    elif op == "list":
        out = list(ref)
    elif op == "len":
        out = len(ref)
    elif op == "getitem":
        out = ref[_dec(req["key"])]
    else:
        raise ValueError(op)
    return {"v": _enc(out)}

for _line in _rin:
    try:
        _ans = _serve(_json.loads(_line))
    except BaseException as e:  # noqa: report, keep serving
        _ans = {"e": [type(e).__name__, str(e)[:500]]}
    try:
        _data = _json.dumps(_ans)
    except BaseException as e:  # noqa
        _data = _json.dumps({"e": [type(e).__name__, str(e)[:500]]})
    _rout.write(_data.encode() + b"\n"); _rout.flush()
'''

CHILD = CHILD.replace("@NPROC@", str(NPROC))

# ----------------------------------------------------------------- the judge process (trusted)
# Runs the dataset's tests; only plain data and opaque handles come back from the program.
# fd 0: answers from the program process; REQ_FD: requests to it; stdout: the verdict.
JUDGE = r'''
import builtins as _b, collections as _c, importlib as _il, json as _json, os as _os, sys as _sys
_CFG = _json.loads(open(_sys.argv[1], encoding="utf-8").read())
_rin = _os.fdopen(0, "rb"); _rout = _os.fdopen(_CFG["req_fd"], "wb")
_MAX = _CFG["max_message"]

class _Remote:
    """An object living in the program process. No truth value, no ordering, == is identity."""
    __slots__ = ("_ref",)
    def __init__(self, ref): object.__setattr__(self, "_ref", ref)
    def __call__(self, *args, **kwargs):
        return _ask({"op": "call", "ref": self._ref, "args": [_enc(a) for a in args],
                     "kwargs": {k: _enc(v) for k, v in kwargs.items()}})
    def __getattr__(self, name):
        if name.startswith("__"): raise AttributeError(name)
        return _ask({"op": "getattr", "ref": self._ref, "name": name})
    def __setattr__(self, name, value): _ask({"op": "setattr", "ref": self._ref, "name": name, "value": _enc(value)})
    def __iter__(self): return iter(_ask({"op": "list", "ref": self._ref}))
    def __len__(self):
        n = _ask({"op": "len", "ref": self._ref})
        if type(n) is not int: raise TypeError("len() of a program object is not an int")
        return n
    def __getitem__(self, key): return _ask({"op": "getitem", "ref": self._ref, "key": _enc(key)})
    def __bool__(self): raise TypeError("sandbox: the truth value of a program object is not trusted")
    def __repr__(self): return "<program object>"
    __hash__ = object.__hash__

_BUILTIN_IDS = {id(v): k for k, v in vars(_b).items() if callable(v) and not k.startswith("_")}

def _enc(x, depth=0):
    t = type(x)
    if depth > 200: raise ValueError("argument nested too deeply")
    if t is _Remote: return x._ref
    if _BUILTIN_IDS.get(id(x)) is not None and getattr(_b, _BUILTIN_IDS[id(x)]) is x:
        return ["B", _BUILTIN_IDS[id(x)]]  # int, str, len, ... (MBPP passes types as arguments)
    if x is None: return ["n"]
    if t is bool: return ["t" if x else "F"]
    if t is int: return ["i", hex(x)]
    if t is float: return ["f", x.hex()]
    if t is complex: return ["c", x.real.hex(), x.imag.hex()]
    if t is str: return ["s", x]
    if t is bytes: return ["b", x.hex()]
    for typ, tag in ((list, "l"), (tuple, "u"), (set, "S"), (frozenset, "z"), (_c.deque, "q")):
        if t is typ: return [tag, [_enc(v, depth + 1) for v in x]]
    for typ, tag in ((dict, "d"), (_c.Counter, "C"), (_c.OrderedDict, "O"), (_c.defaultdict, "d")):
        if t is typ: return [tag, [[_enc(k, depth + 1), _enc(v, depth + 1)] for k, v in dict.items(x)]]
    raise TypeError(f"sandbox: cannot pass a {t.__name__} to the program")

_SEQ = {"l": list, "u": tuple, "S": set, "z": frozenset, "q": _c.deque}
_MAP = {"d": dict, "C": lambda items: _c.Counter(dict(items)), "O": _c.OrderedDict,
        "D": lambda items: _c.defaultdict(None, items)}

def _dec(v, depth=0):
    # Strict: only these tags, only these types; anything malformed raises (and the test fails).
    if type(v) is not list or not v or depth > 200: raise ValueError("malformed answer")
    tag, n = v[0], len(v)
    if tag == "h" and n == 2 and type(v[1]) is int: return _Remote(["h", v[1]])
    if tag == "n" and n == 1: return None
    if tag in ("t", "F") and n == 1: return tag == "t"
    if n == 2 and type(v[1]) is str:
        if tag == "i": return int(v[1], 16)
        if tag == "f": return float.fromhex(v[1])
        if tag == "s": return v[1]
        if tag == "b": return bytes.fromhex(v[1])
    if tag == "c" and n == 3 and type(v[1]) is str and type(v[2]) is str:
        return complex(float.fromhex(v[1]), float.fromhex(v[2]))
    if n == 2 and type(v[1]) is list:
        if tag in _SEQ: return _SEQ[tag](_dec(e, depth + 1) for e in v[1])
        if tag in _MAP:
            items = []
            for kv in v[1]:
                if type(kv) is not list or len(kv) != 2: raise ValueError("malformed answer")
                items.append((_dec(kv[0], depth + 1), _dec(kv[1], depth + 1)))
            return _MAP[tag](items)
    raise ValueError("malformed answer")

def _ask(req):
    _rout.write(_json.dumps(req).encode() + b"\n"); _rout.flush()
    line = _rin.readline(_MAX)
    if not line.endswith(b"\n"): raise RuntimeError("the program process stopped answering")
    ans = _json.loads(line)
    if type(ans) is not dict: raise ValueError("malformed answer")
    if "e" in ans:
        name, msg = str(ans["e"][0]), str(ans["e"][1])
        exc = getattr(_b, name, None)
        if not (isinstance(exc, type) and issubclass(exc, Exception)): exc = RuntimeError
        raise exc(f"(in the program) {msg}")
    return _dec(ans["v"])

def _main():
    g = {"__name__": "__main__", "__builtins__": _b}
    for mod in _CFG["modules"]:
        g[mod] = _il.import_module(mod)
    if _CFG["context"]:
        exec(compile(_CFG["context"], "<context>", "exec"), g)
    for name in _CFG["remote"]:
        g[name] = _Remote(["g", name])
    exec(compile(_CFG["setup"], "<setup>", "exec"), g)
    exec(compile(_CFG["tests"], "<tests>", "exec"), g)

try:
    _main()
except BaseException as e:  # noqa: any failure is a fail, with its reason
    _sys.stdout.write("\nFAIL " + type(e).__name__ + ": " + str(e)[:1000] + "\n"); _sys.stdout.flush()
    _os._exit(1)
_sys.stdout.write("\nPASS\n"); _sys.stdout.flush()
_os._exit(0)
'''


def split_names(tests: str, setup: str = "", context: str = "", calls=(), program: str = "") -> tuple[list[str], list[str]]:
    """(names the program must provide, stdlib modules the judge imports) for these tests.

    A free name of the tests/setup that they do not bind is the program's, unless it is a builtin,
    a name the trusted `context` binds, or a standard-library module. `calls` are always the
    program's (HumanEval's entry point, which the prompt in `context` also defines). A builtin name
    the program redefines is the program's only when the tests use no other program name (MBPP's
    `def sum(a, b)` is the function under test; a program's `abs` next to its `add` is not)."""
    bound, used = set(), set()
    for src in (setup, tests):
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Name):
                (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.alias):
                bound.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
    context_bound = set()
    if context:
        for node in ast.parse(context).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                context_bound.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                context_bound.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    context_bound.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
    free = used - bound - set(dir(builtins))
    modules = sorted(n for n in free if n in sys.stdlib_module_names and n not in calls)
    remote = (free - set(modules) - context_bound) | set(calls)
    if not remote and program:
        remote = (used - bound) & set(dir(builtins)) & _top_level_defs(program)
    return sorted(remote), modules


def _top_level_defs(program: str) -> set[str]:
    """Top-level definitions of the (untrusted) program, parsed here: anything it cannot parse
    (syntax errors, NULs, surrogates, nesting that exhausts the parser's recursion or memory,
    sources over MAX_PARSE characters) defines nothing, as a syntax error would."""
    if len(program) > MAX_PARSE:
        return set()
    try:
        body = ast.parse(program).body
    except Exception:  # noqa: BLE001 (SyntaxError, ValueError, RecursionError, MemoryError, ...)
        return set()
    return {n.name for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


# ----------------------------------------------------------------- isolation modes
_BWRAP_DIRS = ("/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin", "/opt/bin")
_PROBED: dict = {}


def _which(name: str) -> str | None:
    """Absolute path, resolved here (never through the child's PATH): PATH first, then usual dirs."""
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_BWRAP_DIRS))
    return os.path.realpath(found) if found else None


def _as_root() -> bool:
    return os.geteuid() == 0


def _drop_kwargs() -> dict:
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []} if _as_root() else {}


def _run_quiet(cmd, **kw) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=20, env=_ENV, cwd="/", **kw).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}


def child_python() -> str | None:
    """An interpreter the sandboxed user can execute: the caller's own if it can, else a system
    python3 (a root caller's interpreter often lives under a mode-700 home)."""
    if "python" not in _PROBED:
        cands = [os.path.realpath(sys.executable)]
        if _as_root():
            cands += [p for p in ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3") if os.path.exists(p)]
        _PROBED["python"] = next((os.path.realpath(c) for c in cands
                                  if _run_quiet([os.path.realpath(c), "-I", "-S", "-c", "import json, collections"],
                                                **_drop_kwargs())), None)
    return _PROBED["python"]


# ----------------------------------------------------------------- per-scoring identity (root)
_SLOT_COUNTER = itertools.count(random.randrange(UID_SLOTS))


def _mapped(first: int, count: int, path: str) -> bool:
    """Whether ids first..first+count-1 are all mapped in this process's user namespace."""
    try:
        nums = [int(x) for x in open(path).read().split()]
    except (OSError, ValueError):
        return False
    return any(lo <= first and first + count <= lo + n for lo, _, n in zip(nums[::3], nums[1::3], nums[2::3]))


def uid_base() -> int | None:
    """First uid of the block of UID_SLOTS uids a root caller runs its scorings as (one per concurrent
    scoring): REDIT_SANDBOX_UID_BASE, else UID_BASE; None when the block is not mapped here or holds a
    user or group of this system (then no mode is offered to root)."""
    if "uid_base" not in _PROBED:
        import grp
        import pwd

        try:
            base = int(os.environ.get("REDIT_SANDBOX_UID_BASE", UID_BASE))
        except ValueError:
            base = -1
        taken = {u.pw_uid for u in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()}
        ok = (NOBODY < base and base + UID_SLOTS < (1 << 32) - 1 and not any(base <= t < base + UID_SLOTS for t in taken)
              and _mapped(base, UID_SLOTS, "/proc/self/uid_map") and _mapped(base, UID_SLOTS, "/proc/self/gid_map"))
        _PROBED["uid_base"] = base if ok else None
    return _PROBED["uid_base"]


class _Slot:
    """A uid of its own for one scoring (root only), held by binding an abstract unix socket, so
    concurrent scorings in any process of this network namespace never share one. Slots are taken
    round-robin, so a uid is reused only after UID_SLOTS - 1 other scorings."""

    def __init__(self):
        base = uid_base()
        if base is None:
            raise SandboxUnavailable(f"no free block of sandbox uids (set REDIT_SANDBOX_UID_BASE); {FIX}")
        for _ in range(UID_SLOTS):
            i = next(_SLOT_COUNTER) % UID_SLOTS
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                sock.bind(f"\0redit-sandbox-uid-{base + i}")
            except OSError:
                sock.close()
                continue
            self.uid, self._sock = base + i, sock
            return
        raise RuntimeError("sandbox: all sandbox uids are in use")

    def release(self):
        """Kill every process of this uid (all of this scoring's), then free the slot."""
        try:
            _kill_uid(self.uid)
        finally:
            self._sock.close()


def _kill_uid(uid: int):
    """SIGKILL every process running as `uid`: kill(-1) from a helper that runs as that uid."""
    subprocess.run([_PROBED.get("sh_path") or "/bin/sh", "-c", "kill -9 -1 2>/dev/null; exit 0"], env=_ENV, cwd="/",
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True,
                   user=uid, group=uid, extra_groups=[], timeout=30)


# ----------------------------------------------------------------- set-up of the sandbox's first process
# keyctl's number on x86_64 / in the generic table (aarch64, riscv64, loongarch64); elsewhere skipped
_KEYCTL_NR = {"x86_64": 250, "aarch64": 219, "riscv64": 219, "loongarch64": 219}.get(os.uname().machine)
_CLONE_NEWIPC = 0x08000000
_LIBC = []


def _libc():
    if not _LIBC:
        import ctypes

        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _ipc_sysctls() -> dict:
    """Limits of the scoring's own IPC namespace: SysV shared memory <= SHM_MB in all, 16 message queues."""
    page = os.sysconf("SC_PAGE_SIZE")
    return {"shmmax": SHM_MB << 20, "shmall": (SHM_MB << 20) // page, "shmmni": 16, "msgmni": 16}


def _preexec(cpu_s: int, memory_mb: int, sandbox: bool = False, uid: int | None = None):
    """Runs in the forked child before exec. For the sandbox: a fresh anonymous session keyring (no
    keyring of the caller's stays reachable) and, as root, a fresh IPC namespace with small SysV
    limits; then the rlimits; then (bwrap as root) the scoring's own uid."""
    import ctypes
    import resource

    libc = _libc() if sandbox else None
    sysctls = _ipc_sysctls() if sandbox and _as_root() else {}

    def apply():
        if sandbox:
            if _KEYCTL_NR is not None:  # KEYCTL_JOIN_SESSION_KEYRING(NULL): a new anonymous session keyring
                if libc.syscall(ctypes.c_long(_KEYCTL_NR), ctypes.c_long(1), ctypes.c_void_p(0)) < 0:
                    raise OSError(ctypes.get_errno(), "keyctl(JOIN_SESSION_KEYRING)")
            if sysctls:
                if libc.unshare(ctypes.c_int(_CLONE_NEWIPC)) != 0:
                    raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWIPC)")
                for name, value in sysctls.items():
                    with open(f"/proc/sys/kernel/{name}", "w") as f:
                        f.write(str(value))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_MB << 20, FILE_MB << 20))
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)

    return apply


# ----------------------------------------------------------------- the two isolation modes
# Lists of kernel keys (all users' keys that the reader may view, with their descriptions): hidden,
# so a key an earlier scoring left (freed asynchronously) cannot be found again by its serial.
_PROC_HIDDEN = ("/proc/keys", "/proc/key-users")
def _bwrap_cmd(python: str, src_fd: int) -> list[str]:
    cmd = [_PROBED["bwrap_path"], "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if not _as_root():
        cmd.append("--unshare-ipc")  # as root the IPC namespace is made (and limited) before bwrap starts
    cmd += ["--disable-userns", "--uid", str(NOBODY), "--gid", str(NOBODY),
            "--die-with-parent", "--new-session", "--as-pid-1"]
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    prefix = os.path.dirname(os.path.dirname(python))  # .../bin/python3 -> its install prefix
    if not prefix.startswith("/usr/"):
        cmd += ["--ro-bind", prefix, prefix]
    cmd += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache", "--proc", "/proc"]
    for hidden in _PROC_HIDDEN:
        cmd += ["--ro-bind-try", "/dev/null", hidden]
    cmd += ["--size", str(64 << 10), "--perms", "0755", "--tmpfs", "/dev"]
    for node in ("null", "zero", "full", "random", "urandom"):
        cmd += ["--dev-bind-try", f"/dev/{node}", f"/dev/{node}"]
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        cmd += ["--symlink", target, f"/dev/{name}"]
    cmd += ["--size", str(SHM_MB << 20), "--perms", "01777", "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
            "--size", str(DISK_MB << 20), "--perms", "01777", "--tmpfs", "/tmp", "--chdir", "/tmp"]
    return cmd + [python, "-I", "-S", "-B", "-c", CHILD, str(src_fd)]


# Runs as root inside new PID (fresh /proc), mount, network and UTS namespaces (the IPC one is made
# before): private tmpfs over every writable or private place, a sized one as /tmp and cwd; then
# setpriv drops to the scoring's uid with no capabilities and no_new_privs, and two user namespaces
# follow: the first only caps user.max_user_namespaces (so the program cannot make its own and
# mount a tmpfs of any size there), the second maps the program to uid/gid 65534.
_UNSHARE_SCRIPT = r"""set -e
U="$1"; SETPRIV="$2"; UNSHARE="$3"; SH="$4"; PY="$5"; shift 5
for d in /var /run /home /root /mnt /media /srv /opt /work /boot /sys /dev/mqueue; do
  if [ -d "$d" ] && [ ! -L "$d" ] && [ "${PY#$d/}" = "$PY" ]; then mount -t tmpfs -o size=64k,mode=755,nosuid,nodev,noexec tmpfs "$d"; fi
done
for f in @HIDDEN@; do if [ -e "$f" ]; then mount --bind /dev/null "$f"; fi; done
mount -t tmpfs -o size=@DISK@m,mode=1777,nosuid,nodev tmpfs /tmp
if [ -d /dev/shm ] && [ ! -L /dev/shm ]; then mount -t tmpfs -o size=@SHM@m,mode=1777,nosuid,nodev tmpfs /dev/shm; fi
cd /tmp
exec "$SETPRIV" --reuid="$U" --regid="$U" --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all -- \
  "$UNSHARE" --user --map-root-user -- "$SH" -c \
  'echo 1 > /proc/sys/user/max_user_namespaces && exec "$0" --user --map-user=65534 --map-group=65534 -- "$@"' \
  "$UNSHARE" "$PY" -I -S -B -c "$@"
""".replace("@DISK@", str(DISK_MB)).replace("@SHM@", str(SHM_MB)).replace("@HIDDEN@", " ".join(_PROC_HIDDEN))


def _unshare_cmd(python: str, src_fd: int, uid: int) -> list[str]:
    return [_PROBED["unshare_path"], "--fork", "--pid", "--mount", "--net", "--uts", "--kill-child", "--mount-proc", "--",
            _PROBED["sh_path"], "-c", _UNSHARE_SCRIPT, "sh", str(uid), _PROBED["setpriv_path"], _PROBED["unshare_path"],
            _PROBED["sh_path"], python, CHILD, str(src_fd)]


def _probe(mode: str) -> bool:
    """Score a real (tiny) program under `mode` once, end to end; cached."""
    if mode in _PROBED:
        return _PROBED[mode]
    ok = False
    python = child_python()
    if python and mode == "bwrap":
        _PROBED["bwrap_path"] = _which("bwrap")
        _PROBED["sh_path"] = _PROBED.get("sh_path") or _which("sh")
        ok = bool(_PROBED["bwrap_path"]) and (not _as_root() or uid_base() is not None)
    elif python and mode == "unshare":
        paths = {k: _which(k) for k in ("unshare", "setpriv", "sh")}
        _PROBED.update({k + "_path": v for k, v in paths.items()})
        ok = _as_root() and all(paths.values()) and uid_base() is not None
    if ok:
        try:
            ok = _run("def f():\n    return 1\n", "assert f() == 1", "", 20.0, 512, mode, ["f"], [], "").passed
        except Exception:  # noqa: BLE001 (a mode that cannot even start does not work)
            ok = False
    _PROBED[mode] = ok
    return ok


def available_isolations() -> list[str]:
    return [m for m in ("bwrap", "unshare") if _probe(m)]


def isolation_default() -> str | None:
    """REDIT_SANDBOX=bwrap|unshare picks a mode (it must work); else the first that works."""
    chosen = os.environ.get("REDIT_SANDBOX")
    if chosen:
        if chosen not in ("bwrap", "unshare"):
            raise SandboxUnavailable(f"REDIT_SANDBOX must be 'bwrap' or 'unshare'; got {chosen!r}")
        return chosen if _probe(chosen) else None
    modes = available_isolations()
    return modes[0] if modes else None


def require_sandbox() -> str:
    """The isolation mode code rewards will use; raises SandboxUnavailable (one line) if none works."""
    mode = isolation_default()
    if mode is None:
        raise SandboxUnavailable(FIX)
    return mode


# ----------------------------------------------------------------- running
def run_tests(program: str, tests: list[str] | str, setup: str = "", timeout: float = 10.0, memory_mb: int = 512,
              isolation: str | None = None, context: str = "", calls=()) -> SandboxResult:
    """Run `program` in a sandbox and `setup` then `tests` (trusted test code, e.g. assert
    statements) in the judge; pass = every test ran to the end and held. `context` is trusted code
    the judge runs first (HumanEval's prompt, for its helpers); `calls` are names that must come
    from the program even though `context` defines them (HumanEval's entry point).

    Any program (any str: NULs, lone surrogates, huge, ...) gives a result, never an exception; a
    failure to run it (no free uid, fork failing, ...) is a fail with status "error". Raises only for
    the caller's own mistakes (an unknown or unusable isolation mode, tests that are not Python)."""
    isolation = isolation or require_sandbox()
    if isolation not in ("bwrap", "unshare"):
        raise ValueError(f"isolation must be 'bwrap' or 'unshare'; got {isolation!r}.")
    if not _probe(isolation):
        raise SandboxUnavailable(f"isolation {isolation!r} does not work here; {FIX}")
    tests_src = tests if isinstance(tests, str) else "\n".join(tests)
    program = program if isinstance(program, str) else str(program)
    try:
        remote, modules = split_names(tests_src, setup, context, calls, program)
    except SyntaxError as e:
        raise ValueError(f"the tests are not valid Python: {e}") from None
    try:
        return _run(program, tests_src, setup, timeout, memory_mb, isolation, remote, modules, context)
    except Exception as e:  # noqa: BLE001 (this machine's resources, not the program's verdict)
        return SandboxResult(False, "error", None, 0.0, "", f"sandbox: could not run the program: {type(e).__name__}: {e}")


def _run(program: str, tests_src: str, setup: str, timeout: float, memory_mb: int, isolation: str,
         remote: list, modules: list, context: str) -> SandboxResult:
    source = (program + "\n").encode("utf-8", "surrogatepass")  # lone surrogates: invalid UTF-8, a load error
    if len(source) > MAX_PROGRAM:
        return SandboxResult(False, "error", None, 0.0, "", f"sandbox: the program is over {MAX_PROGRAM} bytes")
    python = child_python()
    fds, procs, slot, judgedir = [], [], None, None
    try:
        slot = _Slot() if _as_root() else None
        judgedir = tempfile.mkdtemp(prefix="redit-judge-")  # never visible to the program
        src_fd = os.memfd_create("redit-program")  # the program's source: nothing of the program on disk
        fds.append(src_fd)
        with open(src_fd, "wb", closefd=False) as f:
            f.write(source)
        os.lseek(src_fd, 0, os.SEEK_SET)
        req_r, req_w = os.pipe()  # judge -> program
        fds += [req_r, req_w]
        ans_r, ans_w = os.pipe()  # program -> judge
        fds += [ans_r, ans_w]
        cfg = {"req_fd": req_w, "max_message": MAX_MESSAGE, "modules": modules, "remote": remote,
               "context": context, "setup": setup, "tests": tests_src}
        Path(judgedir, "cfg.json").write_text(json.dumps(cfg))
        Path(judgedir, "judge.py").write_text(JUDGE)
        cpu = max(1, int(timeout))
        if isolation == "bwrap":
            cmd = _bwrap_cmd(python, src_fd)
            pre = _preexec(cpu, memory_mb, sandbox=True, uid=slot.uid if slot else None)
        else:
            cmd = _unshare_cmd(python, src_fd, slot.uid)
            pre = _preexec(cpu, memory_mb, sandbox=True)
        start = time.time()
        child = subprocess.Popen(cmd, cwd="/", env=_ENV, stdin=req_r, stdout=ans_w, stderr=subprocess.PIPE,
                                 start_new_session=True, close_fds=True, pass_fds=(src_fd,), preexec_fn=pre)
        procs.append(child)
        judge = subprocess.Popen([os.path.realpath(sys.executable), "-I", "-S", "-B", "judge.py", "cfg.json"],
                                 cwd=judgedir, env=_ENV, stdin=ans_r, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 pass_fds=(req_w,), start_new_session=True,
                                 preexec_fn=_preexec(cpu, max(memory_mb, 1024)))
        procs.append(judge)
        while fds:
            os.close(fds.pop())
        status = None
        try:
            outs = _collect({judge.stdout: "jout", judge.stderr: "jerr", child.stderr: "cerr"}, judge, timeout)
        except subprocess.TimeoutExpired:
            outs, status = {}, "timeout"
        seconds = time.time() - start
        for p in procs:
            _kill_group(p)
        jout = outs.get("jout", b"").decode(errors="replace")
        passed = status is None and judge.returncode == 0 and jout.rstrip().endswith("\nPASS")
        status = status or ("passed" if passed else ("failed" if "\nFAIL " in jout else "error"))
        stderr = outs.get("jerr", b"").decode(errors="replace") + outs.get("cerr", b"").decode(errors="replace")
        return SandboxResult(passed, status, judge.returncode, seconds, jout.strip(), stderr)
    finally:
        try:
            for p in procs:
                _kill_group(p)
            for fd in fds:
                os.close(fd)
        finally:
            try:
                if slot is not None:
                    slot.release()  # every process of the scoring's uid dies here
            finally:
                if judgedir:
                    remove_tree(judgedir)


def remove_tree(path: str):
    """Remove a directory tree whatever it holds (any depth, any modes): shutil.rmtree, else `chmod
    -R u+rwx` and `rm -rf` (iterative, no recursion limit). Never raises."""
    for attempt in range(3):
        if not os.path.lexists(path):
            return
        try:
            if attempt == 0:
                shutil.rmtree(path)
            else:
                subprocess.run(["chmod", "-R", "u+rwx", "--", path], capture_output=True, timeout=60, env=_ENV, cwd="/")
                subprocess.run(["rm", "-rf", "--", path], capture_output=True, timeout=120, env=_ENV, cwd="/")
        except Exception:  # noqa: BLE001 (RecursionError, PermissionError, a missing rm, ...)
            pass


def _collect(streams: dict, judge: subprocess.Popen, timeout: float) -> dict:
    """Read the streams until the judge has exited and its pipes closed, keeping the last
    MAX_OUTPUT bytes of each; the program's stderr is drained but never waited for."""
    import selectors

    bufs = {name: bytearray() for name in streams.values()}
    sel = selectors.DefaultSelector()
    for stream, name in streams.items():
        os.set_blocking(stream.fileno(), False)
        sel.register(stream, selectors.EVENT_READ, name)
    deadline = time.time() + timeout
    judge_open = {"jout", "jerr"}
    while judge_open:
        left = deadline - time.time()
        if left <= 0:
            raise subprocess.TimeoutExpired(judge.args, timeout)
        for key, _ in sel.select(timeout=min(left, 0.5)):
            data = key.fileobj.read(65536)
            if not data:
                sel.unregister(key.fileobj)
                judge_open.discard(key.data)
                continue
            buf = bufs[key.data]
            buf.extend(data)
            if len(buf) > MAX_OUTPUT:  # keep the tail: the verdict is written last
                del buf[:-MAX_OUTPUT]
    judge.wait(timeout=max(0.1, deadline - time.time()))
    # whatever the program wrote before the verdict (best effort, no waiting)
    try:
        data = [k for k in sel.get_map().values() if k.data == "cerr"]
        if data:
            chunk = data[0].fileobj.read(MAX_OUTPUT)
            if chunk:
                bufs["cerr"].extend(chunk[-MAX_OUTPUT:])
    except (OSError, ValueError):
        pass
    sel.close()
    return {k: bytes(v) for k, v in bufs.items()}


def _kill_group(proc: subprocess.Popen):
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its session; the PID namespace goes with its init
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream:
            stream.close()
