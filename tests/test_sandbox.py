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
DISK_MB, SHM_MB, FILE_MB, NPROC, NOFILE = sandbox.DISK_MB, sandbox.SHM_MB, sandbox.FILE_MB, sandbox.NPROC, sandbox.NOFILE
# Writes 1 MB at a time into files of at most 4 MB under each of `tops` until every write fails;
# ok = more than `limit` MB went in.
FILL = ("import os\ntotal = 0\nfor k, top in enumerate({tops!r}):\n    for i in range(256):\n        try:\n"
        "            with open(f'{{top}}/fill{{k}}-{{i}}', 'wb') as f:\n                for _ in range(4):\n"
        "                    f.write(b'x' * (1 << 20)); f.flush(); total += 1 << 20\n"
        "        except OSError:\n            break\nok = total > ({limit} << 20)\n")
# 4 MB System V segments, created, filled and detached until shmget or shmat fails
SYSV_SHM = ("import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nl.shmat.restype = ctypes.c_void_p\ntotal = 0\n"
            "for _ in range(64):\n    sid = l.shmget(ctypes.c_int(0), ctypes.c_size_t(4 << 20), ctypes.c_int(0o1000 | 0o600))\n"
            "    if sid < 0: break\n    addr = l.shmat(ctypes.c_int(sid), None, ctypes.c_int(0))\n"
            "    if addr in (None, ctypes.c_void_p(-1).value): break\n"
            "    ctypes.memset(addr, 1, 4 << 20); l.shmdt(ctypes.c_void_p(addr)); total += 4 << 20\n"
            "ok = total > ({limit} << 20)\n")
# keyctl(2) and add_key(2) through ctypes (no keyutils in the sandbox)
KEYS = ("import ctypes, os\n_l = ctypes.CDLL(None, use_errno=True)\n"
        "_NR = {'x86_64': (248, 250), 'aarch64': (217, 219)}.get(os.uname().machine, (248, 250))\n"
        "def _c(a):\n    return ctypes.c_char_p(a) if isinstance(a, bytes) else a if isinstance(a, ctypes.Array) else ctypes.c_long(a)\n"
        "def keyctl(*a):\n    return _l.syscall(ctypes.c_long(_NR[1]), *[_c(x) for x in a])\n"
        "def add_key(desc, ring):\n    return _l.syscall(ctypes.c_long(_NR[0]), _c(b'user'), _c(desc), _c(b'x'), ctypes.c_size_t(1), _c(ring))\n"
        "def search(ring, desc):\n    return keyctl(10, ring, b'user', desc, 0)\n")


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
        # -- escaping the scoring: processes that outlive it (the program process is PID 1 of its namespace)
        "clear parent-death signal, setsid and linger": f"import ctypes, os, subprocess, threading, time\ntry: os.setsid()\nexcept OSError: pass\nctypes.CDLL(None).prctl(1, 0)\nsubprocess.Popen(['sleep', '{MARK}'], start_new_session=True)\nthreading.Thread(target=time.sleep, args=(3600,)).start()\n" + BAD,
        "child clears parent-death signal and ignores signals": f"import ctypes, os, signal\nif os.fork() == 0:\n    ctypes.CDLL(None).prctl(1, 0)\n    for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT): signal.signal(s, signal.SIG_IGN)\n    os.setsid()\n    os.execv('/bin/sleep', ['sleep', '{MARK}'])\nimport time\ntime.sleep(0.2)\n" + BAD,
        "linger in a thread after answering": f"import ctypes, os, subprocess, threading, time\nctypes.CDLL(None).prctl(1, 0)\ndef add(a, b):\n    subprocess.Popen(['sleep', '{MARK}'], start_new_session=True)\n    threading.Thread(target=time.sleep, args=(3600,)).start()\n    return -1\n",
        # -- resources beyond the stated limits (a pass = a limit did not hold)
        "fill /tmp beyond the quota": FILL.format(tops=("/tmp",), limit=DISK_MB + 1) + IF_OK,
        "fill the cwd with many files beyond the quota": FILL.format(tops=(".",), limit=DISK_MB + 1) + IF_OK,
        "fill /tmp and the cwd beyond the shared quota": FILL.format(tops=(".", "/tmp"), limit=DISK_MB + 1) + IF_OK,
        "fill /dev/shm beyond the quota": FILL.format(tops=("/dev/shm",), limit=SHM_MB + 1) + IF_OK,
        "fill every writable place beyond the sum": FILL.format(tops=(".", "/tmp", "/dev/shm", "/var/tmp", "/run/lock", "/dev", "/dev/mqueue"), limit=DISK_MB + SHM_MB + 1) + IF_OK,
        "fallocate past the quota": f"import os\nok = False\nfor top in ('.', '/tmp', '/dev/shm'):\n    try:\n        fd = os.open(top + '/big', os.O_CREAT | os.O_WRONLY)\n        os.posix_fallocate(fd, 0, {DISK_MB + 8} << 20); ok = True\n    except OSError: pass\n" + IF_OK,
        "write into /dev": "ok = False\nfor name in ('/dev/redit-x', '/dev/shm/../redit-y', '/dev/pts/x'):\n    try: open(name, 'w').write('x'); ok = True\n    except OSError: pass\n" + IF_OK,
        "remount /tmp with a bigger size": "import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nok = any(l.mount(b'tmpfs', t, b'tmpfs', ctypes.c_ulong(32), b'size=1g') == 0 for t in (b'/tmp', b'/dev/shm'))\n" + IF_OK,
        "own user namespace (an unsized tmpfs)": "import ctypes\nok = ctypes.CDLL(None).unshare(ctypes.c_int(0x10000000 | 0x00020000)) == 0\n" + IF_OK,
        "nested unshare -r and mount a tmpfs": "import subprocess\ntry:\n    ok = subprocess.run(['unshare', '-rm', 'sh', '-c', 'mount -t tmpfs none /tmp && head -c 48M /dev/zero > /tmp/x'], capture_output=True).returncode == 0\nexcept OSError:\n    ok = False\n" + IF_OK,
        "memfd beyond the file size limit": f"import os\nok = False\ntry:\n    fd = os.memfd_create('x')\n    for _ in range({FILE_MB + 2}):\n        os.write(fd, b'x' * (1 << 20))\n    ok = True\nexcept OSError: pass\n" + IF_OK,
        "SysV shared memory beyond the cap": SYSV_SHM.format(limit=SHM_MB + 1) + IF_OK,
        "SysV message queues beyond the cap": "import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nn = 0\nwhile n < 200 and l.msgget(ctypes.c_int(0), ctypes.c_int(0o1000 | 0o600)) >= 0:\n    n += 1\nok = n > 16\n" + IF_OK,
        "more processes than the limit": f"import os, time\nn = 0\ntry:\n    while n < {NPROC} + 10:\n        if os.fork() == 0:\n            time.sleep(30); os._exit(0)\n        n += 1\nexcept OSError: pass\nok = n >= {NPROC}\n" + IF_OK,
        "more threads than the limit": f"import threading, time\nn = 0\ntry:\n    while n < {NPROC} + 10:\n        threading.Thread(target=time.sleep, args=(30,), daemon=True).start(); n += 1\nexcept RuntimeError: pass\nok = n >= {NPROC}\n" + IF_OK,
        "more files than the limit": f"import os\nn = 0\ntry:\n    while n < {NOFILE} + 10:\n        os.open('/dev/null', os.O_RDONLY); n += 1\nexcept OSError: pass\nok = n >= {NOFILE}\n" + IF_OK,
        "raise its own limits": "import resource as r\nok = False\nfor lim in (r.RLIMIT_NPROC, r.RLIMIT_AS, r.RLIMIT_FSIZE, r.RLIMIT_NOFILE, r.RLIMIT_CPU):\n    try: r.setrlimit(lim, (r.RLIM_INFINITY, r.RLIM_INFINITY)); ok = True\n    except (ValueError, OSError): pass\n" + IF_OK,
        # -- state of the caller's that a scoring could reach (kernel keyrings)
        "join the caller's session keyring": KEYS + f"ok = keyctl(0, -3, 0) == {h['session_keyring']}\n" + IF_OK,
        "describe the caller's user keyring": KEYS + f"buf = ctypes.create_string_buffer(256)\nok = keyctl(6, {h['user_keyring']}, buf, 256) > 0\n" + IF_OK,
        "add a key to the caller's session keyring": KEYS + f"ok = add_key(b'redit-hostile', {h['session_keyring']}) > 0\n" + IF_OK,
    }
    return p


# Plant-or-detect programs: each looks for what an earlier scoring of itself would have left behind
# (ok = found) and, finding nothing, leaves it. Scored several times in a row on the same uid, a
# pass means state survived from one scoring to the next (the review's guess-and-check channel).
PKEY = "0x52454449"  # a fixed System V key
PERSISTENT = {
    "keyring: the user keyring (@u)": KEYS + "ok = search(-4, b'redit-persist') > 0\nif not ok:\n    keyctl(5, add_key(b'redit-persist', -4), 0x3f3f3f3f)\n" + IF_OK,
    "keyring: the user session keyring (@us)": KEYS + "ok = search(-5, b'redit-persist') > 0\nif not ok:\n    keyctl(5, add_key(b'redit-persist', -5), 0x3f3f3f3f)\n" + IF_OK,
    "keyring: the session keyring (@s)": KEYS + "ok = search(-3, b'redit-persist') > 0\nif not ok:\n    keyctl(5, add_key(b'redit-persist', -3), 0x3f3f3f3f)\n" + IF_OK,
    "keyring: the persistent keyring": KEYS + "pk = keyctl(22, -1, -2)\nok = pk > 0 and search(pk, b'redit-persist') > 0\nif pk > 0 and not ok:\n    add_key(b'redit-persist', pk)\n" + IF_OK,
    "keyring: a world-viewable key in /proc/keys": KEYS + "ok = b'redit-persist' in open('/proc/keys', 'rb').read()\nif not ok:\n    for ring in (-4, -5, -3):\n        keyctl(5, add_key(b'redit-persist', ring), 0x3f3f3f3f)\n" + IF_OK,
    "keyring: a counter the judge's verdicts feed": KEYS + "buf = ctypes.create_string_buffer(8)\nk = search(-4, b'redit-count')\nn = int(buf.value or 0) if k > 0 and keyctl(11, k, buf, 8) > 0 else 0\n_l.syscall(ctypes.c_long(_NR[0]), _c(b'user'), _c(b'redit-count'), _c(str(n + 1).encode()), ctypes.c_size_t(len(str(n + 1))), _c(-4))\nok = n >= 1\n" + IF_OK,
    "files: /tmp, cwd, /dev/shm, /var/tmp, /run/lock": "import os\ntops = ('/tmp', '.', '/dev/shm', '/var/tmp', '/run/lock', '/dev/mqueue')\nok = any(os.path.exists(t + '/redit-persist') for t in tops)\nfor t in tops:\n    try: open(t + '/redit-persist', 'w').write('x')\n    except OSError: pass\n" + IF_OK,
    "System V shared memory": f"import ctypes\nl = ctypes.CDLL(None)\nok = l.shmget(ctypes.c_int({PKEY}), ctypes.c_size_t(4096), ctypes.c_int(0)) >= 0\nl.shmget(ctypes.c_int({PKEY}), ctypes.c_size_t(4096), ctypes.c_int(0o1000 | 0o666))\n" + IF_OK,
    "System V message queue": f"import ctypes\nl = ctypes.CDLL(None)\nok = l.msgget(ctypes.c_int({PKEY}), ctypes.c_int(0)) >= 0\nl.msgget(ctypes.c_int({PKEY}), ctypes.c_int(0o1000 | 0o666))\n" + IF_OK,
    "System V semaphore": f"import ctypes\nl = ctypes.CDLL(None)\nok = l.semget(ctypes.c_int({PKEY}), ctypes.c_int(0), ctypes.c_int(0)) >= 0\nl.semget(ctypes.c_int({PKEY}), ctypes.c_int(1), ctypes.c_int(0o1000 | 0o666))\n" + IF_OK,
    "POSIX message queue": "import ctypes, os\nl = ctypes.CDLL(None)\nok = l.mq_open(b'/redit-persist', ctypes.c_int(os.O_RDONLY)) >= 0\nl.mq_open(b'/redit-persist', ctypes.c_int(os.O_CREAT | os.O_RDWR), ctypes.c_int(0o666), None)\n" + IF_OK,
    "POSIX shared memory": "import os\nimport _posixshmem as p\ntry:\n    p.shm_open('/redit-persist', os.O_RDONLY); ok = True\nexcept OSError:\n    ok = False\n    try: p.shm_open('/redit-persist', os.O_CREAT | os.O_RDWR, 0o666)\n    except OSError: pass\n" + IF_OK,
    "a process left behind serving an abstract socket": f"import ctypes, os, socket, subprocess, threading, time\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect('\\0redit-persist'); ok = True\nexcept OSError:\n    ok = False\n    ctypes.CDLL(None).prctl(1, 0)\n    try: os.setsid()\n    except OSError: pass\n    s.bind('\\0redit-persist'); s.listen(5)\n    subprocess.Popen(['sleep', '{MARK}'], start_new_session=True)\n    threading.Thread(target=time.sleep, args=(3600,)).start()\n" + IF_OK,
}


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
           "sentinel": sentinel.pid, "proc": sentinel, "tmpname": tmpname,
           "session_keyring": _host_keyring(-3), "user_keyring": _host_keyring(-4)}
    server.close()
    os.environ.pop("REDIT_TEST_SECRET", None)
    sentinel.kill()
    sentinel.wait()


def _host_keyring(spec):
    """Serial of this (host) process's session (-3) or user (-4) keyring; -1 where keyctl is unknown."""
    import ctypes

    nr = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)
    if nr is None:
        return -1
    return ctypes.CDLL(None).syscall(ctypes.c_long(nr), ctypes.c_long(0), ctypes.c_long(spec), ctypes.c_long(1))


def _assert_no_survivors(name: str) -> None:
    """No process of a scoring outlives it (any found is killed, then the test fails)."""
    time.sleep(0.2)
    survivors = _survivors()
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"{name}: left processes behind"


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


DUMMY_HOST = {"victim": "/v", "dir": "/d", "port": 1, "sentinel": 1, "tmpname": "t", "session_keyring": 1, "user_keyring": 1}
NAMES = sorted(hostile_programs(DUMMY_HOST))
assert len(NAMES) >= 80


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("name", NAMES)
def test_hostile_program_scores_zero_and_leaves_the_host_unchanged(host, monkeypatch, tmp_path_factory, isolation, name):
    program = hostile_programs(host)[name]
    private = _tempdir_is_private(monkeypatch, tmp_path_factory)
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
        assert not [n for n in os.listdir(top) if n.startswith(("fill", "redit-persist", "big"))], top
    assert os.listdir(private) == [], "the scoring left files in the temporary directory"
    with pytest.raises(BlockingIOError):
        host["server"].accept()  # nobody connected
    assert host["proc"].poll() is None, "a host process was killed"
    assert _nofile_limit(host["sentinel"]) == limit_before, "a host process's limits changed"
    _assert_no_survivors(name)


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
    spy = hostile_programs(DUMMY_HOST)["/proc/self/mem scan"]
    spy = spy.replace("return int(found[0]) if found else -1", "return len(found) + 1")  # found nothing -> 1
    result = run_tests(spy, ["assert add(1, 2) == 1"], isolation=ISOLATIONS[0])
    assert result.passed, result


# -- programs (and rows) that used to raise out of the scorer; each must score 0.0 and leave nothing
MBPP_126 = {"test_list": ["assert sum(10, 15) == 6", "assert sum(100, 150) == 93", "assert sum(4, 6) == 3"]}
MBPP_126_GOLD = "def sum(a, b):\n    s = 0\n    for i in range(1, min(a, b)):\n        if a % i == 0 and b % i == 0:\n            s += i\n    return s\n"
ADD_ROW = {"test_list": TESTS}
HUMANEVAL_ROW = {"prompt": "def add(a, b):\n    '''a + b'''\n", "entry_point": "add",
                 "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n"}
BREAKERS = {  # name: (task, response, reference)
    "3000-deep directory tree": ("mbpp", "import os\nfor _ in range(3000):\n    os.mkdir('d'); os.chdir('d')\n" + BAD, ADD_ROW),
    "3000-deep tree under an unreadable dir": ("mbpp", "import os\ntop = os.getcwd()\nfor _ in range(3000):\n    os.mkdir('d'); os.chdir('d')\nos.chmod(top + '/d', 0)\n" + BAD, ADD_ROW),
    "deep tree in /tmp and /dev/shm": ("mbpp", "import os\nfor top in ('/tmp', '/dev/shm'):\n    try:\n        os.chdir(top)\n        for _ in range(2000): os.mkdir('e'); os.chdir('e')\n    except OSError: pass\n" + BAD, ADD_ROW),
    "builtin-named task, 1+1+...+1 (host parse recursion)": ("mbpp", "def sum(a, b):\n    return " + "1+" * 100000 + "1\n", MBPP_126),
    "builtin-named task, -(-(...)) (host parse memory)": ("mbpp", "def sum(a, b):\n    return " + "-" * 100000 + "1\n", MBPP_126),
    "builtin-named task, nested brackets": ("mbpp", "def sum(a, b):\n    return " + "[" * 5000 + "]" * 5000 + "\n", MBPP_126),
    "lone surrogate in a comment": ("mbpp", "```python\ndef add(a, b):\n    return a + b  # \ud800\n```", ADD_ROW),
    "lone surrogate in a string": ("mbpp", "def add(a, b):\n    s = '\udfff'\n    return a + b\n", ADD_ROW),
    "lone surrogate, HumanEval completion": ("humaneval", "    return a + b  # \udc80\n", HUMANEVAL_ROW),
    "NUL bytes": ("mbpp", "def add(a, b):\n    return a + b\n\x00\n", ADD_ROW),
    "over MAX_PROGRAM (20 MB)": ("mbpp", GOOD + "#" + "x" * (20 << 20), ADD_ROW),
    "huge wrong response (12 MB)": ("mbpp", BAD + "#" + "x" * (12 << 20), ADD_ROW),
    "not a str": ("mbpp", GOOD.encode(), ADD_ROW),
    "row without tests": ("mbpp", GOOD, {"test_setup_code": ""}),
    "row whose tests are not Python": ("mbpp", GOOD, {"test_list": ["assert add(1, 2) =="]}),
    "HumanEval row without an entry point": ("humaneval", "    return a + b\n", {"prompt": "def add(a, b):\n", "test": ""}),
}

# -- measurements: the program reports what it managed to take; the judge checks it is within the limits
MEASURES = {  # name: (program, tests)
    "cwd and /tmp share one quota": (
        FILL.format(tops=(".", "/tmp"), limit=0) + "def add(a, b):\n    return total >> 20\n",
        [f"assert {DISK_MB} - 2 <= add(0, 0) <= {DISK_MB}"]),
    "/dev/shm quota": (
        FILL.format(tops=("/dev/shm",), limit=0) + "def add(a, b):\n    return total >> 20\n",
        [f"assert {SHM_MB} - 2 <= add(0, 0) <= {SHM_MB}"]),
    "one file at most the file size limit": (
        "total = 0\ntry:\n    with open('one', 'wb') as f:\n        while True:\n            f.write(b'x' * (1 << 20)); f.flush(); total += 1 << 20\nexcept OSError: pass\ndef add(a, b):\n    return total >> 20\n",
        [f"assert {FILE_MB} - 1 <= add(0, 0) <= {FILE_MB}"]),
    "processes at most the limit": (
        "import os, time\nn = 0\ntry:\n    while n < 500:\n        if os.fork() == 0:\n            time.sleep(30); os._exit(0)\n        n += 1\nexcept OSError: pass\ndef add(a, b):\n    return n\n",
        [f"assert {NPROC} - 8 <= add(0, 0) < {NPROC}"]),
    "open files at most the limit": (
        "import os\nn = 0\ntry:\n    while n < 500:\n        os.open('/dev/null', os.O_RDONLY); n += 1\nexcept OSError: pass\ndef add(a, b):\n    return n\n",
        [f"assert {NOFILE} - 10 <= add(0, 0) < {NOFILE}"]),
    "address space at most memory_mb": (
        "best = 0\nfor mb in range(64, 1024, 32):\n    try:\n        x = bytearray(mb << 20); del x; best = mb\n    except MemoryError: break\ndef add(a, b):\n    return best\n",
        ["assert 256 <= add(0, 0) < 512"]),
    "System V shared memory at most the cap": (
        SYSV_SHM.format(limit=0) + "def add(a, b):\n    return total >> 20\n",
        [f"assert {SHM_MB} - 4 <= add(0, 0) <= {SHM_MB}"]),
    "no user namespace of its own": (
        "import ctypes\nr = ctypes.CDLL(None, use_errno=True).unshare(ctypes.c_int(0x10000000))\ne = ctypes.get_errno()\ndef add(a, b):\n    return [r, e]\n",
        ["import errno\nassert add(0, 0) in ([-1, errno.ENOSPC], [-1, errno.EPERM], [-1, errno.EUSERS])"]),
}

# -- hogs: each takes all it may of one resource and holds it while a correct solution is scored
HOGS = {
    "fork hog": "import os, time\nwhile True:\n    try:\n        if os.fork() == 0:\n            time.sleep(60); os._exit(0)\n    except OSError:\n        break\ntime.sleep(60)\n",
    "thread hog": "import threading, time\ntry:\n    while True: threading.Thread(target=time.sleep, args=(60,)).start()\nexcept RuntimeError: pass\ntime.sleep(60)\n",
    "kill -1 loop": "import os, time\nend = time.time() + 60\nwhile time.time() < end:\n    try: os.kill(-1, 9)\n    except OSError: pass\n",
    "disk and shared-memory hog": FILL.format(tops=(".", "/tmp", "/dev/shm"), limit=0) + SYSV_SHM.format(limit=0) + "import time\ntime.sleep(60)\n",
}


def _tempdir_is_private(monkeypatch, tmp_path_factory):
    """Point tempfile at an empty directory of this test's, so whatever the scoring leaves there is seen."""
    import tempfile

    private = tmp_path_factory.mktemp("tempdir")
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    return private


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("name", sorted(BREAKERS))
def test_scorer_returns_zero_and_leaves_nothing(monkeypatch, tmp_path_factory, isolation, name):
    task, response, reference = BREAKERS[name]
    private = _tempdir_is_private(monkeypatch, tmp_path_factory)
    monkeypatch.setenv("REDIT_SANDBOX", isolation)
    before = set(os.listdir("/tmp"))
    start = time.time()
    assert rewards.score(task, response, reference) == 0.0
    assert time.time() - start < 30
    assert os.listdir(private) == [], "work or judge dirs left behind"
    new = {n for n in set(os.listdir("/tmp")) - before if n.startswith("redit-")}
    assert not new, f"left in the host's /tmp: {new}"


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_builtin_named_task_still_scores_its_gold(monkeypatch, isolation):
    """The parse guard changes nothing for a real program: MBPP 126's gold still scores 1.0."""
    monkeypatch.setenv("REDIT_SANDBOX", isolation)
    assert rewards.score("mbpp", MBPP_126_GOLD, MBPP_126) == 1.0
    assert rewards.score("mbpp", MBPP_126_GOLD.replace("s += i", "s += 1"), MBPP_126) == 0.0
    assert rewards.score("humaneval", "    return a + b\n", HUMANEVAL_ROW) == 1.0
    assert rewards.score("mbpp", GOOD + "#" + "x" * (2 << 20), ADD_ROW) == 1.0  # big, under MAX_PROGRAM


def test_remove_tree_removes_what_rmtree_cannot(tmp_path):
    top = tmp_path / "deep"
    path = top
    path.mkdir()
    os.chdir(path)
    try:
        for _ in range(3000):  # relative steps: the absolute path is far over PATH_MAX
            os.mkdir("d")
            os.chdir("d")
        os.mkfifo("fifo")
        os.chmod(".", 0)
    finally:
        os.chdir("/")
    import shutil

    with pytest.raises((RecursionError, OSError)):
        shutil.rmtree(top)  # what the old clean-up did: it raised out of the scorer
    sandbox.remove_tree(str(top))
    assert not top.exists()
    sandbox.remove_tree(str(top))  # absent: nothing to do, no error


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("name", sorted(MEASURES))
def test_size_limits_hold(isolation, name):
    if name.startswith("System V") and os.geteuid() != 0:
        pytest.skip("System V limits are set only when the caller is root")
    program, tests = MEASURES[name]
    result = run_tests(program, tests, timeout=10, isolation=isolation)
    assert result.passed, result


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("name", sorted(PERSISTENT))
def test_state_does_not_survive_to_the_next_scoring(monkeypatch, isolation, name):
    """Scored three times in a row as the SAME uid (the worst case: a root caller rotates through
    UID_SLOTS uids, a non-root one always has its own): nothing the earlier scorings left is found."""
    import itertools

    monkeypatch.setattr(sandbox, "_SLOT_COUNTER", itertools.repeat(7))
    for i in range(3):
        result = run_tests(PERSISTENT[name], TESTS, timeout=3, isolation=isolation)
        assert not result.passed, f"{name}: scoring {i + 1} found what scoring {i} left ({result})"
        assert result.status == "failed", result  # it ran, and its answer was wrong
    _assert_no_survivors(name)


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("hog", sorted(HOGS))
def test_a_hog_does_not_fail_a_concurrent_correct_solution(isolation, hog):
    """verl scores in a thread pool: limits are per scoring, so a hog next to a correct solution
    costs it nothing (the review saw a fork hog fail a concurrent correct solution 3 times of 3)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        for _ in range(3):
            held = pool.submit(run_tests, HOGS[hog], TESTS, timeout=4, isolation=isolation)
            time.sleep(1.0)  # the hog has taken what it can
            assert not held.done(), "the hog ended early"
            good = run_tests(GOOD, TESTS, timeout=4, isolation=isolation)
            assert good.passed, good
            assert not held.result().passed


def test_the_suite_has_over_100_hostile_programs():
    assert len(NAMES) + len(PERSISTENT) + len(BREAKERS) + len(MEASURES) + len(HOGS) >= 100


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
