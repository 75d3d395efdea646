"""nbgrader's Execute, made safe for untrusted code: a sandboxed kernel, and faults that cost only the cells they hit."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from queue import Empty
from typing import Any

from jupyter_client.manager import KernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Bool, Enum, Float, Integer, Unicode

from autograder.adapter.cellbatch import CellBatch, may_join
from autograder.adapter.lesson_of import lesson_of
from autograder.adapter.preprocessors.restorecells import release_code
from autograder.adapter.requestcarrier import RequestCarrier
from autograder.engine import messages as msg
from autograder.engine.issuer import RESOURCES_KEY, RequestIssuer, only_the_stub
from autograder.engine.seeding import exec_lines_option, seed_line
from autograder.engine.stages import CELLS, KERNEL_STAGES_KEY, KERNEL_START, KERNEL_STOP
from autograder.isolation.backend import BACKENDS, choose
from autograder.isolation.kernel_options import MEMORY_HISTORY, NO_FIGURES, NO_FIGURES_LINE
from autograder.isolation.sandboxkernel import PlainKernelManager, WarmKernelManager
from autograder_stub.protocol import RECORD_MIME as PROBE_MIME
from autograder_stub.protocol import RUN_CALL

# Where a fault is recorded on a cell, for Verify and for reports: metadata["autograder"]["fault"].
FAULT_KEY = "autograder"
# Probe records a test cell may emit outside the output budget (a test emits one), and their size.
MAX_PROBES_PER_CELL = 4
MAX_PROBE_BYTES = 4 * 1024 * 1024
# A replay watched for a delayed death gets this much longer than the run that died had (load varies). The watched
# kernel must answer a request every WATCH_POLL_S, within ANSWER_S: a kernel whose event loop was stopped from
# another thread (a timer calling do_shutdown) only exits once something wakes it.
WATCH_SLACK_RATIO = 0.25
WATCH_SLACK_S = 1.0
WATCH_POLL_S = 0.25
ANSWER_S = 5.0
# What a run of batched cells holds: cells whose outputs decide no grade, or hidden tests the grader decides (never both).
UNGRADED = "ungraded"
TESTS = "tests"


class Fault:
    """Names of the faults a cell can suffer; stored in the cell's metadata."""

    TIMEOUT = "timeout"
    DEAD = "dead_kernel"
    OOM = "out_of_memory"
    DEADLINE = "deadline"
    GAVE_UP = "gave_up"
    DELAYED = "delayed_death"  # the cell returned, and the kernel died later of what it left running


@dataclass(frozen=True)
class Lethal:
    """A kernel that died or hung: when, in which cell (None: after the last, while watched), how, and when each cell of its life started."""

    at: float
    started: dict[int, float]
    cell: int | None
    fault: str


class GuardedExecute(Execute):
    """Run the notebook in a sandboxed kernel; after a cell kills or hangs the kernel, restart and go on.

    nbgrader gives up on the whole notebook when the kernel dies, and a cell that ignores the
    interrupt blocks every later one. Here the faulty cell gets an error and a recorded fault, a
    fresh kernel replays the cells that ran before it (tests excluded), and execution continues;
    so a fault costs only the parts that depend on the broken cell. Output beyond a per-cell
    budget is dropped as it arrives, and the whole notebook has a wall-clock budget.
    """

    sandbox = Bool(True, help="Run the kernel inside autograder.isolation.bwrap (no network, no course files, limits).").tag(
        config=True
    )
    notebook_timeout = Integer(200, help="Wall-clock seconds for the whole notebook, restarts and replays included.").tag(
        config=True
    )
    max_restarts = Integer(12, help="Kernel restarts allowed after faults; later cells are then not run.").tag(config=True)
    warm = Bool(
        True,
        help="Fork each sandboxed kernel from a warm process with torch already imported (needs root; else a cold bwrap start).",
    ).tag(config=True)
    isolation = Unicode(
        "",
        help=f"Isolation backend of the kernel, one of {', '.join(BACKENDS)} (autograder.isolation.backend); empty: "
        "chosen from `sandbox` and `warm` (warmfork where it can run, else bubblewrap). sandbox=False always means unconfined.",
    ).tag(config=True)
    figures = Bool(
        True,
        help="Render matplotlib figures into the graded notebook (False: nothing is drawn, and the lesson's figure "
        "helpers, which check AUTOGRADER_FIGURES=0, return at once: figures earn no points).",
    ).tag(config=True)
    seed = Integer(
        0, help="Seed of Python's, torch's and numpy's global generators at kernel start, so regrades agree (-1: unseeded)."
    ).tag(config=True)
    max_output_bytes = Integer(
        256 * 1024, help="Output kept per cell (text and data); the rest is dropped while it arrives."
    ).tag(config=True)
    death_horizon = Float(
        20.0,
        help="Longest delay (s) between a cell and a kernel death it causes later (a timer, a thread) that is traced "
        "back to it: after a death the replayed kernel is watched at most this long per replayed cell.",
    ).tag(config=True)

    shutdown_kernel = Enum(
        ["graceful", "immediate"],
        default_value="immediate",
        help="How the kernel stops after the last cell: killed at once (its output is all in by then, and the sandbox's "
        "cleanup kills and removes whatever it left), or asked to shut down first ('graceful', nbclient's default).",
    ).tag(config=True)

    batch_cells = Bool(
        True,
        help="Send each run of consecutive cells that no test grades (answers, helpers, demos), and each run of "
        "consecutive hidden tests (cells that only call the stub with the grader's request), to the kernel in one "
        "request, still with each cell's own outputs, errors, limit, request and faults (autograder.adapter.cellbatch); "
        "a run never mixes the two, and other graded cells go one by one. False: one request per cell, as nbclient does.",
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict | None = None, km: KernelManager | None = None):
        # The configured backend must be able to run here: one clear line before any cell, never a silent fallback.
        choose(self.isolation, sandbox=self.sandbox, warm=self.warm).available()
        self._started = time.monotonic()
        self._replayable: list[int] = []
        self._restarts = 0
        self._stopped: str | None = None
        self._sizes: dict[int, int] = {}
        self._probes: dict[int, int] = {}
        self._ran_at: dict[int, float] = {}  # when each cell started, in the current kernel's life
        self._blamed: list[int] = []  # replayed cells found to kill the kernel on their own
        self._batch: CellBatch | None = None
        self._batch_end = -1  # index of the batch's last cell
        self._unbatched = False  # set after a fault in a batch: every later cell goes alone
        for cell in nb.cells:
            cell.metadata.pop(FAULT_KEY, None)  # only faults seen in this run count
        resources = resources if resources is not None else ResourcesDict()
        self._lesson = lesson_of(resources, self.config)
        self._issuer = RequestIssuer(resources, self._lesson)
        self._first_cell: float | None = None
        self._last_cell = self._started
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._record_stages(resources)

    def _record_stages(self, resources: ResourcesDict) -> None:
        """Leave the kernel's start, the cells and the kernel's stop in resources, for the stage breakdown."""
        ended = time.monotonic()
        first = self._first_cell if self._first_cell is not None else ended
        resources.setdefault(RESOURCES_KEY, {})[KERNEL_STAGES_KEY] = {
            KERNEL_START: first - self._started,
            CELLS: max(self._last_cell, first) - first,  # cells, the client's work between them, replays after faults
            KERNEL_STOP: ended - max(self._last_cell, first),
        }

    def create_kernel_manager(self) -> KernelManager:
        self.kernel_manager_class = self._kernel_manager_class()
        km = super().create_kernel_manager()
        if isinstance(km, PlainKernelManager):
            km.output_budget = self.max_output_bytes  # the kernel cuts its prints at the same budget, at the source
            km.blocked_ops = self._lesson.blocked_operators()  # what this lesson teaches, refused in the kernel
        if isinstance(km, WarmKernelManager):  # its zygote prepares these texts once for every kernel it forks
            km.known_sources = self._public_code()
        return km

    def _public_code(self) -> list[str]:
        """Texts this notebook will run that every student holds: the release's cells, and test cells' code that is
        the stub's call over a release cell. The zygote's memory is every kernel's: nothing else may enter it."""
        released = release_code(self.config, self.resources)
        visible = {text.rstrip() for text in released}
        texts = set()
        for cell in self.nb.cells:
            if cell.cell_type != "code":
                continue
            if cell.source in released:
                texts.add(cell.source)
            code = self._issuer.code_for(cell)
            if code is not None and code.removeprefix(RUN_CALL + "\n").rstrip() in visible:
                texts.add(code)
        return sorted(texts)

    async def async_execute_cell(
        self, cell: NotebookNode, cell_index: int, execution_count: int | None = None, store_history: bool = True
    ) -> NotebookNode:
        """A graded test cell runs as the stub's call, its request carried beside the code; its source is restored after."""
        issued = self._issuer.source_for(cell) if getattr(self, "_issuer", None) else None
        if issued is None:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        original = cell.source
        cell.source = issued.code
        # In a batch of tests, the batch carries each test's request (the issuer's, made when the batch began).
        carrier = None if isinstance(self.kc, CellBatch) else RequestCarrier(self.kc, issued.request)
        if carrier is not None:
            self.kc = carrier
        try:  # kept out of the kernel's history (`In`), where a later cell could print it
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history=False)
        finally:
            cell.source = original
            if carrier is not None and self.kc is carrier:
                self.kc = carrier.client

    # nbclient binds the sync name to its own coroutine function.
    execute_cell = run_sync(async_execute_cell)

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        """Start the kernel with our options (set here: nbconvert reloads every trait from config in preprocess)."""
        lines = ([NO_FIGURES_LINE] if not self.figures else []) + ([seed_line(self.seed)] if self.seed >= 0 else [])
        options = [MEMORY_HISTORY] + ([NO_FIGURES] if not self.figures else []) + ([exec_lines_option(lines)] if lines else [])
        self.extra_arguments = [*self.extra_arguments, *(o for o in options if o not in self.extra_arguments)]
        await super().async_start_new_kernel(**kwargs)

    # nbclient binds the sync name to its own coroutine function; a restart calls the sync name.
    start_new_kernel = run_sync(async_start_new_kernel)

    def _kernel_manager_class(self) -> type[KernelManager]:
        """The isolation backend's kernel manager; the backend is chosen and checked once per notebook (restarts reuse it)."""
        key = (getattr(self, "_started", None), self.isolation, self.sandbox, self.warm)  # _started: set by each preprocess
        chosen = getattr(self, "_backend", None)
        if chosen is None or chosen[0] != key:
            backend = choose(self.isolation, sandbox=self.sandbox, warm=self.warm)
            backend.available()  # SandboxUnavailable, with its fix, before any kernel starts
            chosen = self._backend = (key, backend)
        return chosen[1].kernel_manager_class()

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict, index: int):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._stopped is None and self._remaining() <= 0:
            self._stopped = Fault.DEADLINE
        if self._stopped is not None:
            self._mark(cell, self._stopped)
            return cell, resources
        self._timed_out = False
        self._ran_at[index] = started = time.monotonic()
        if self._first_cell is None:
            self._first_cell = started
        self._join_batch(index)
        batch = self._batch if self._batch is not None and self.kc is self._batch else None
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            if batch is not None:
                return self._after_batch_fault(cell, resources, index, "died")
            return self._after_death(cell, resources, index)
        except CellTimeoutError:  # no IOPub output after the reply: treat as a hung kernel
            if batch is not None and not _awaited_started(batch):
                return self._after_batch_fault(cell, resources, index, "hung")
            self._fault_and_recover(cell, Fault.TIMEOUT)
            return cell, self.resources
        except Exception as error:  # a kernel that speaks nonsense (malformed messages): a fault of this cell
            self.log.warning("Kernel misbehaved in cell %s: %s: %s", index, type(error).__name__, error)
            if batch is not None:
                return self._after_batch_fault(cell, resources, index, "misbehaved")
            self._fault_and_recover(cell, Fault.DEAD)
            return cell, self.resources
        finally:
            self._last_cell = time.monotonic()
            self._leave_batch(index)
        if batch is not None and batch.broken:
            return self._after_batch_fault(cell, resources, index, "left its batch")
        if self._timed_out:
            if batch is not None and not _awaited_started(batch):
                return self._after_batch_fault(cell, resources, index, "timed out")
            self._fault_and_recover(cell, Fault.TIMEOUT)
        elif not _is_test(cell):
            self._replayable.append(index)
        return cell, resources

    # -- batches -----------------------------------------------------------------------
    def _join_batch(self, index: int) -> None:
        """Before a cell runs: keep the batch it belongs to, or start one if a run of batchable cells begins here."""
        if self._batch is not None and (self.kc is not self._batch or index > self._batch_end):
            self._drop_batch()  # a restart replaced the client, or the batch is behind us
        if self._batch is not None or not self.batch_cells or self._unbatched:
            return
        kind = self._batch_kind(self.nb.cells[index])
        if kind is None:
            return
        run = [index]
        for later in range(index + 1, len(self.nb.cells)):
            cell = self.nb.cells[later]
            if cell.cell_type != "code" or not cell.source.strip():
                continue  # nbclient skips it
            if self._batch_kind(cell) != kind:
                break
            run.append(later)
        if len(run) < 2:
            return
        if kind == TESTS:  # each test's code and request, issued now (the same ones again if a cell must run alone)
            issued = [item for i in run if (item := self._issuer.source_for(self.nb.cells[i])) is not None]
            if len(issued) != len(run):  # every cell of a run of tests is one; else nothing is batched here
                return
            sources = [item.code for item in issued]
            requests: list[str | None] = [item.request for item in issued]
        else:
            sources, requests = [self.nb.cells[i].source for i in run], [None] * len(run)
        self._batch = CellBatch(self.kc, sources, requests)
        self._batch_end = run[-1]
        self.kc = self._batch

    def _after_batch_fault(self, cell: NotebookNode, resources: ResourcesDict, index: int, what: str):
        """A fault while a batch ran: nobody is blamed yet; the cell runs again alone, and no cell is batched after.

        The batch's runner goes on to the next cell once one's end has left the kernel, before the grader has
        read it: a cell that kills the kernel at once can take the previous cell's last messages with it. A
        request that ended (or was made to look ended) before the awaited cell's reply says nothing of which
        cell did what either. Alone, in a kernel rebuilt from the cells before it, each cell answers for
        itself, as without batches.
        """
        self.log.info("Kernel %s while batched cell %s was awaited: it runs again alone", what, index)
        self._drop_batch()
        self._unbatched = True
        self._restarts -= 1  # this restart is the grader's choice (batching), not the notebook's
        self._recover()
        if self._stopped is not None:
            self._mark(cell, self._stopped)
            return cell, self.resources
        return self._run_again(cell, resources, index)

    def _leave_batch(self, index: int) -> None:
        """After a cell: the real client is back once the batch's last cell is done, or the cell ended it early."""
        if self._batch is not None and self.kc is self._batch and (index >= self._batch_end or self._batch.done):
            self._drop_batch()

    def _drop_batch(self) -> None:
        if self._batch is not None and self.kc is self._batch:
            self.kc = self._batch.client
        self._batch = None

    def _batch_kind(self, cell: NotebookNode) -> str | None:
        """Which cells this one may share a request with: cells whose outputs decide no grade (UNGRADED), tests the
        grader decides from its own request (TESTS), or none (None: it goes alone). The batch's runner runs each
        as ipykernel would."""
        tags = cell.metadata.get("tags", [])
        if (
            cell.cell_type != "code"
            or not cell.source.strip()
            or self.skip_cells_with_tag in tags
            or "raises-exception" in tags
            or not self.allow_errors
            or self.force_raise_errors
        ):
            return None
        if not cell.metadata.get("nbgrader", {}).get("grade"):
            return UNGRADED if may_join(cell.source) else None
        # Alone: a graded cell whose own outputs decide it (code None), and a test whose visible checks call the
        # student's answer outside the stub's limits while the run's later requests would be in the kernel.
        code = self._issuer.code_for(cell)
        return TESTS if code is not None and only_the_stub(code) else None

    # -- faults ------------------------------------------------------------------------
    def _fault_and_recover(self, cell: NotebookNode, fault: str) -> None:
        self._mark(cell, fault)
        self._recover()

    def _recover(self, death: Lethal | None = None) -> None:
        """Restart until a fresh kernel holds the replayable state (watched after a death), or the notebook must stop."""
        blamed = len(self._blamed)
        while self._stopped is None:
            if self._restarts >= self.max_restarts:
                self._stopped = Fault.GAVE_UP
            elif self._remaining() <= 0:
                self._stopped = Fault.DEADLINE
            elif self._restart_and_replay(death):
                return
            elif len(self._blamed) > blamed:  # the culprit is left out; a later death of the rebuilt kernel starts a new search
                death = None

    def _after_death(self, cell: NotebookNode, resources: ResourcesDict, index: int):
        """The kernel died in this cell: its fault, unless the replayed cells before it kill a fresh kernel on their own.

        A timer, a thread or do_shutdown left running by an earlier cell kills the kernel in whatever cell runs
        then. So the rebuilt kernel is watched as long as the dead one had run: if it dies again, the replayed
        cell that did it is found and left out, and this cell, innocent, runs again.
        """
        cause = self._death_cause()
        if cause != Fault.DEAD:  # the sandbox saw this cell run out of memory
            self._fault_and_recover(cell, cause)
            return cell, self.resources
        blamed = len(self._blamed)
        self._recover(Lethal(time.monotonic(), dict(self._ran_at), index, cause))
        if len(self._blamed) == blamed:
            self._mark(cell, cause)
        elif self._stopped is None:
            return self._run_again(cell, resources, index)
        else:  # innocent, but there is no kernel left to run it in
            self._mark(cell, self._stopped)
        return cell, self.resources

    def _run_again(self, cell: NotebookNode, resources: ResourcesDict, index: int):
        """Run a cell whose death an earlier cell caused, from scratch (its output budget too)."""
        self._sizes.pop(index, None)
        self._probes.pop(index, None)
        return self.preprocess_cell(cell, resources, index)

    def _restart_and_replay(self, death: Lethal | None = None) -> bool:
        """A fresh kernel with the state of the cells that ran cleanly so far; False if a replayed cell faults too."""
        self._restarts += 1
        if not self._fresh_kernel():
            return False
        failed = self._replay(self._replayable, [death] if death else [])
        if failed is None:
            return True
        if failed.fault == Fault.TIMEOUT and failed.cell is not None:  # not deterministic after all: leave it out
            self._leave_out(failed.cell, Fault.TIMEOUT)
        else:
            self._find_culprit(failed)
        return False

    def _fresh_kernel(self) -> bool:
        """Replace the kernel with a new one; False if the new one died while starting."""
        self._cleanup_kernel()
        self._display_id_map.clear()  # ids of the dead kernel's displays point at outputs a replay reuses
        self._ran_at = {}
        self.km = self.create_kernel_manager()
        try:
            self.start_new_kernel()
            self.start_new_kernel_client()
        except (RuntimeError, DeadKernelError, TimeoutError) as error:  # died while starting: one more restart spent
            self.log.warning("Kernel restart failed: %s: %s", type(error).__name__, error)
            return False
        return True

    def _replay(self, cells: list[int], deaths: list[Lethal]) -> Lethal | None:
        """Run these cells again in the fresh kernel, then watch it as long as `deaths` call for; how it failed, or None."""
        started: dict[int, float] = {}
        for index in cells:
            started[index] = self._ran_at[index] = time.monotonic()
            self._timed_out = False
            try:
                self.execute_cell(copy.deepcopy(self.nb.cells[index]), index, store_history=False)
            except DeadKernelError:
                return Lethal(time.monotonic(), started, index, Fault.DEAD)
            except CellTimeoutError:
                self._timed_out = True
            if self._timed_out:
                return Lethal(time.monotonic(), started, index, Fault.TIMEOUT)
        if deaths and started:
            if not self._survives(self._watch_end(started, deaths)):
                return Lethal(time.monotonic(), started, None, Fault.DEAD)
            for index in started:  # cleared: a later death in this kernel's life is not theirs (it came after their watch)
                self._ran_at.pop(index, None)
        return None

    def _find_culprit(self, failed: Lethal) -> None:
        """After a replay died: the first replayed cell that kills a fresh kernel with those before it is marked and left out.

        Bisection over the cells replayed before the death, each probe a fresh kernel replaying a prefix and
        watched; without time or a kernel left for it, nothing is blamed (the caller stops or restarts).
        """
        candidates = [index for index in self._replayable if index in failed.started]
        low, high, last = 0, len(candidates) - 1, failed  # invariant: replaying candidates[: high + 1] kills a kernel
        deaths = [failed]
        while low < high:
            if self._remaining() <= 0 or not self._fresh_kernel():
                return
            middle = (low + high) // 2
            probe = self._replay(candidates[: middle + 1], deaths)
            if probe is None:
                low = middle + 1
            else:
                high, last = (middle if probe.cell is None else candidates.index(probe.cell)), probe
                deaths.append(probe)
        culprit = candidates[high]
        fault = last.fault if last.cell == culprit else Fault.DELAYED
        self.log.info("Replayed cell %s kills a fresh kernel on its own (%s): left out of replays", culprit, fault)
        self._leave_out(culprit, fault)
        self._blamed.append(culprit)

    def _leave_out(self, index: int, fault: str) -> None:
        """A replayed cell that faults on its own: marked, and never replayed again."""
        self._replayable.remove(index)
        self._mark(self.nb.cells[index], fault)

    def _watch_end(self, started: dict[int, float], deaths: list[Lethal]) -> float:
        """Until when a replay must be watched: each replayed cell as long as it had run before a death, and some.

        A cell that kills the kernel later does it within the time it ran before each death it caused, so the
        shortest of those bounds it.
        """
        ends = []
        for index, at in started.items():
            delays = [death.at - death.started[index] for death in deaths if index in death.started]
            if delays:
                ends.append(at + self._allowance(min(delays)))
        return max(ends, default=0.0)

    def _allowance(self, seconds: float) -> float:
        return min(seconds * (1 + WATCH_SLACK_RATIO) + WATCH_SLACK_S, self.death_horizon)

    def _survives(self, until: float) -> bool:
        """Whether the kernel stays alive until then (never past the notebook's deadline) and answers a request after."""
        end = min(until, self._started + self.notebook_timeout)
        while time.monotonic() < end:
            if not self._answers():
                return False
            time.sleep(WATCH_POLL_S)
        return self._answers()

    async def _async_kernel_alive(self) -> bool:
        return bool(await ensure_async(self.km.is_alive()))

    async def _async_answers(self) -> bool:
        """Whether the kernel answers a request that does nothing, and is still alive after answering."""
        msg_id = self.kc.execute("pass", silent=True, store_history=False)
        end = time.monotonic() + ANSWER_S
        while time.monotonic() < end:
            try:
                reply = await ensure_async(self.kc.shell_channel.get_msg(timeout=WATCH_POLL_S))
            except Empty:
                if not await self._async_kernel_alive():
                    return False
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return await self._async_kernel_alive()
        return False  # alive but deaf: no kernel to go on with either

    _answers = run_sync(_async_answers)

    def _death_cause(self) -> str:
        return Fault.OOM if getattr(self.km, "oom_killed", False) else Fault.DEAD

    def _mark(self, cell: NotebookNode, fault: str) -> None:
        """Record the fault on the cell and show it to the student as an error output."""
        text = self._describe(fault)
        cell.metadata[FAULT_KEY] = {"fault": fault, "message": text}
        cell.outputs = [*cell.get("outputs", []), new_output("error", ename="CellFault", evalue=text, traceback=[text])]

    def _describe(self, fault: str) -> str:
        return {
            Fault.TIMEOUT: msg.FAULT_TIMEOUT.format(seconds=self.timeout or 0),
            Fault.DEAD: msg.FAULT_DEAD,
            Fault.OOM: msg.FAULT_OOM,
            Fault.DEADLINE: msg.FAULT_DEADLINE.format(seconds=self.notebook_timeout),
            Fault.GAVE_UP: msg.FAULT_GAVE_UP.format(count=self._restarts),
            Fault.DELAYED: msg.FAULT_DELAYED,
        }[fault]

    def _remaining(self) -> float:
        return self.notebook_timeout - (time.monotonic() - self._started)

    # -- nbclient hooks ----------------------------------------------------------------
    def _get_timeout(self, cell: NotebookNode | None) -> int | None:
        """The cell's own limit, cut to what is left of the notebook's; rounded up, so a cell cut short ends past the deadline.

        (Rounded down, a cell that ran to its cut could end a fraction of a second before the deadline,
        and the next cell would start with a whole second of budget the notebook did not have.)
        """
        timeout = super()._get_timeout(cell)
        remaining = max(1, math.ceil(self._remaining()))
        return remaining if timeout is None else min(timeout, remaining)

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None) -> None | dict[str, Any]:
        self._timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    def on_cell_executed(self, **kwargs: Any) -> None:
        reply = kwargs["execute_reply"]
        content = reply.setdefault("content", {}) if isinstance(reply, dict) else {}
        if content.get("status") == "error":  # nbgrader's handler needs these fields; a hostile kernel may omit them
            content.setdefault("ename", "Error")
            content.setdefault("evalue", "")
            content.setdefault("traceback", [])
        super().on_cell_executed(**kwargs)

    def _update_display_id(self, display_id: str, msg_: dict[str, Any]) -> None:
        """Outputs are never rewritten after the fact: an update could swap data into any earlier cell."""

    def clear_output(self, outs: list[NotebookNode], msg_: dict[str, Any], cell_index: int) -> None:
        """Clearing a cell keeps its probe records: they are the grader's, not the student's, to remove."""
        records = [o for o in outs if _is_record(o)]
        super().clear_output(outs, msg_, cell_index)
        outs.extend(o for o in records if o not in outs)

    def output(self, outs: list[NotebookNode], msg_: dict[str, Any], display_id: str | None, cell_index: int):
        """Keep output up to the cell's budget; past it, drop everything but one note saying so."""
        if self.clear_before_next_output:  # a delayed clear_output(wait=True): keep the records it would drop
            outs[:] = [o for o in outs if _is_record(o)]
            self.clear_before_next_output = False
        display_id = None  # no output of this run is ever updated later (see _update_display_id)
        size = _size(msg_.get("content", {}))
        used = self._sizes.get(cell_index, 0)
        self._sizes[cell_index] = used + size
        if _is_probe(msg_) and size <= MAX_PROBE_BYTES and self._probes.get(cell_index, 0) < MAX_PROBES_PER_CELL:
            self._probes[cell_index] = self._probes.get(cell_index, 0) + 1
            self._sizes[cell_index] = used
            record = _record_output(msg_)
            if record is None:
                return super().output(outs, msg_, display_id, cell_index)
            outs.append(record)
            return record
        if used + size <= self.max_output_bytes:
            return super().output(outs, msg_, display_id, cell_index)
        if used <= self.max_output_bytes:
            note = msg.OUTPUT_TRUNCATED.format(limit=f"{self.max_output_bytes // 1024} KiB")
            outs.append(new_output("stream", name="stdout", text=note))
        return None


def _awaited_started(batch: CellBatch) -> bool:
    """Whether the awaited batched cell had started: then a timeout is its own (the runner starts a cell only once
    the previous one's end has left the kernel, and a live kernel delivers what it sent)."""
    return batch.awaited is not None and batch.awaited.started


def _is_test(cell: NotebookNode) -> bool:
    """Instructor test cells: graded, not an answer. They are not replayed after a restart."""
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def _is_record(output: NotebookNode) -> bool:
    """An output already in a cell that carries a probe record."""
    data = output.get("data", {})
    return isinstance(data, dict) and PROBE_MIME in data


def _record_output(message: dict[str, Any]) -> NotebookNode | None:
    """The stub's record as a display output, built as nbformat would but without its per-output schema check; None
    for any other shape (nbclient's own path then checks it).

    The record is JSON of any form under a JSON mime type, so that check only walks the schema; with the copy of its
    data into notebook nodes it cost 0.29 ms of the grader's CPU per record, 22 per notebook (0.002 ms here). Verify
    takes every record out again, and the notebook handed back is checked whole. Its data stays as the kernel sent it.
    """
    content = message.get("content")
    data, metadata = (content.get("data"), content.get("metadata", {})) if isinstance(content, dict) else (None, None)
    if (
        message.get("msg_type") != "display_data"
        or not isinstance(data, dict)
        or not isinstance(metadata, dict)
        or not set(data) <= {PROBE_MIME, "text/plain"}
        or not isinstance(data.get("text/plain", ""), str)
    ):
        return None
    return NotebookNode(output_type="display_data", data=NotebookNode(data), metadata=NotebookNode(metadata))


def _is_probe(message: dict[str, Any]) -> bool:
    data = message.get("content", {}).get("data", {})
    return isinstance(data, dict) and PROBE_MIME in data


def _size(content: Any) -> int:
    """Roughly how many characters an output message carries (any JSON a kernel sends)."""
    if not isinstance(content, dict):
        return len(str(content))
    if "text" in content:
        return len(str(content.get("text") or ""))
    data = content.get("data") or {}
    return sum(len(str(value)) for value in data.values()) if isinstance(data, dict) else len(str(data))
