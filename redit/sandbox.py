"""Run model-written Python against tests, treating it as hostile input.

    >>> run_tests("def add(a, b):\\n    return a + b", ["assert add(1, 2) == 3"]).passed
    True

Layers (each one alone stops the common attacks; together they cover each other's gaps):
1. **Process isolation.** A fresh child process in its own session (process group) with a clean
   environment (no secrets: only PATH/LANG), a fresh temporary working directory; stdin carries only the pass token.
   With bubblewrap (`bwrap`, Debian package `bubblewrap`) the child also gets its own network,
   PID, IPC and UTS namespaces, a read-only view of the file system with only its temp dir
   writable, and dies with its parent. Without bwrap, when running as root the child drops to the
   `nobody` user (so root-owned files are read-only to it and RLIMIT_NPROC is enforced).
2. **Resource limits** (setrlimit): CPU seconds, address space, file size, open files, processes,
   no core dumps; a wall-clock timeout kills the whole process group; stdout/stderr are capped.
3. **An audit hook inside the child** (PEP 578, cannot be removed once installed) refuses sockets,
   subprocesses/fork/exec, signals to other processes, ctypes, and writes/deletes outside the temp
   dir — this is what keeps the host safe when neither bwrap nor a non-root user is available.
4. **An honest verdict.** Tests are run by a harness after the program, in a namespace with
   pristine builtins (a program that rebinds `len` or `builtins.len` cannot change what the tests
   see); every `==`/`!=` in a test is checked by a strict comparator that refuses objects of
   user-defined types (an `__eq__` that always answers True scores 0); and a pass requires the
   harness's end-of-tests marker, carrying a per-run random token, on stdout plus exit status 0
   (`sys.exit(0)` or `os._exit(0)` before the tests run scores 0).

Not protected against: a program that deliberately walks frames (`f_back` from its own frame) into
the harness to read the token and forge the marker (it runs in the same interpreter; direct
`sys._getframe(n)` onto a harness frame and gc introspection are refused, but not every path is), kernel exploits, and — without bwrap — reading
world-readable files (the audit hook blocks writes and network, not reads). Side channels and CPU
contention between concurrent sandboxes are out of scope.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MAX_OUTPUT = 64 * 1024  # bytes of stdout/stderr kept


@dataclass
class SandboxResult:
    passed: bool
    status: str  # passed | failed | timeout | error
    returncode: int | None
    seconds: float
    stdout: str
    stderr: str


# The harness runs inside the child. It is plain source so that the child needs nothing from this
# package. Placeholders: __WORKDIR__, the program and the tests (as JSON strings).
HARNESS = r'''
import builtins as _b, json as _json, os as _os, sys as _sys, ast as _ast

_WORKDIR = _os.path.realpath(__WORKDIR__)

def _inside(path):
    if isinstance(path, int):  # an already-open descriptor
        return True
    try:
        p = _os.path.realpath(_os.fsdecode(path))
    except Exception:
        return False
    return p == _WORKDIR or p.startswith(_WORKDIR + _os.sep)

_BLOCKED_PREFIXES = ("socket.", "subprocess.", "os.exec", "os.posix_spawn", "os.spawn", "ctypes.", "pty.")
_HARNESS_FILE = __file__
_BLOCKED = {"sys._current_frames", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
            "os.fork", "os.forkpty", "os.system", "os.kill", "os.killpg", "signal.pthread_kill",
            "os.putenv", "os.unsetenv", "sys.remote_exec", "os.chmod", "os.chown", "os.link", "os.symlink", "os.truncate"}
_PATH_EVENTS = {"os.remove", "os.rmdir", "os.rename", "os.mkdir", "shutil.rmtree", "shutil.move", "shutil.copyfile"}

def _audit(event, args):
    if event in _BLOCKED or event.startswith(_BLOCKED_PREFIXES):
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "sys._getframe" and args[0].f_code.co_filename == _HARNESS_FILE:
        raise PermissionError("sandbox: the harness's frames are off limits")  # typing etc. may still use _getframe
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or ((flags or 0) & (_os.O_WRONLY | _os.O_RDWR | _os.O_CREAT | _os.O_TRUNC))
        if writing and not _inside(path):
            raise PermissionError(f"sandbox: writing {path!r} is not allowed")
    elif event in _PATH_EVENTS:
        for path in args[:2]:
            if isinstance(path, (str, bytes, _os.PathLike)) and not _inside(path):
                raise PermissionError(f"sandbox: {event} outside the work dir is not allowed")

import collections as _collections
_PLAIN = (int, float, complex, str, bytes, bool, type(None), list, tuple, dict, set, frozenset,
          _collections.Counter, _collections.defaultdict, _collections.OrderedDict, _collections.deque)
# The comparison methods as they were before the program ran: a program that patches
# Counter.__eq__ (a pure-Python method) is caught by the identity check in _plain.
_EQ = {t: t.__eq__ for t in _PLAIN}
_type, _isinstance, _all, _len, _zip = type, isinstance, all, len, zip
_DICTS = (dict, _collections.Counter, _collections.defaultdict, _collections.OrderedDict)

def _plain(x, depth=0):
    t = _type(x)
    if t not in _EQ or t.__eq__ is not _EQ[t] or depth > 50:
        return False
    if t in _DICTS:
        return _all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in dict.items(x))
    if t in (list, tuple, set, frozenset, _collections.deque):
        return _all(_plain(v, depth + 1) for v in x)
    return True

def _strict_eq(a, b):
    if not (_plain(a) and _plain(b)):
        raise AssertionError(f"sandbox: refusing to compare objects of type {_type(a).__name__} / {_type(b).__name__}")
    return a == b

class _Strict(_ast.NodeTransformer):
    """a == b -> _strict_eq(a, b); a != b -> not _strict_eq(a, b) (chains split pairwise)."""
    def visit_Compare(self, node):
        self.generic_visit(node)
        if not any(_isinstance(op, (_ast.Eq, _ast.NotEq)) for op in node.ops):
            return node
        parts, left = [], node.left
        for op, right in _zip(node.ops, node.comparators):
            if _isinstance(op, (_ast.Eq, _ast.NotEq)):
                call = _ast.Call(_ast.Name("_strict_eq", _ast.Load()), [left, right], [])
                parts.append(call if _isinstance(op, _ast.Eq) else _ast.UnaryOp(_ast.Not(), call))
            else:
                parts.append(_ast.Compare(left, [op], [right]))
            left = right
        return parts[0] if _len(parts) == 1 else _ast.BoolOp(_ast.And(), parts)

def _main():
    # The pass token arrives on stdin and lives only in this frame: it is not in the script file
    # or in any module's globals, and frame/gc introspection is refused by the audit hook.
    token = _sys.stdin.readline().strip()
    _sys.stdin.close()
    pristine = dict(_b.__dict__)
    tests = compile(_ast.fix_missing_locations(_Strict().visit(_ast.parse(__TESTS__))), "<tests>", "exec")
    program = compile(__PROGRAM__, "<program>", "exec")
    write, flush, real_exit = _sys.__stdout__.write, _sys.__stdout__.flush, _os._exit
    _sys.addaudithook(_audit)
    _os.chdir(_WORKDIR)
    ns = {"__name__": "__main__", "__builtins__": _b}
    exec(program, ns)
    # Undo anything the program did to builtins, and hide its names that shadow builtins from the tests.
    _b.__dict__.clear(); _b.__dict__.update(pristine)
    test_ns = {k: v for k, v in ns.items() if k not in pristine and k != "__builtins__"}
    test_ns.update({"__builtins__": dict(pristine), "__name__": "__main__", "_strict_eq": _strict_eq})
    exec(tests, test_ns)
    write("\n" + token + "\n")
    flush()
    real_exit(0)

_main()
'''


def _bwrap_available() -> bool:
    path = shutil.which("bwrap")
    if not path:
        return False
    try:
        return subprocess.run([path, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


_BWRAP = None
_NOBODY_OK = None
NOBODY = 65534


def _can_run_as_nobody() -> bool:
    """Root can drop the child to `nobody` only if that user may execute this interpreter."""
    global _NOBODY_OK
    if _NOBODY_OK is None:
        try:
            _NOBODY_OK = os.geteuid() == 0 and subprocess.run(
                [os.path.realpath(sys.executable), "-I", "-S", "-c", "pass"], user=NOBODY, group=NOBODY, cwd="/",
                capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.SubprocessError):
            _NOBODY_OK = False
    return _NOBODY_OK


def isolation_default() -> str:
    global _BWRAP
    if _BWRAP is None:
        _BWRAP = _bwrap_available()
    return "bwrap" if _BWRAP else "subprocess"


def _limits(cpu_s: int, memory_mb: int, nproc: int):
    import resource

    def apply():
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_tests(program: str, tests: list[str] | str, setup: str = "", timeout: float = 10.0, memory_mb: int = 512,
              isolation: str | None = None) -> SandboxResult:
    """Run `program`, then `setup` (MBPP's test_setup_code, which may use the program's classes), then
    `tests` (assert statements), in a sandbox; pass = every test ran to the end and held."""
    isolation = isolation or isolation_default()
    if isolation not in ("bwrap", "subprocess"):
        raise ValueError(f"isolation must be 'bwrap' or 'subprocess'; got {isolation!r}.")
    tests_src = tests if isinstance(tests, str) else "\n".join(tests)
    token = "REDIT-TESTS-PASSED-" + secrets.token_hex(16)
    workdir = tempfile.mkdtemp(prefix="redit-sandbox-")
    try:
        drop = isolation == "subprocess" and _can_run_as_nobody()
        if drop:
            os.chown(workdir, NOBODY, NOBODY)
        source = (HARNESS.replace("__WORKDIR__", json.dumps(workdir))
                  .replace("__TESTS__", json.dumps(tests_src)).replace("__PROGRAM__", json.dumps(program + "\n" + setup)))
        script = Path(workdir) / "harness.py"
        script.write_text(source)
        # The base interpreter (-I -S: no site-packages, no user env); realpath so no venv link is needed.
        cmd = [os.path.realpath(sys.executable), "-I", "-S", "-B", str(script)]
        if isolation == "bwrap":
            # The whole file system read-only (the project may live under /tmp, so no tmpfs there),
            # only the work dir writable.
            cmd = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                   "--bind", workdir, workdir, "--unshare-all", "--die-with-parent", "--new-session",
                   "--chdir", workdir, *cmd]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        start = time.time()
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                preexec_fn=_limits(max(1, int(timeout)), memory_mb, nproc=64 if drop else 4096),
                                user=NOBODY if drop else None, group=NOBODY if drop else None)
        status = None
        try:
            proc.stdin.write((token + "\n").encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            out, err = _communicate_capped(proc, timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = b"", b""
            status = "timeout"
        seconds = time.time() - start
        _kill_group(proc)  # also reaps anything the program left behind in its session
        stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
        passed = status is None and proc.returncode == 0 and stdout.rstrip().endswith(token)
        status = status or ("passed" if passed else ("error" if proc.returncode not in (0, 1) else "failed"))
        return SandboxResult(passed, status, proc.returncode, seconds, stdout.replace(token, "<marker>"), stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _communicate_capped(proc: subprocess.Popen, timeout: float):
    """Read stdout/stderr until exit, keeping at most MAX_OUTPUT bytes each (the rest is drained)."""
    import selectors

    chunks = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    sel = selectors.DefaultSelector()
    for stream in chunks:
        os.set_blocking(stream.fileno(), False)
        sel.register(stream, selectors.EVENT_READ)
    deadline = time.time() + timeout
    while sel.get_map():
        left = deadline - time.time()
        if left <= 0:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        for key, _ in sel.select(timeout=min(left, 0.5)):
            data = key.fileobj.read(65536)
            if not data:
                sel.unregister(key.fileobj)
                continue
            buf = chunks[key.fileobj]
            buf.extend(data)
            if len(buf) > MAX_OUTPUT:  # keep the tail: the end-of-tests marker is written last
                del buf[:-MAX_OUTPUT]
    proc.wait(timeout=max(0.1, deadline - time.time()))
    return bytes(chunks[proc.stdout]), bytes(chunks[proc.stderr])


def _kill_group(proc: subprocess.Popen):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
