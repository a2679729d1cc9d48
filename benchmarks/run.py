"""Run every benchmark and print (or write into docs/performance.md) the results table.

    python -m uv run --group bench python benchmarks/run.py --write-docs

Each client runs in its own interpreter against :mod:`server` in another, so
neither one's CPU, threads or memory is billed to the other. Figures are
medians of repeated runs; every ratio compares two figures from this run.
``--smoke`` runs everything at toy sizes (the test suite uses it to check the
harness works; its timings mean nothing).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from server import ServerProcess, closed_port

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "performance.md"
START, END = "<!-- benchmarks:start (written by benchmarks/run.py) -->", "<!-- benchmarks:end -->"
FLOOR_MS = 200
UP_MS = 20
HANG_TIMEOUT = 1.0

FULL = {
    "fanout": [10, 100, 1000],
    "fanout_repeats": 5,
    "fanout_repeats_large": 3,
    "cpu": 10_000,
    "cpu_repeats": 3,
    "cold_repeats": 9,
    "outage": 100,
    "outage_hang_apprise": 10,
    "outage_repeats": 3,
    "memory": 10_000,
    "memory_repeats": 3,
}
SMOKE = {
    "fanout": [3],
    "fanout_repeats": 1,
    "fanout_repeats_large": 1,
    "cpu": 20,
    "cpu_repeats": 1,
    "cold_repeats": 1,
    "outage": 8,
    "outage_hang_apprise": 1,
    "outage_repeats": 1,
    "memory": 20,
    "memory_repeats": 1,
}


def have_apprise() -> bool:
    return importlib.util.find_spec("apprise") is not None


def child(
    script: str, *argv: str, python: str | None = None
) -> tuple[dict[str, Any], float, float]:
    """Run ``script`` in a fresh interpreter: (its JSON answer, wall seconds, peak RSS MB)."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            [python or sys.executable, str(HERE / script), *argv],
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        assert process.stdout is not None
        output = process.stdout.read()
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise RuntimeError(
                f"{script} {' '.join(argv)} failed:\n{errors.read().decode(errors='replace')}"
            )
    answer = json.loads(output.decode().strip().splitlines()[-1])
    return answer, wall, usage.ru_maxrss / 1024


def task(name: str, **args: Any) -> dict[str, Any]:
    answer, _wall, rss = child("clients.py", name, json.dumps(args))
    answer["rss_mb"] = rss
    return answer


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def clients() -> list[str]:
    return ["httpx", "unipost-memory", "unipost-sqlite", *(["apprise"] if have_apprise() else [])]


# -- the benchmarks ---------------------------------------------------------------------


def bench_fanout(server: ServerProcess, sizes: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for n in sizes["fanout"]:
        repeats = sizes["fanout_repeats"] if n < 1000 else sizes["fanout_repeats_large"]
        row: dict[str, Any] = {}
        for client in clients():
            before = server.count()
            answer = task(
                "fanout",
                n=n,
                base=server.url("").rstrip("/"),
                delay_ms=FLOOR_MS,
                repeats=repeats,
                client=client,
            )
            answer["requests_seen"] = server.count() - before
            answer["median"] = median(answer["times"])
            row[client] = answer
        results[str(n)] = row
    return results


def bench_cpu(server: ServerProcess, sizes: dict[str, Any]) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {client: [] for client in clients()}
    for _ in range(sizes["cpu_repeats"]):  # interleaved, so drift hits every client alike
        for client in clients():
            answer = task("cpu", client=client, n=sizes["cpu"], url=server.url("0/200/cpu"))
            answer["cpu_ms"] = answer["cpu"] / answer["n"] * 1000
            runs[client].append(answer)
    out: dict[str, Any] = {}
    for client, answers in runs.items():
        out[client] = {
            "runs": answers,
            "cpu_ms": median([a["cpu_ms"] for a in answers]),
            "per_s": median([a["n"] / a["wall"] for a in answers]),
            "ok": all(a["ok"] == a["n"] for a in answers),
        }
        if client != "httpx":
            out[client]["ratio"] = median(
                [a["cpu_ms"] / h["cpu_ms"] for a, h in zip(answers, runs["httpx"], strict=True)]
            )
    return out


def clean_venvs(folder: Path) -> dict[str, str]:
    """One fresh venv per library with only what a user would install, bytecode compiled.

    Compiling matters: with ``PYTHONDONTWRITEBYTECODE`` set (as on this machine)
    every import would otherwise be parsed from source on every start.
    """
    root = HERE.parent
    wanted = {
        "unipost": [str(root), *(str(p) for p in sorted((root / "plugins").glob("unipost-*")))],
        "apprise": [f"apprise=={importlib.metadata.version('apprise')}"],
    }
    base = getattr(sys, "_base_executable", sys.executable)
    found = os.environ.get("UV") or shutil.which("uv")
    uv = [found] if found else [base, "-m", "uv"]
    pythons = {}
    for name, packages in wanted.items():
        if name == "apprise" and not have_apprise():
            continue
        venv = folder / name
        subprocess.run([*uv, "venv", "-q", "--python", base, str(venv)], check=True)
        python = str(venv / "bin" / "python")
        subprocess.run(
            [*uv, "pip", "install", "-q", "--compile-bytecode", "--python", python, *packages],
            check=True,
        )
        pythons[name] = python
    return pythons


def bench_cold(sizes: dict[str, Any], pythons: dict[str, str]) -> dict[str, Any]:
    scripts = {"unipost": "cold_unipost.py"}
    if have_apprise():
        scripts["apprise"] = "cold_apprise.py"
    runs: dict[str, list[tuple[dict[str, Any], float, float]]] = {name: [] for name in scripts}
    for name, script in scripts.items():
        child(script, python=pythons.get(name))  # untimed: warms the page cache
    for _ in range(sizes["cold_repeats"]):
        for name, script in scripts.items():
            runs[name].append(child(script, python=pythons.get(name)))
    return {
        name: {
            "wall": median([r[1] for r in answers]),
            "rss_mb": median([r[2] for r in answers]),
            "channels": answers[0][0]["channels"],
            "modules": answers[0][0]["modules"],
            "environment": "clean venv" if name in pythons else "this venv",
        }
        for name, answers in runs.items()
    }


def _outage_stats(answer: dict[str, Any], up: dict[str, Any]) -> dict[str, Any]:
    times, up_mean = answer["times"], statistics.fmean(up["times"])
    start = answer["open_from"] if answer["open_from"] is not None else 0
    steady = times[start:] or times
    return {
        "total": sum(times),
        "up_total": sum(up["times"]),
        "steady_ms": statistics.fmean(steady) * 1000,
        "up_ms": up_mean * 1000,
        "ratio": statistics.fmean(steady) / up_mean,
        "open_from": answer["open_from"],
        "delivered": answer["delivered"],
        "n": len(times),
    }


def bench_outage(
    server: ServerProcess, hang: ServerProcess, sizes: dict[str, Any]
) -> dict[str, Any]:
    up_url = server.url(f"{UP_MS}/200/up")
    downs = {
        "refused": f"http://{hang.host}:{closed_port(hang.host)}/refused",
        "hang": hang.url("hang/down"),
    }
    out: dict[str, Any] = {}
    names = ["unipost", *(["apprise"] if have_apprise() else [])]
    for mode, down in downs.items():
        for name in names:
            n = sizes["outage"]
            if name == "apprise" and mode == "hang":
                n = sizes["outage_hang_apprise"]
                down += f"?rto={HANG_TIMEOUT}"
            stats = []
            for _ in range(sizes["outage_repeats"]):
                common = {"client": name, "up": up_url, "n": n, "store": "memory"}
                up = task("outage", down=None, patience=HANG_TIMEOUT, **common)
                answer = task("outage", down=down, patience=HANG_TIMEOUT, **common)
                stats.append(_outage_stats(answer, up))
            out[f"{mode}/{name}"] = {
                "runs": stats,
                **{
                    key: median([s[key] for s in stats])
                    for key in ("total", "up_total", "steady_ms", "up_ms", "ratio")
                },
                "open_from": [s["open_from"] for s in stats],
                "delivered": min(s["delivered"] for s in stats),
                "n": n,
            }
    return out


def bench_memory(server: ServerProcess, sizes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for store in ("memory", "sqlite"):
        runs = [
            task("memory", store=store, n=sizes["memory"], url=server.url("0/200/later"))
            for _ in range(sizes["memory_repeats"])
        ]
        out[store] = {
            "runs": runs,
            "peak_mb": median([r["peak"] for r in runs]),
            "delta_mb": median([r["after"] - r["before"] for r in runs]),
            "pending": min(r["pending"] for r in runs),
            "n": sizes["memory"],
        }
    return out


# -- the report ---------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(int(meminfo) / 2**20, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "os": platform.platform(),
        "load_before": os.getloadavg(),
        "versions": {name: version(name) for name in ("unipost", "httpx", "apprise")},
    }


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s"


def _ms(value: float) -> str:
    return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"


def _row(
    name: str, ours: str, ref: str, ratio: float | None, target: float | None, apprise: str
) -> str:
    met = "—" if target is None or ratio is None else ("yes" if ratio <= target else "**no**")
    shown_ratio = "—" if ratio is None else f"{ratio:.2f}×"
    shown_target = "—" if target is None else f"≤ {target:g}×"
    return f"| {name} | {ours} | {ref} | {shown_ratio} | {shown_target} | {met} | {apprise} |"


def render(results: dict[str, Any]) -> str:
    lines = [
        "| Benchmark | unipost | Reference | Ratio | Target | Met? | Apprise (same reference) |",
        "|---|---|---|---|---|---|---|",
    ]
    floor = FLOOR_MS / 1000
    fan = results["fanout"]
    for n, row in fan.items():
        apprise = row.get("apprise")
        for store in ("memory", "sqlite"):
            ours = row[f"unipost-{store}"]["median"]
            if int(n) < 1000:
                ref, ref_text, target = floor, f"200 ms floor ({_s(floor)})", 1.1
            else:
                ref = row["httpx"]["median"]
                ref_text, target = f"raw httpx fan-out, a client per endpoint ({_s(ref)})", 1.2
            shown = f"{_s(apprise['median'])} ({apprise['median'] / ref:.2f}×)" if apprise else "—"
            lines.append(
                _row(
                    f"Fan-out, {n} channels, {store} store",
                    _s(ours),
                    ref_text,
                    ours / ref,
                    target,
                    shown,
                )
            )
        httpx = row["httpx"]["median"]
        lines.append(
            _row(
                f"Fan-out, {n} channels: raw httpx",
                _s(httpx),
                "200 ms floor",
                httpx / floor,
                None,
                "—",
            )
        )
    cpu = results["cpu"]
    base = cpu["httpx"]["cpu_ms"]
    apprise_cpu = cpu.get("apprise")
    shown = f"{_ms(apprise_cpu['cpu_ms'])} ({apprise_cpu['ratio']:.2f}×)" if apprise_cpu else "—"
    for store, target in (("memory", 1.3), ("sqlite", 2.0)):
        entry = cpu[f"unipost-{store}"]
        lines.append(
            _row(
                f"CPU per delivery, {store} store",
                _ms(entry["cpu_ms"]),
                f"raw httpx keep-alive loop ({_ms(base)})",
                entry["ratio"],
                target,
                shown,
            )
        )
    cold = results["cold"]
    if "apprise" in cold:
        ours, theirs = cold["unipost"], cold["apprise"]
        lines.append(
            _row(
                "Cold start: wall time",
                _s(ours["wall"]),
                f"Apprise import + 10 add() ({_s(theirs['wall'])})",
                ours["wall"] / theirs["wall"],
                0.5,
                "(is the reference)",
            )
        )
        lines.append(
            _row(
                "Cold start: peak RSS",
                f"{ours['rss_mb']:.1f} MB",
                f"Apprise ({theirs['rss_mb']:.1f} MB)",
                ours["rss_mb"] / theirs["rss_mb"],
                0.5,
                "(is the reference)",
            )
        )
    else:
        lines.append(
            _row("Cold start", _s(cold["unipost"]["wall"]), "Apprise not installed", None, 0.5, "—")
        )
    outage = results["outage"]
    for mode, target, text in (
        ("refused", 1.1, "refuses connections"),
        ("hang", 1.2, "hangs"),
    ):
        ours = outage[f"{mode}/unipost"]
        theirs = outage.get(f"{mode}/apprise")
        shown = f"{_ms(theirs['steady_ms'])}/publish ({theirs['ratio']:.2f}×)" if theirs else "—"
        lines.append(
            _row(
                f"Outage: `down` {text}, breaker open",
                f"{_ms(ours['steady_ms'])}/publish",
                f"`up` alone ({_ms(ours['up_ms'])}/publish)",
                ours["ratio"],
                target,
                shown,
            )
        )
    for store, entry in results["memory"].items():
        per_record = entry["delta_mb"] * 1024 / entry["n"]
        lines.append(
            _row(
                f"Memory: {entry['n']:,} pending records, {store} store",
                f"+{entry['delta_mb']:.1f} MB ({per_record:.2f} KB/record), peak {entry['peak_mb']:.1f} MB",
                "the same process before enqueueing",
                None,
                None,
                "— (no queue)",
            )
        )
    return "\n".join(lines)


def details(results: dict[str, Any]) -> str:
    """The figures behind the table: every client, every size."""
    m = results["machine"]
    lines = [
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}, "
        f"{m['os']}; unipost {m['versions']['unipost']}, httpx {m['versions']['httpx']}, "
        f"apprise {m['versions']['apprise']}. Load average before/after the run: "
        f"{m['load_before'][0]:.2f} / {m['load_after'][0]:.2f}. Total run time "
        f"{results['seconds']:.0f} s.",
        "",
        f"Command: `{results['command']}`",
        "",
        "Fan-out (one publish, every endpoint answers after 200 ms; median wall time):",
        "",
        "| Channels | raw httpx | unipost, memory | unipost, SQLite | Apprise |",
        "|---|---|---|---|---|",
    ]
    for n, row in results["fanout"].items():
        cells = [
            _s(row[c]["median"]) if c in row else "—"
            for c in ("httpx", "unipost-memory", "unipost-sqlite", "apprise")
        ]
        lines.append(f"| {n} | {' | '.join(cells)} |")
    lines += [
        "",
        f"Per delivery ({results['sizes']['cpu']:,} sequential deliveries to an instant endpoint; "
        "client process CPU, all threads):",
        "",
        "| Client | CPU per delivery | Deliveries/s | Ratio to httpx |",
        "|---|---|---|---|",
    ]
    for client, entry in results["cpu"].items():
        ratio = f"{entry['ratio']:.2f}×" if "ratio" in entry else "1.00×"
        lines.append(f"| {client} | {_ms(entry['cpu_ms'])} | {entry['per_s']:.0f} | {ratio} |")
    lines += [
        "",
        "Cold start (fresh interpreter, each library in a clean venv of its own with compiled "
        "bytecode; median wall and peak RSS):",
        "",
        "| | Wall | Peak RSS | Modules loaded | Channels configured | Environment |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in results["cold"].items():
        lines.append(
            f"| {name} | {_s(entry['wall'])} | {entry['rss_mb']:.1f} MB | {entry['modules']} | "
            f"{entry['channels']} | {entry['environment']} |"
        )
    lines += [
        "",
        f"Outage (`up` answers after {UP_MS} ms; `down` on 127.0.0.2 refuses or hangs; "
        f"unipost `first_of('down', 'up', patience={HANG_TIMEOUT:g})`, Apprise priority groups "
        f"`1:pub`/`2:pub`, read timeout `rto={HANG_TIMEOUT:g}`):",
        "",
        "| Case | Publishes | Total | `up` alone, total | Per publish once open | `up` alone | Breaker open after |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, entry in results["outage"].items():
        opened = ", ".join("—" if o is None else str(o) for o in entry["open_from"])
        lines.append(
            f"| {key} | {entry['n']} | {_s(entry['total'])} | {_s(entry['up_total'])} | "
            f"{_ms(entry['steady_ms'])} | {_ms(entry['up_ms'])} | {opened} |"
        )
    return "\n".join(lines)


def write_docs(results: dict[str, Any]) -> None:
    block = f"{START}\n{render(results)}\n\n{details(results)}\n{END}"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="toy sizes: proves the harness runs")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    parser.add_argument(
        "--only", default="fanout,cpu,cold,outage,memory", help="comma-separated benchmarks"
    )
    parser.add_argument("--render", type=Path, help="re-render the table from a --json file")
    args = parser.parse_args(argv)
    if args.render:
        saved = json.loads(args.render.read_text())
        print(render(saved) + "\n\n" + details(saved))
        if args.write_docs:
            write_docs(saved)
        return
    sizes = SMOKE if args.smoke else FULL
    chosen = set(args.only.split(","))
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "sizes": sizes, "apprise": have_apprise()}
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = []
    with (
        ServerProcess() as server,
        ServerProcess(host="127.0.0.2") as hang,
        tempfile.TemporaryDirectory(prefix="unipost-bench-") as folder,
    ):
        # The smoke run checks the harness in this venv; a real run builds clean ones.
        pythons = {} if args.smoke or "cold" not in chosen else clean_venvs(Path(folder))
        steps = [
            ("fanout", lambda: bench_fanout(server, sizes)),
            ("cpu", lambda: bench_cpu(server, sizes)),
            ("cold", lambda: bench_cold(sizes, pythons)),
            ("outage", lambda: bench_outage(server, hang, sizes)),
            ("memory", lambda: bench_memory(server, sizes)),
        ]
        for name, step in steps:
            if name in chosen:
                began = time.perf_counter()
                results[name] = step()
                print(f"{name}: {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
    results["machine"]["load_after"] = os.getloadavg()
    results["seconds"] = time.perf_counter() - started
    results["command"] = "python -m uv run --group bench python benchmarks/run.py " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if chosen >= {"fanout", "cpu", "cold", "outage", "memory"}:
        print(render(results))
        print()
        print(details(results))
        if args.write_docs:
            write_docs(results)


if __name__ == "__main__":
    main()
