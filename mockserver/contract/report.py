"""What a `mockserver contract` run found, per operation: collected from schemathesis's engine events,
shown as progress lines and a summary table, written as JUnit XML and JSON.

Per operation, each test phase that ran on it (examples, coverage, fuzzing, stateful) counts once
as passed, failed, errored or skipped; the requests sent and the failures found (by check, with the
first failing request as a curl command) are kept beside. An operation the run left out on purpose
(destructive, or one the chosen credentials cannot call) is skipped as a whole, with the reason.
"""

from __future__ import annotations

import json
import typing as t
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from schemathesis.engine import Status, events
from schemathesis.engine.run import PhaseName

PASSED, FAILED, ERRORED, SKIPPED = "passed", "failed", "errored", "skipped"
# Merging two outcomes of one phase (a phase can report an operation more than once): the worse wins.
_RANK = {SKIPPED: 0, PASSED: 1, ERRORED: 2, FAILED: 3}
_FROM_STATUS = {Status.SUCCESS: PASSED, Status.FAILURE: FAILED, Status.ERROR: ERRORED,
                Status.INTERRUPTED: ERRORED, Status.SKIP: SKIPPED}
UNIT_PHASES = (PhaseName.EXAMPLES, PhaseName.COVERAGE, PhaseName.FUZZING)


@dataclass
class Failure:
    check: str
    title: str
    message: str
    phase: str
    status_code: int | None
    curl: str

    def as_dict(self) -> dict[str, t.Any]:
        return {"check": self.check, "title": self.title, "message": self.message, "phase": self.phase,
                "status_code": self.status_code, "curl": self.curl}


@dataclass
class Operation:
    method: str
    path: str
    operation_id: str | None
    skip_reason: str | None = None  # the whole operation was left out
    phases: dict[str, str] = field(default_factory=dict)  # phase -> passed/failed/errored/skipped
    skip_reasons: dict[str, str] = field(default_factory=dict)  # phase -> why it skipped
    requests: int = 0
    failed_requests: int = 0
    elapsed: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    announced: bool = False

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def name(self) -> str:
        return self.operation_id or self.label

    @property
    def status(self) -> str:
        if self.skip_reason is not None:
            return SKIPPED
        outcomes = set(self.phases.values())
        if self.failures or FAILED in outcomes:
            return FAILED
        if self.errors or ERRORED in outcomes:
            return ERRORED
        if PASSED in outcomes:
            return PASSED
        return SKIPPED

    def count(self, outcome: str) -> int:
        if self.skip_reason is not None:
            return 1 if outcome == SKIPPED else 0
        return sum(1 for value in self.phases.values() if value == outcome)

    def set_phase(self, phase: str, outcome: str, skip_reason: str | None = None) -> None:
        current = self.phases.get(phase)
        if current is None or _RANK[outcome] > _RANK[current]:
            self.phases[phase] = outcome
        if outcome == SKIPPED and skip_reason:
            self.skip_reasons.setdefault(phase, skip_reason)

    def add_failure(self, failure: Failure) -> None:
        key = (failure.check, failure.title, failure.message)
        if all((f.check, f.title, f.message) != key for f in self.failures):
            self.failures.append(failure)

    @property
    def checks_failed(self) -> list[str]:
        return list(dict.fromkeys(f.check for f in self.failures))

    def as_dict(self) -> dict[str, t.Any]:
        return {
            "operation_id": self.operation_id, "method": self.method, "path": self.path, "status": self.status,
            "skip_reason": self.skip_reason,
            "phases": {phase: {"status": outcome, **({"reason": self.skip_reasons[phase]}
                                                     if phase in self.skip_reasons else {})}
                       for phase, outcome in self.phases.items()},
            "counts": {o: self.count(o) for o in (PASSED, FAILED, ERRORED, SKIPPED)},
            "requests": self.requests, "failed_requests": self.failed_requests,
            "elapsed_seconds": round(self.elapsed, 3),
            "checks_failed": self.checks_failed,
            "failures": [f.as_dict() for f in self.failures],
            "errors": list(self.errors),
        }


@dataclass
class Report:
    api: str
    target: str  # the base URL, or "in-process mock"
    spec: str
    seed: int
    max_examples: int
    stateful: bool
    operations: dict[str, Operation]  # by label, in spec order
    run_errors: list[str] = field(default_factory=list)
    run_failures: list[str] = field(default_factory=list)
    duration: float = 0.0

    @property
    def passed(self) -> bool:
        return (not self.run_errors and not self.run_failures
                and all(op.status in (PASSED, SKIPPED) for op in self.operations.values()))

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def totals(self) -> dict[str, int]:
        """Operations by outcome; `left_out` of the skipped ones were left out on purpose."""
        statuses = [op.status for op in self.operations.values()]
        left_out = sum(1 for op in self.operations.values() if op.skip_reason is not None)
        return {"operations": len(statuses), **{s: statuses.count(s) for s in (PASSED, FAILED, ERRORED, SKIPPED)},
                "left_out": left_out}

    def as_dict(self) -> dict[str, t.Any]:
        return {
            "api": self.api, "target": self.target, "spec": self.spec, "seed": self.seed,
            "max_examples": self.max_examples, "stateful": self.stateful,
            "status": PASSED if self.passed else FAILED, "exit_code": self.exit_code,
            "duration_seconds": round(self.duration, 3), "totals": self.totals(),
            "operations": [op.as_dict() for op in self.operations.values()],
            "run_errors": list(self.run_errors), "run_failures": list(self.run_failures),
        }


# ------------------------------------------------------------------------------ collecting events

class Collector:
    """Folds engine events into the report; `handle` returns the operations that just finished."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def _operation(self, label: str | None) -> Operation | None:
        return self.report.operations.get(label) if label else None

    def handle(self, event: events.EngineEvent) -> list[tuple[str, Operation]]:
        if isinstance(event, events.ScenarioFinished):
            return self._scenario(event)
        if isinstance(event, events.PhaseFinished):
            if event.phase.name == PhaseName.FUZZING:
                return self._announce_rest("unit")
            if event.phase.name == PhaseName.STATEFUL_TESTING and event.phase.is_enabled:
                return [("stateful", op) for op in self.report.operations.values() if "stateful" in op.phases]
            return []
        if isinstance(event, events.NonFatalError):
            text = _one_paragraph(event.info.format(base_url_is_set=True))
            operation = self._operation(event.label) if event.related_to_operation else None
            if operation is not None:
                if text not in operation.errors:
                    operation.errors.append(text)
                if event.phase is not None:
                    operation.set_phase(event.phase.value, ERRORED)
            elif f"{event.label}: {text}" not in self.report.run_errors:
                self.report.run_errors.append(f"{event.label}: {text}")
            return []
        if isinstance(event, events.FatalError):
            self.report.run_errors.append(f"fatal: {type(event.exception).__name__}: {event.exception}")
            return self._announce_rest("unit")
        if isinstance(event, events.Interrupted):
            self.report.run_errors.append("interrupted")
            return []
        if isinstance(event, events.EngineFinished):
            self.report.run_failures.extend(f"{f.title}: {f.message}" for f in event.failures)
            return self._announce_rest("unit")
        return []

    def _announce_rest(self, kind: str) -> list[tuple[str, Operation]]:
        done = []
        for op in self.report.operations.values():
            if not op.announced:
                op.announced = True
                done.append((kind, op))
        return done

    def _scenario(self, event: events.ScenarioFinished) -> list[tuple[str, Operation]]:
        phase = event.phase.value
        recorder = event.recorder
        failing = set(recorder.failing_case_ids())
        # Requests and failures, attributed to the operation each case called (one per unit scenario,
        # several per stateful one).
        touched: dict[str, bool] = {}
        for case_id, node in recorder.cases.items():
            operation = self._operation(node.value.operation.label)
            if operation is None:
                continue
            interaction = recorder.interactions.get(case_id)
            if interaction is not None:
                operation.requests += 1
            touched.setdefault(operation.label, False)
            if case_id in failing:
                operation.failed_requests += 1
                touched[operation.label] = True
                response = interaction.response if interaction is not None else None
                for check in recorder.checks.get(case_id, []):
                    info = check.failure_info
                    if info is None:
                        continue
                    operation.add_failure(Failure(
                        check=check.name, title=info.failure.title, message=info.failure.message.strip(),
                        phase=phase, status_code=response.status_code if response is not None else None,
                        curl=info.code_sample))
        if event.phase == PhaseName.STATEFUL_TESTING:
            for label, failed in touched.items():
                outcome = FAILED if failed else (ERRORED if event.status == Status.ERROR else PASSED)
                self.report.operations[label].set_phase("stateful", outcome)
            return []
        operation = self._operation(event.label)
        if operation is None:
            return []
        operation.elapsed += event.elapsed_time
        outcome = _FROM_STATUS.get(event.status, ERRORED)
        if outcome == ERRORED and not operation.errors:
            operation.errors.append(f"{phase}: {event.status.value}")
        operation.set_phase(phase, outcome, event.skip_reason)
        if event.phase == PhaseName.FUZZING and not operation.announced:
            operation.announced = True
            return [("unit", operation)]
        return []


def _one_paragraph(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines() if line.strip())


# ------------------------------------------------------------------------------ text output

_MARK = {PASSED: "ok", FAILED: "FAIL", ERRORED: "ERROR", SKIPPED: "skip"}


def progress_line(kind: str, op: Operation) -> str:
    """`  ok    GET /chutes/  [list_chutes_chutes__get]  104 requests` once an operation's unit phases
    are done; `stateful` lines after the stateful phase for each operation it called."""
    if op.skip_reason is not None:
        outcome, detail = SKIPPED, op.skip_reason
    elif kind == "stateful":
        outcome, detail = op.phases.get("stateful", SKIPPED), "stateful phase"
    else:
        outcome = _worst(op.phases.get(p.value, SKIPPED) for p in UNIT_PHASES)
        detail = f"{op.requests} requests"
    if outcome == FAILED:
        detail += ": " + ", ".join(op.checks_failed)
    elif outcome == ERRORED and op.errors:
        detail += ": " + _brief(op.errors[0], 160)
    name = f"  [{op.operation_id}]" if op.operation_id else ""
    return f"  {_MARK[outcome]:<5} {op.label}{name}  {detail}"


def _brief(text: str, limit: int = 300) -> str:
    """An error's first lines on one line (its title alone, e.g. `Network Error`, says little)."""
    return " / ".join(line.strip() for line in text.splitlines()[:3] if line.strip())[:limit]


def _worst(outcomes: t.Iterable[str]) -> str:
    values = list(outcomes)
    return max(values, key=lambda o: _RANK[o]) if values else SKIPPED


def summary(report: Report) -> str:
    lines = ["", f"Summary: {report.api} against {report.target} (seed {report.seed}, "
                 f"{report.max_examples} examples per operation{', stateful' if report.stateful else ''})"]
    width = max([len("operation"), *(len(op.label) for op in report.operations.values())])
    header = (f"  {'operation':<{width}} {'result':<8} {'passed':>6} {'failed':>6} {'errored':>7} {'skipped':>7} "
              f"{'requests':>8}")
    lines += [header, "  " + "-" * (len(header) - 2)]
    for op in report.operations.values():
        lines.append(f"  {op.label:<{width}} {op.status:<8} {op.count(PASSED):>6} {op.count(FAILED):>6} "
                     f"{op.count(ERRORED):>7} {op.count(SKIPPED):>7} {op.requests:>8}")
    lines.append("  (passed / failed / errored / skipped count test phases per operation: examples, coverage, "
                 "fuzzing, stateful)")
    skipped = [op for op in report.operations.values() if op.skip_reason]
    if skipped:
        lines += ["", "Skipped operations:"]
        lines += [f"  {op.label} ({op.name}): {op.skip_reason}" for op in skipped]
    broken = [op for op in report.operations.values() if op.status in (FAILED, ERRORED)]
    for op in broken:
        lines += ["", f"{op.status.upper()}: {op.label} ({op.name})"]
        for failure in op.failures:
            status = f", answered {failure.status_code}" if failure.status_code is not None else ""
            lines.append(f"  - {failure.check}: {failure.title} ({failure.phase}{status})")
            lines += [f"      {line}" for line in [ln for ln in failure.message.splitlines() if ln.strip()][:6]]
        for error in op.errors:
            lines += [f"  - error: {_brief(error)}"]
        if op.failures:
            lines += ["  first failing request:", *(f"    {line}" for line in op.failures[0].curl.splitlines())]
    if report.run_failures or report.run_errors:
        lines += ["", "Run-level problems:"]
        lines += [f"  - {_brief(text)}" for text in report.run_failures + report.run_errors]
    lines += ["", f"{'PASSED' if report.passed else 'FAILED'}: {footer_counts(report)} in {report.duration:.1f}s"]
    return "\n".join(lines)


def footer_counts(report: Report) -> str:
    """Operations by outcome, out of the same total as the header's "operations selected" (those
    left out on purpose count as skipped, and are said apart)."""
    totals = report.totals()
    return (f"{totals['operations']} operations selected: {totals[PASSED]} passed, {totals[FAILED]} failed, "
            f"{totals[ERRORED]} errored, {totals[SKIPPED]} skipped ({totals['left_out']} left out on purpose)")


# ------------------------------------------------------------------------------ files

def write_json(report: Report, path: Path) -> None:
    path.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")


def write_junit(report: Report, path: Path) -> None:
    """One test case per operation (classname: the API; name: `METHOD /path`); a `failure` per
    distinct check failure, an `error` per error, `skipped` for an operation left out."""
    totals = report.totals()
    suite = ET.Element("testsuite", {
        "name": f"mockserver contract {report.api}", "tests": str(totals["operations"]),
        "failures": str(totals[FAILED]), "errors": str(totals[ERRORED] + (1 if report.run_errors else 0)),
        "skipped": str(totals[SKIPPED]), "time": f"{report.duration:.3f}"})
    properties = ET.SubElement(suite, "properties")
    for name, value in (("target", report.target), ("spec", report.spec), ("seed", report.seed),
                        ("max_examples", report.max_examples), ("stateful", report.stateful)):
        ET.SubElement(properties, "property", {"name": name, "value": str(value)})
    for op in report.operations.values():
        case = ET.SubElement(suite, "testcase", {"classname": f"contract.{report.api}", "name": op.label,
                                                 "time": f"{op.elapsed:.3f}"})
        if op.operation_id:
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", {"name": "operationId", "value": op.operation_id})
        if op.status == SKIPPED:
            reason = op.skip_reason or "; ".join(f"{p}: {r}" for p, r in op.skip_reasons.items()) or "not tested"
            ET.SubElement(case, "skipped", {"message": reason})
        for failure in op.failures:
            element = ET.SubElement(case, "failure", {"type": failure.check,
                                                      "message": f"{failure.check}: {failure.title}"})
            element.text = f"{failure.message}\n\nphase: {failure.phase}\nreproduce:\n{failure.curl}\n"
        for error in op.errors:
            element = ET.SubElement(case, "error", {"message": error.splitlines()[0][:300]})
            element.text = error
    if report.run_errors or report.run_failures:
        case = ET.SubElement(suite, "testcase", {"classname": f"contract.{report.api}", "name": "(run)", "time": "0"})
        for text in report.run_failures:
            ET.SubElement(case, "failure", {"message": text.splitlines()[0][:300]}).text = text
        for text in report.run_errors:
            ET.SubElement(case, "error", {"message": text.splitlines()[0][:300]}).text = text
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
