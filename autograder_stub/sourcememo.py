"""Cell texts the warm process prepared once: each forked kernel skips IPython's per-text work on them.

Before a cell runs, IPython tokenizes and transforms its text, ipykernel hashes it with a pure-Python
MurmurHash (to name the cell's file), and IPython compiles it once more to see whether it needs the
event loop; both do some of that more than once per cell. For the cells every submission shares (the
lesson's locked helpers: 34 KB) that was the same work in every kernel. The zygote `learn`s those
results for texts the grader names, only texts every student holds (the release notebook's cells,
and the test cells' code over them: never a student's own text, since the zygote is root and
unconfined, and never a hidden one, since every kernel it forks can read what it holds), and the
kernels it forks `install` lookups in front of the three steps. A text nobody prepared, or a shell whose input transformers were changed, takes IPython's own
code as before; each result is what that code returned for the same text.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable

MAX_KNOWN_CHARS = 8_000_000  # all prepared texts together (a warm process serves several courses)
HASH_SEED = 0xC70F6907  # ipykernel.compiler.get_tmp_hash_seed(): the seed its cell file names use

_transformed: dict[str, str] = {}  # raw text -> TransformerManager.transform_cell(raw text), default transformers
_digests: dict[str, int] = {}  # raw text -> murmur2_x86(raw text, HASH_SEED)
_needs_loop: dict[str, bool] = {}  # transformed text -> _should_be_async(transformed text)
_known_chars = 0
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
    global _known_chars
    from IPython.core.async_helpers import _should_be_async
    from IPython.core.inputtransformer2 import TransformerManager
    from ipykernel.compiler import murmur2_x86

    manager = TransformerManager()
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
        learned += 1
    return learned


def install() -> None:
    """In a forked kernel, before its shell exists: put the lookups in front of IPython's and ipykernel's own steps."""
    if not _transformed:
        return
    import IPython.core.interactiveshell as shell_module
    import ipykernel.compiler as compiler_module
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
