"""What a grading kernel may not do, enforced below the student's reach, and what it tried.

Installed once per kernel, before any student code runs (the dispatcher's blocks may come made from the warm
process the kernel was forked from, which makes them once for all the kernels of one lesson: `block`):

- **the taught operators are blocked where torch dispatches**: for every operator the grader names,
  every dispatch key that has a kernel gets one that refuses (every thread, every backend: dense,
  sparse, mkldnn, quantized, nested, meta; whatever dispatch-disabling context is active), and
  torch's Python re-implementations of them (`torch._refs`, `torch._decomp`) refuse too;
- **no new program can start** (seccomp: execve fails), so a call cannot hand its work to a fresh
  interpreter where nothing is blocked; a fork inherits every block;
- **an audit hook** (which Python code cannot remove) refuses what could undo the blocks from inside
  the process (walking the garbage collector to the registrations, ctypes, writing process memory
  through /proc) and notes it, with other tampering it sees, as evidence for the instructor.

The handle that keeps the registrations alive is held only by the refusing kernels themselves (a
cycle through C++), so nothing reachable from Python leads back to it.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import threading
import warnings
from typing import Callable, Iterable

import torch

from .protocol import public_op_name

# What the kernel refuses to run, and tells the student who reached it.
BLOCKED_TEXT = (
    "«{op}» (o cualquier otra forma de llamarla) no está disponible al calificar: es la operación que "
    "este ejercicio te pide escribir tú, con operaciones elementales."
)
TAMPER_LIMIT = 50
# A file name standing for the notebook's own code in tests of the guard (cells are compiled as ipykernel_* files).
STUDENT_FILE = "<notebook>"
_PROC_MEMORY = re.compile(r"^/proc/(self|thread-self|\d+)(/task/\d+)?/(mem|pagemap)$|^/dev/(k?mem|port)$|^/proc/kcore$")
_REFUSED_IMPORTS = frozenset({"_testcapi", "_testinternalcapi", "_xxsubinterpreters", "_xxinterpchannels", "_testmultiphase"})


class BlockedOperator(RuntimeError):
    """Raised by a blocked operator: the student's function reached the operation it must implement."""

    def __init__(self, op: str) -> None:
        self.op = op
        super().__init__(BLOCKED_TEXT.format(op=public_op_name(op)))


class Observations:
    """Operators refused during the current call, and tampering seen since the kernel started."""

    def __init__(self) -> None:
        self.ops: list[str] = []
        self.tamper: list[str] = []
        self._lock = threading.Lock()

    def blocked(self, op: str) -> None:
        with self._lock:
            if op not in self.ops:
                self.ops.append(op)

    def tampered(self, what: str) -> None:
        with self._lock:
            if what not in self.tamper and len(self.tamper) < TAMPER_LIMIT:
                self.tamper.append(what)

    def take_ops(self) -> list[str]:
        with self._lock:
            ops, self.ops = self.ops, []
        return ops


OBSERVED = Observations()
_installed: list[str] = []
_blocked: list[frozenset[str]] = []  # the one set of operators whose blocks are in place here (made here or inherited)


def installed() -> list[str]:
    """The operators blocked in this process (empty before `install`)."""
    return list(_installed)


def install(operators: Iterable[str], *, seccomp: bool = True) -> None:
    """Block these operators (packet names like "aten::relu") in this process, stop exec, and start watching.

    The dispatcher's blocks are `block`'s: made here, or inherited from the process this one was forked from, which
    must then have blocked exactly these operators.
    """
    if _installed:
        return
    names = operator_names(operators)
    block(names)
    _installed.extend(names)
    _watch_registrations({name.split("::")[0] for name in names})
    if seccomp:
        _forbid_exec()
    _disarm_ctypes()
    sys.addaudithook(_audit)


def block(operators: Iterable[str]) -> None:
    """Make these operators refuse where torch dispatches and in its Python references; `install` starts with it.

    A warm process serving one lesson's kernels does this once before it forks them (about 28 ms of each kernel's
    start): a fork inherits the blocks as if made there. A process blocks one set only: the registrations cannot
    be undone, so a different set is refused rather than added to them.
    """
    names = operator_names(operators)
    if _blocked:
        if _blocked[0] != frozenset(names):
            differ = sorted(_blocked[0].symmetric_difference(names))
            raise RuntimeError(f"this process already blocks another set of operators (they differ in {', '.join(differ[:5])}…)")
        return
    if not names:
        return
    with warnings.catch_warnings():  # torch warns once that kernels are being overridden: that is the point
        warnings.simplefilter("ignore")
        _block_dispatch(names)
    _block_python_references(names)
    _blocked.append(frozenset(names))


def blocked() -> frozenset[str] | None:
    """The set of operators blocked in this process by `block` (here or in the process it was forked from), if any."""
    return _blocked[0] if _blocked else None


def operator_names(operators: Iterable[str]) -> list[str]:
    """The operators named, as the guard reads them: stripped, without blanks or repeats, sorted."""
    return sorted({name.strip() for name in operators if name.strip()})


def block_intact() -> bool:
    """Whether the blocked operators still refuse: each library's registrations are still the active kernels.

    The registrations of one namespace live and die together (one library handle), so one overload per
    namespace, with every key registered on it, stands for all of them; no operator is called.
    """
    for overload, lines in _sentinels.items():
        if _active_lines(overload, lines) != lines:
            return False
    OBSERVED.take_ops()
    return True


# -- the dispatcher -------------------------------------------------------------------------

_KEY_LINE = re.compile(r"^(\w+)(?:\[alias\])?: (?:registered|fallthrough)", re.M)
_ACTIVE_LINE = re.compile(r"^(\w+)(?:\[alias\])?: .*$", re.M)
# One blocked overload per namespace -> the dump's active line of each key registered on it, as installed.
_sentinels: dict[str, dict[str, str]] = {}


def _active_lines(overload: str, keys: Iterable[str]) -> dict[str, str]:
    """The dispatcher's active registration line for each of these keys of `overload`."""
    wanted = set(keys)
    return {m.group(1): m.group(0) for m in _ACTIVE_LINE.finditer(torch._C._dispatch_dump(overload)) if m.group(1) in wanted}


def prime() -> None:
    """Index torch's operators and Python references once (a warm process before it forks): `install` then only looks up."""
    _overloads_by_packet()
    for module in _reference_modules():
        _attributes_by_short_name(module)
    _decompositions_by_packet()


_index: dict[str, tuple[int, dict[str, list]]] = {}  # what -> (the size it was built from, packet or name -> entries)


def _indexed(what: str, size: int, build: Callable[[], dict[str, list]]) -> dict[str, list]:
    """An index built once, and rebuilt if what it indexes has grown or shrunk since (anything registered or imported)."""
    cached = _index.get(what)
    if cached is None or cached[0] != size:
        cached = _index[what] = (size, build())
    return cached[1]


def _overloads_by_packet() -> dict[str, list]:
    names = torch._C._dispatch_get_all_op_names()

    def build() -> dict[str, list]:
        found: dict[str, list] = {}
        for position, name in enumerate(names):
            found.setdefault(name.split(".")[0], []).append((position, name))
        return found

    return _indexed("dispatcher", len(names), build)


def _block_dispatch(packets: list[str]) -> None:
    index = _overloads_by_packet()
    overloads = [name for _, name in sorted(entry for packet in set(packets) for entry in index.get(packet, []))]
    libraries: dict[str, object] = {}
    refusers: list[Callable[..., object]] = []
    registered: dict[str, tuple[str, set[str]]] = {}  # namespace -> (its first overload, the keys registered on it)
    for overload in overloads:
        namespace, rest = overload.split("::", 1)
        packet = overload.split(".")[0]
        if namespace not in libraries:
            libraries[namespace] = torch._C._dispatch_library("IMPL", namespace, "")
        for key in _KEY_LINE.findall(torch._C._dispatch_dump(overload)):
            if key == "debug":
                continue
            refuser = _refuser(packet)
            try:
                libraries[namespace].impl(rest, key, refuser, False)
            except RuntimeError:  # a key this build cannot register from Python: the others still refuse
                continue
            refusers.append(refuser)
            sentinel, keys = registered.setdefault(namespace, (overload, set()))
            if sentinel == overload:
                keys.add(key)
    # Each library handle gets one reference that no Python object holds (a C-level incref), then every
    # Python reference to it is dropped: the registrations live for the process, and a handle (not tracked
    # by the garbage collector) cannot be found again to destroy them, even by walking every object.
    for handle in libraries.values():
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(handle))
    libraries.clear()
    refusers.clear()
    for overload, keys in registered.values():
        _sentinels[overload] = _active_lines(overload, keys)


def _refuser(op: str) -> Callable[..., object]:
    def refuse(*args: object, **kwargs: object) -> object:
        OBSERVED.blocked(op)
        raise BlockedOperator(op)  # the student's traceback ends at their own call (REFUSING_CODES)

    return refuse


def _block_python_references(packets: list[str]) -> None:
    """torch's own Python versions of the blocked operators (used by its compilers) refuse as well."""
    short = {name.split("::")[1] for name in packets if name.startswith("aten::")}
    for module in _reference_modules():
        index = _attributes_by_short_name(module)
        for attribute in [attribute for name in sorted(short) for attribute in index.get(name, [])]:
            setattr(module, attribute, _refuser(f"aten::{attribute.lstrip('_')}"))
    table = getattr(sys.modules.get("torch._decomp"), "decomposition_table", None)
    if isinstance(table, dict):
        index = _decompositions_by_packet()
        for name in sorted(set(packets)):
            for overload in index.get(name, []):
                table[overload] = _refuser(name)


def _reference_modules() -> list:
    found = [sys.modules.get(name) for name in ("torch._refs", "torch._refs.nn.functional", "torch._decomp.decompositions")]
    return [module for module in found if module is not None]


def _attributes_by_short_name(module: object) -> dict[str, list]:
    """A module's attributes by the operator name they stand for (`_relu` and `relu` both for relu)."""
    attributes = vars(module)

    def build() -> dict[str, list]:
        found: dict[str, list] = {}
        for attribute in list(attributes):
            for name in dict.fromkeys((attribute, attribute.lstrip("_"))):
                found.setdefault(name, []).append(attribute)
        return found

    return _indexed(f"module {module.__name__}", len(attributes), build)  # type: ignore[attr-defined]


def _decompositions_by_packet() -> dict[str, list]:
    """torch._decomp's decomposition table, its overloads by qualified packet name ("aten::relu")."""
    table = getattr(sys.modules.get("torch._decomp"), "decomposition_table", None)
    if not isinstance(table, dict):
        return {}

    def build() -> dict[str, list]:
        found: dict[str, list] = {}
        for overload in list(table):
            name = getattr(getattr(overload, "overloadpacket", None), "_qualified_op_name", "")
            found.setdefault(name, []).append(overload)
        return found

    return _indexed("decompositions", len(table), build)


def _watch_registrations(namespaces: set[str]) -> None:
    """New kernels for a blocked operator's namespace, registered from the notebook, are refused and noted."""
    original = torch._C._dispatch_library

    def dispatch_library(kind: str, namespace: str, *args: object, **kwargs: object) -> object:
        if namespace in namespaces and kind in ("IMPL", "FRAGMENT") and _from_student(depth=4):
            _refuse(f"registró implementaciones propias en el despachador de torch ({namespace})")
        return original(kind, namespace, *args, **kwargs)

    torch._C._dispatch_library = dispatch_library


# -- processes ------------------------------------------------------------------------------

_ARCH = {"x86_64": (0xC000003E, (59, 322)), "aarch64": (0xC00000B7, (221, 281))}


def _forbid_exec() -> None:
    """A seccomp filter on this process and all it starts: execve and execveat fail with EPERM."""
    arch = _ARCH.get(os.uname().machine)
    if arch is None:
        OBSERVED.tampered("(aviso) esta arquitectura no permite impedir que se lancen programas")
        return
    audit_arch, calls = arch

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    load, jeq, ret = 0x20, 0x15, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    steps = [
        Filter(load, 0, 0, 4),  # the architecture
        Filter(jeq, 1, 0, audit_arch),
        Filter(ret, 0, 0, deny),  # another ABI: nothing may run
        Filter(load, 0, 0, 0),  # the syscall number
        Filter(0x35, 0, 1, 0x40000000),  # jge: the x32 ABI
        Filter(ret, 0, 0, deny),
        Filter(jeq, 0, 1, calls[0]),
        Filter(ret, 0, 0, deny),
        Filter(jeq, 0, 1, calls[1]),
        Filter(ret, 0, 0, deny),
        Filter(ret, 0, 0, allow),
    ]
    program = Program(len(steps), (Filter * len(steps))(*steps))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(38, 1, None, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(22, 2, ctypes.cast(ctypes.pointer(program), ctypes.c_void_p), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


_CTYPES_MEMORY = ("memmove", "memset", "string_at", "wstring_at", "cast", "pointer", "POINTER", "addressof", "byref",
                  "CFUNCTYPE", "PYFUNCTYPE", "pythonapi", "CDLL", "PyDLL")


def _disarm_ctypes() -> None:
    """ctypes' ways to raw memory refuse from now on (its calls through function pointers raise no audit event)."""
    import _ctypes

    def refused(*args: object, **kwargs: object) -> object:
        _refuse("usó ctypes (acceso directo a la memoria del proceso)")
        raise AssertionError  # unreachable: _refuse raises

    for name in _CTYPES_MEMORY:
        for module in (ctypes, _ctypes):
            if hasattr(module, name):
                setattr(module, name, refused)
    for module in (ctypes, _ctypes):
        for name in [n for n in vars(module) if n.endswith("_addr")]:
            delattr(module, name)
    getattr(ctypes, "_pointer_type_cache", {}).clear()


# -- the audit hook -------------------------------------------------------------------------


def _audit(event: str, args: tuple) -> None:
    if event.startswith("ctypes."):
        _refuse("usó ctypes (acceso directo a la memoria del proceso)")
    elif event in ("gc.get_objects", "gc.get_referrers", "gc.get_referents"):
        _refuse("recorrió los objetos del intérprete con el recolector de basura (gc)")
    elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn"):
        _refuse("intentó lanzar otro programa")
    elif event == "open" and args and isinstance(args[0], (str, bytes)) and _is_process_memory(args[0]):
        _refuse("intentó abrir la memoria del proceso (/proc/…/mem)")
    elif event == "import" and args and args[0] in _REFUSED_IMPORTS:
        _refuse(f"importó {args[0]}")
    elif event == "object.__setattr__" and len(args) >= 2 and _is_grader_type(args[0]) and _from_student(depth=1):
        OBSERVED.tampered(f"modificó {getattr(args[0], '__module__', '?')}.{getattr(args[0], '__name__', '?')}.{args[1]}")
    elif event == "sys.addaudithook" and _from_student(depth=1):
        OBSERVED.tampered("añadió un gancho de auditoría propio")


def _refuse(what: str) -> None:
    OBSERVED.tampered(what)
    raise PermissionError(f"No permitido al calificar: {what}.")


# The code that raises a refusal: a kernel's tracebacks leave out the guard's frames that end in it
# (autograder_stub.tracebacks), so the student's traceback ends at the student's own call.
REFUSING_CODES = frozenset({_refuser("").__code__, _refuse.__code__})


def _from_student(depth: int = 8) -> bool:
    """Whether notebook code is among the nearest callers (torch sets its own classes' attributes too)."""
    frame = sys._getframe(2)
    for _ in range(depth):
        if frame is None:
            return False
        name = frame.f_code.co_filename
        if "ipykernel_" in name or name.startswith("<ipython-input") or name == STUDENT_FILE:
            return True
        frame = frame.f_back
    return False


def _is_process_memory(path: str | bytes) -> bool:
    text = os.fsdecode(path)
    try:
        text = os.path.realpath(text)
    except (OSError, ValueError):
        return True
    return bool(_PROC_MEMORY.match(text))


def _is_grader_type(obj: object) -> bool:
    module = getattr(obj, "__module__", "") or ""
    return isinstance(obj, type) and (module.startswith(("torch", "autograder_stub")) or obj.__name__ == "Tensor")
