"""Cell texts the warm process prepared once: each forked kernel skips IPython's per-text work on them.

Before a cell runs, IPython tokenizes and transforms its text, ipykernel hashes it with a pure-Python
MurmurHash (to name the cell's file), IPython compiles it once more to see whether it needs the
event loop, and then parses it into a syntax tree; both do some of that more than once per cell. For the cells every submission shares (the
lesson's locked helpers: 34 KB) that was the same work in every kernel. The zygote `learn`s those
results for texts the grader names, only texts every student holds (the release notebook's cells,
and the test cells' code over them: never a student's own text, since the zygote is root and
unconfined, and never a hidden one, since every kernel it forks can read what it holds), and the
kernels it forks `install` lookups in front of the four steps. A text nobody prepared, or a shell whose input transformers were changed, takes IPython's own
code as before; each result is what that code returned for the same text. A syntax tree is handed out once per
kernel (IPython's AST transformers may change the tree they get): the same text parsed again is parsed anew.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Iterable

MAX_KNOWN_CHARS = 8_000_000  # all prepared texts together (a warm process serves several courses)
MAX_TREE_CHARS = 400_000  # the texts whose syntax trees are kept (about 16 MB of trees; a lesson's cells: 42,000)
HASH_SEED = 0xC70F6907  # ipykernel.compiler.get_tmp_hash_seed(): the seed its cell file names use

_transformed: dict[str, str] = {}  # raw text -> TransformerManager.transform_cell(raw text), default transformers
_digests: dict[str, int] = {}  # raw text -> murmur2_x86(raw text, HASH_SEED)
_needs_loop: dict[str, bool] = {}  # transformed text -> _should_be_async(transformed text)
_parsed: dict[str, Any] = {}  # transformed text -> CachingCompiler().ast_parse(transformed text), default flags
_parse_flags: int | None = None  # a new CachingCompiler's flags, which every prepared tree assumed
_known_chars = 0
_tree_chars = 0
hits = 0  # lookups answered from what was prepared (read by the tests)


def _defaults() -> tuple[tuple, tuple, tuple]:
    """The input transformers a new TransformerManager starts with, which every prepared result assumed."""
    from IPython.core.inputtransformer2 import TransformerManager

    return _transformers(TransformerManager())


def _transformers(manager: object) -> tuple[tuple, tuple, tuple]:
    """A TransformerManager's three lists, as compared with the defaults each prepared result assumed."""
    return (tuple(manager.cleanup_transforms), tuple(manager.line_transforms), tuple(manager.token_transformers))


def learn(texts: Iterable[str]) -> int:
    """In the warm process: prepare each trusted text not yet known (within MAX_KNOWN_CHARS); how many were new."""
    global _known_chars, _parse_flags
    from IPython.core.async_helpers import _should_be_async
    from IPython.core.compilerop import CachingCompiler
    from IPython.core.inputtransformer2 import TransformerManager
    from ipykernel.compiler import murmur2_x86

    manager = TransformerManager()
    compiler = CachingCompiler()
    _parse_flags = compiler.flags
    learned = 0
    for text in texts:
        if not isinstance(text, str) or text in _transformed:
            continue
        if _known_chars + 2 * len(text) > MAX_KNOWN_CHARS:  # the text and about as much transformed
            continue
        try:
            transformed = manager.transform_cell(text)
            needs_loop = _should_be_async(transformed)
            digest = murmur2_x86(text, HASH_SEED)
        except Exception:  # noqa: BLE001 - a text IPython cannot transform is left to each kernel, which reports it
            continue
        _transformed[text] = transformed
        _digests[text] = digest
        _needs_loop[transformed] = needs_loop
        _known_chars += len(text) + len(transformed)
        _learn_tree(compiler, transformed)
        learned += 1
    return learned


def _learn_tree(compiler: Any, transformed: str) -> None:
    """The text's syntax tree, within MAX_TREE_CHARS (a tree takes about 40 bytes per character); none if it does not parse."""
    global _tree_chars
    if transformed in _parsed or _tree_chars + len(transformed) > MAX_TREE_CHARS:
        return
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        try:
            tree = compiler.ast_parse(transformed)
        except Exception:  # noqa: BLE001 - a SyntaxError (or any other) is each kernel's to raise, with its cell's name
            return
    if warned:  # a parse that warns ("\\d" in a string) warns in each kernel, under that kernel's own filters
        return
    _parsed[transformed] = tree
    _tree_chars += len(transformed)


def install() -> None:
    """In a forked kernel, before its shell exists: put the lookups in front of IPython's and ipykernel's own steps."""
    if not _transformed:
        return
    import IPython.core.interactiveshell as shell_module
    import ipykernel.compiler as compiler_module
    from IPython.core.compilerop import CachingCompiler
    from IPython.core.inputtransformer2 import TransformerManager

    defaults = _defaults()
    TransformerManager.transform_cell = _looked_up(
        TransformerManager.transform_cell,
        lambda manager, cell: _transformed.get(cell) if isinstance(cell, str) and _transformers(manager) == defaults else None,
    )
    compiler_module.murmur2_x86 = _looked_up(
        compiler_module.murmur2_x86,
        lambda data, seed: _digests.get(data) if isinstance(data, str) and seed == HASH_SEED else None,
    )
    shell_module._should_be_async = _looked_up(
        shell_module._should_be_async, lambda cell: _needs_loop.get(cell) if isinstance(cell, str) else None
    )
    CachingCompiler.ast_parse = _parsed_once(CachingCompiler.ast_parse)


def _parsed_once(original: Callable) -> Callable:
    """CachingCompiler.ast_parse, answered first by a prepared tree (each handed out once) under the default flags."""

    @functools.wraps(original)
    def ast_parse(compiler: Any, source: Any, filename: str = "<unknown>", symbol: str = "exec") -> Any:
        global hits
        if isinstance(source, str) and symbol == "exec" and compiler.flags == _parse_flags:
            tree = _parsed.pop(source, None)  # filename only names a SyntaxError, and a prepared text has none
            if tree is not None:
                hits += 1
                return tree
        return original(compiler, source, filename, symbol)

    return ast_parse


def _looked_up(original: Callable, lookup: Callable) -> Callable:
    """`original`, answered first from what was prepared: `lookup` of its arguments, None when it was not."""

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global hits
        known = None if kwargs else lookup(*args)
        if known is not None:
            hits += 1
            return known
        return original(*args, **kwargs)

    return wrapper
