"""Merging the passes into one record, and the markdown table made from it.

The table has one row per side of every benchmark and, for each allocator pass, the median time
per call, the interquartile range (IQR = q3 - q1), the number of samples (times calls per
sample) and the ratio to the benchmark's limit (its baseline side, e.g. hand-written NumPy);
its notes give each side's minor page faults per call (median and range over the samples) where
there were any.
A second table lists every target ratio an issue names beside the measured one.
"""

from __future__ import annotations

__all__ = ["merge", "markdown"]


def merge(passes: dict, meta: dict) -> dict:
    """One record from the workers' JSON (``passes``: label -> worker result).

    The first pass ran every selected benchmark; a later pass may have run only some of them
    (the tuned-allocator pass re-runs only workloads with large arrays): a benchmark's
    ``passes_run`` lists the passes that timed it.
    """
    labels = list(passes)
    by_name = {label: {bench["name"]: bench for bench in passes[label]["benchmarks"]}
               for label in labels}
    benchmarks = []
    for bench in passes[labels[0]]["benchmarks"]:
        ran = [label for label in labels if bench["name"] in by_name[label]]
        per_pass = {label: by_name[label][bench["name"]] for label in ran}
        sides = []
        for position, side in enumerate(bench["sides"]):
            sides.append({
                "label": side["label"], "library": side["library"], "note": side["note"],
                "passes": {label: per_pass[label]["sides"][position] for label in ran},
            })
        ratios = []
        for position, ratio in enumerate(bench["ratios"]):
            entry = {key: ratio[key] for key in ("numerator", "denominator", "target", "slack",
                                                  "metric", "source")}
            entry["passes"] = {label: {key: per_pass[label]["ratios"][position][key]
                                       for key in ("value", "met")} for label in ran}
            ratios.append(entry)
        benchmarks.append({key: bench[key] for key in ("name", "workload", "issue",
                                                        "description", "baseline", "isolation")}
                          | {"passes_run": ran, "sides": sides, "ratios": ratios})
    described = {label: {key: value for key, value in result.items() if key != "benchmarks"}
                 for label, result in passes.items()}
    return {"meta": meta, "passes": described, "benchmarks": benchmarks}


# ----------------------------------------------------------------------------------------------
# formatting
# ----------------------------------------------------------------------------------------------


def _time(seconds) -> str:
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _ratio(value) -> str:
    return "—" if value is None else f"{value:.3g}×"


def _count(record) -> str:
    if "n" not in record:
        return ""
    return f"{record['n']}×{record['number']}" if record["number"] > 1 else str(record["n"])


def _info(info: dict) -> str:
    shown = []
    for key, value in info.items():
        if isinstance(value, float):
            value = f"{value:.3g}"
        shown.append(f"{key}={value}")
    return ", ".join(shown)


def _notes(side, labels) -> str:
    parts = []
    first = side["passes"][labels[0]]
    if first["status"] != "ok":
        parts.append(f"**{first['status']}**" + (f": {first['detail']}" if first["detail"] else ""))
    for label in labels[1:]:
        other = side["passes"].get(label)
        if other is not None and other["status"] != first["status"]:
            parts.append(f"{label}: **{other['status']}** {other['detail']}".rstrip())
    if first["info"]:
        parts.append(_info(first["info"]))
    for label in labels:
        faults = side["passes"].get(label, {}).get("faults")
        if faults and faults["max"] >= 1:
            where = f" ({label})" if len(labels) > 1 else ""
            parts.append(f"page faults/call{where}: median {faults['median']:.0f}, "
                         f"{faults['min']:.0f}–{faults['max']:.0f}")
    if side["note"]:
        parts.append(side["note"])
    return "; ".join(parts).replace("|", "\\|")


def _results_table(record, labels) -> list[str]:
    header = ["benchmark", "side"]
    for label in labels:
        header += [f"{label}: median", "IQR", "n", "× limit"]
    header.append("notes")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for bench in record["benchmarks"]:
        baseline = next((s for s in bench["sides"] if s["label"] == bench["baseline"]), None)
        for row, side in enumerate(bench["sides"]):
            cells = [f"**{bench['name']}**" if row == 0 else "", side["label"]]
            for label in labels:
                if label not in bench["passes_run"]:
                    cells += ["not re-run" if row == 0 else "", "", "", ""]
                    continue
                stats = side["passes"][label]
                limit = baseline["passes"][label].get("median") if baseline else None
                median = stats.get("median")
                iqr = stats["q3"] - stats["q1"] if stats.get("n", 0) > 1 else None
                ratio = median / limit if median is not None and limit else None
                mark = " (limit)" if side is baseline and median is not None else ""
                cells += [_time(median), _time(iqr) if iqr is not None else "—",
                          _count(stats), _ratio(ratio) + mark]
            cells.append(_notes(side, labels))
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _target_text(ratio) -> str:
    text = f"≤ {ratio['target']:g}×"
    if ratio["slack"]:
        text += f" + {_time(ratio['slack'])}"
    if ratio["metric"] != "time":
        text += f" ({ratio['metric']})"
    return text


def _met(met) -> str:
    return "—" if met is None else ("yes" if met else "**NO**")


def _targets_table(record, labels) -> list[str]:
    header = ["source", "benchmark", "ratio", "target"]
    for label in labels:
        header += [label, "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for bench in record["benchmarks"]:
        for ratio in bench["ratios"]:
            if ratio["target"] is None:
                continue
            cells = [ratio["source"], bench["name"],
                     f"{ratio['numerator']} / {ratio['denominator']}", _target_text(ratio)]
            for label in labels:
                measured = ratio["passes"].get(label, {"value": None, "met": None})
                cells += [_ratio(measured["value"]), _met(measured["met"])]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _other_ratios(record, labels) -> list[str]:
    header = ["benchmark", "ratio"] + labels
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for bench in record["benchmarks"]:
        for ratio in bench["ratios"]:
            if ratio["target"] is not None:
                continue
            label = f"{ratio['numerator']} / {ratio['denominator']}"
            if ratio["metric"] != "time":
                label += f" ({ratio['metric']})"
            cells = [bench["name"], label]
            cells += [_ratio(ratio["passes"][p]["value"]) if p in ratio["passes"] else "—"
                      for p in labels]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _environment(record, labels) -> list[str]:
    meta = record["meta"]
    lines = [f"- command: `{meta['command']}`",
             f"- git: {meta['git']}; started {meta['started']}",
             f"- Python {record['passes'][labels[0]]['python']} on "
             f"{record['passes'][labels[0]]['platform']}, {meta['cpus']} CPUs ({meta['cpu']})",
             "- versions: " + ", ".join(f"{k} {v or 'not installed'}"
                                        for k, v in meta["versions"].items())]
    for label in labels:
        result = record["passes"][label]
        env = ", ".join(f"{k}={v}" for k, v in result["environment"].items() if v is not None)
        lines.append(f"- pass **{label}**: {env or 'no allocator/BLAS variables set'}; "
                     f"{result['seconds']:.0f} s; load average "
                     f"{result['load_average']['before'][0]:.2f} -> "
                     f"{result['load_average']['after'][0]:.2f}")
        for library, blas in result["blas"].items():
            lines.append(f"  - {library} process: {_blas(blas)}")
    return lines


def _blas(report: dict) -> str:
    """One library process's BLAS/OpenMP pools (threadpoolctl) and torch/JAX settings."""
    if "error" in report:
        return report["error"]
    parts = [f"{pool.get('internal_api')} {pool.get('version') or ''} kernel "
             f"{pool.get('architecture', 'n/a')}, {pool.get('num_threads')} threads "
             f"({pool.get('filepath', '').rsplit('/', 1)[-1]})"
             for pool in report.get("threadpools", [])]
    parts += [f"{library}: {_info(report[library])}" for library in ("torch", "jax")
              if library in report]
    if "threadpoolctl" in report:
        parts.append(f"threadpoolctl {report['threadpoolctl']}")
    return "; ".join(parts) or "no BLAS loaded"


def _processes(record) -> str:
    modes = {bench["isolation"] for bench in record["benchmarks"]}
    if modes == {"pass"}:
        return "Processes: one for all workloads and sides."
    per_library = sorted({bench["workload"] for bench in record["benchmarks"]
                          if bench["isolation"] == "library"})
    return ("Processes: each workload in fresh ones, one per library for "
            + (", ".join(per_library) or "none") + ", one for all sides of the others.")


def markdown(record: dict) -> str:
    labels = list(record["passes"])
    settings = record["passes"][labels[0]]["settings"]
    out = [f"# autodiff benchmarks: {record['meta']['started']}", ""]
    out += _environment(record, labels)
    out += ["", "## Medians and ratios", "",
            "Time per call: median and interquartile range over n samples (× calls per sample), "
            "sides interleaved round by round; `× limit` is the median over that of the "
            "benchmark's limit (the row marked so), in the same pass. *not re-run*: the workload "
            "allocates no array above glibc's 128 kB mmap threshold, so only the first pass "
            "timed it. Sampling: "
            f"min {settings['min_repeats']} samples of >= {_time(settings['min_sample'])}, "
            f"{settings['heavy_repeats']} of one call for calls over {_time(settings['heavy'])}; "
            "the warm-up call is never timed. " + _processes(record), ""]
    out += _results_table(record, labels)
    out += ["", "## Targets named by the issues", ""]
    out += _targets_table(record, labels)
    out += ["", "## Other ratios", ""]
    out += _other_ratios(record, labels)
    return "\n".join(out) + "\n"
