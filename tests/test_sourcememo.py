"""Prepared cell texts (autograder_stub.sourcememo) give exactly what IPython and ipykernel compute, or nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TEXTS = [
    "x = 1\nx + 1\n",
    "%matplotlib inline\nimport math\n",
    "%%capture salida\nprint('hola')\n",
    "nombres = %who_ls\n!echo hola\n",
    "len?\n",
    "await asyncio.sleep(0)\n",
    "async def f():\n    await g()\n",
    "def roto(:\n",
    "print('una línea')",
    "   sangrado = 1\n",
    ">>> a = 1\n... \n",
    "",
]

SCRIPT = """
import ast, json, sys
from IPython.core.async_helpers import _should_be_async
from IPython.core.compilerop import CachingCompiler
from IPython.core.inputtransformer2 import TransformerManager
from ipykernel.compiler import murmur2_x86
import autograder_stub.sourcememo as memo

texts = json.loads(sys.argv[1])

def compute(manager):
    out = []
    for text in texts:
        try:
            transformed = manager.transform_cell(text)
        except Exception as error:
            out.append([type(error).__name__])
            continue
        import IPython.core.interactiveshell as shell_module, ipykernel.compiler as compiler_module
        try:
            tree = ast.dump(CachingCompiler().ast_parse(transformed), include_attributes=True)
        except SyntaxError as error:
            tree = ["SyntaxError", error.lineno, error.offset]
        out.append([transformed, compiler_module.murmur2_x86(text, memo.HASH_SEED), shell_module._should_be_async(transformed), tree])
    return out

plain = compute(TransformerManager())
learned = memo.learn(texts)
memo.install()
future = CachingCompiler()  # a compiler whose flags a cell changed (from __future__ import ...) parses anew
future.flags |= __import__("__future__").annotations.compiler_flag
future.ast_parse(texts[0])
future_hits = memo.hits
prepared = compute(TransformerManager())
hits = memo.hits - future_hits
again = compute(TransformerManager())  # a tree is handed out once: parsed anew, and the same
tree_hits_again = memo.hits - future_hits - hits - 3 * learned
texts_left = [t for t in texts if t in memo._parsed]
changed = TransformerManager()
changed.line_transforms.append(lambda lines: [line.replace("x", "y") for line in lines])
before = memo.hits
after_change = changed.transform_cell(texts[0])
print(json.dumps({"plain": plain, "prepared": prepared, "again": again, "learned": learned, "hits": hits,
                  "trees": sum(1 for row in plain if len(row) > 1 and isinstance(row[3], str)),
                  "tree_hits_again": tree_hits_again, "texts_left": texts_left, "future_hits": future_hits,
                  "change_hits": memo.hits - before, "after_change": after_change}))
"""


def test_prepared_texts_give_ipythons_own_results_and_a_changed_transformer_list_is_never_answered_from_them():
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), json.dumps(TEXTS)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["prepared"] == out["plain"] == out["again"]
    failing = sum(1 for row in out["plain"] if len(row) == 1)  # what IPython cannot transform is not prepared
    assert out["learned"] == len(TEXTS) - failing
    assert 0 < out["trees"] < out["learned"]  # "def roto(:" transforms but does not parse: no tree
    assert out["hits"] == 3 * out["learned"] + out["trees"]  # each transform, hash, event-loop check and tree
    assert out["tree_hits_again"] == 0 and out["texts_left"] == []  # each tree handed out once
    assert out["future_hits"] == 0
    assert out["change_hits"] == 0 and out["after_change"] == "y = 1\ny + 1\n"


def test_learning_keeps_within_its_size_bound_and_what_it_knows():
    script = """
    import autograder_stub.sourcememo as memo
    memo.MAX_KNOWN_CHARS = 100
    first = memo.learn(["a = 1\\n" * 5])
    second = memo.learn(["b = 2\\n" * 20, "c = 3\\n"])
    print(first, second, sorted(memo._transformed))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["1", "1"]  # the 120 characters of b's would pass the bound; c's fit
    assert "'b" not in done.stdout


def test_a_text_whose_parse_warns_gets_no_tree_and_so_warns_in_each_kernel():
    """An invalid escape warns when parsed: a kernel whose filters turn that into an error must still see it."""
    script = r"""
    import autograder_stub.sourcememo as memo
    from IPython.core.inputtransformer2 import TransformerManager
    texts = ["patron = '\d+'\n", "limpio = 1\n"]
    memo.learn(texts)
    print([TransformerManager().transform_cell(t) in memo._parsed for t in texts], len(memo._transformed))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("]")[0] + "]" == "[False, True]" and done.stdout.split()[-1] == "2"
