"""Phase 2's report: the backfill of this run per batch (slow batches flagged), per table, and
next to the unbatched baseline, with the batch engine's decisions; and its chart."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .mapping import PHASE

SLOW_BATCH_FRACTION = 0.25   # a batch below this share of the median rows/s is flagged


@dataclass
class Throughput:
    batches: pd.DataFrame        # one row per batch of this run, flagged 'slow' when far below the median
    per_table: pd.DataFrame
    summary: pd.DataFrame        # the figures a reviewer reads, with the baseline when measured
    decisions: pd.DataFrame      # what the batch engine decided and why
    figures: dict

    @property
    def slow(self) -> pd.DataFrame:
        return self.batches[self.batches["slow"]] if not self.batches.empty else self.batches


def throughput(ctx) -> Throughput:
    """The backfill of this run: per batch (rows/s, the engine's size decisions, slow batches
    flagged), per table, and the overall figures next to the unbatched baseline if measured."""
    empty = pd.DataFrame()
    if ctx.dry_run or not ctx.has_ledger:
        return Throughput(empty, empty, empty, empty, {})
    df = ctx.ledger.batches(PHASE, ctx.run_id)
    decisions = ctx.ledger.decisions(PHASE, ctx.run_id)
    if df.empty:
        return Throughput(df, empty, pd.DataFrame({"value": ["no backfill batch ran in this run "
                                                            "(already complete)"]}, index=["backfill"]),
                          decisions, {})
    df["table"] = df["job"].str.split(":", n=1).str[1]
    df["rows/s"] = (df["rows_read"] / df["seconds"].clip(lower=1e-6)).round(0)
    df["cumulative rows"] = df["rows_read"].cumsum()
    start = df["finished_at"].iloc[0] - pd.to_timedelta(df["seconds"].iloc[0], unit="s")
    df["elapsed s"] = (df["finished_at"] - start).dt.total_seconds().round(2)
    # a batch is judged by its rate only when it read a meaningful number of rows
    judged = df[df["rows_read"] >= 50]
    median = float(judged["rows/s"].median()) if not judged.empty else None
    p5 = float(judged["rows/s"].quantile(0.05)) if not judged.empty else None
    df["slow"] = (df["rows_read"] >= 50) & (df["rows/s"] < SLOW_BATCH_FRACTION * (median or 0))
    rows, batch_secs = int(df["rows_read"].sum()), float(df["seconds"].sum())
    wall = float(df["elapsed s"].iloc[-1]) or batch_secs
    figures = {"rows": rows, "batches": len(df), "wall_seconds": round(wall, 2), "batch_seconds": round(batch_secs, 2),
               "rows_per_s": round(rows / wall) if wall else None,
               "median_batch_rows_per_s": round(median) if median else None,
               "p5_batch_rows_per_s": round(p5) if p5 else None,
               "p5_over_median": round(p5 / median, 3) if median else None,
               "slow_batches": int(df["slow"].sum()), "throttled": int((decisions["decision"] == "throttle").sum())
               if not decisions.empty else 0}
    base = ctx.ledger.frame("SELECT value FROM cqms_migration.metrics WHERE phase = %s AND name = 'unbatched_baseline' "
                            "ORDER BY id DESC LIMIT 1", (PHASE,))
    if not base.empty:
        b = base["value"].iloc[0]
        figures["unbatched_rows_per_s"] = b.get("unbatched_rows_per_s")
        figures["raw_copy_rows_per_s"] = b.get("raw_copy_rows_per_s")
        if b.get("unbatched_rows_per_s") and figures["rows_per_s"]:
            figures["backfill_over_unbatched"] = round(figures["rows_per_s"] / b["unbatched_rows_per_s"], 3)
        if b.get("raw_copy_rows_per_s") and figures["rows_per_s"]:
            figures["raw_copy_factor"] = round(b["raw_copy_rows_per_s"] / figures["rows_per_s"], 1)
    ctx.ledger.record_metric(PHASE, "backfill_throughput", figures)
    per_table = df.groupby("table", sort=False).agg(
        batches=("batch", "count"), rows=("rows_read", "sum"), migrated=("rows_written", "sum"),
        quarantined=("rows_quarantined", "sum"), seconds=("seconds", "sum"), slow_batches=("slow", "sum"))
    per_table["rows/s"] = (per_table["rows"] / per_table["seconds"].clip(lower=1e-6)).round(0)
    labels = {
        "rows": "rows read by the backfill", "batches": "batches", "wall_seconds": "wall time, s",
        "rows_per_s": "backfill rows/s (wall)", "median_batch_rows_per_s": "median batch rows/s",
        "p5_batch_rows_per_s": "p5 batch rows/s", "p5_over_median": "p5 / median (>= 0.5 expected)",
        "slow_batches": f"batches below {SLOW_BATCH_FRACTION:.0%} of the median (listed below)",
        "throttled": "health-check throttles", "unbatched_rows_per_s": "same work unbatched, rows/s (baseline)",
        "backfill_over_unbatched": "backfill / unbatched (>= 0.7 expected)",
        "raw_copy_rows_per_s": "raw copy of the legacy rows, rows/s (floor)",
        "raw_copy_factor": "raw copy is this many times faster",
    }
    shown = lambda v: f"{v:,}" if isinstance(v, int) else str(v)
    keys = [k for k in labels if k in figures]
    summary = pd.DataFrame({"value": [shown(figures[k]) for k in keys],
                            "check": [_judge(k, figures) for k in keys]},
                           index=pd.Index([labels[k] for k in keys], name="figure"))
    df.attrs["overall_rows_per_s"] = figures["rows_per_s"]
    return Throughput(df, per_table, summary, decisions, figures)


def _judge(key: str, figures: dict) -> str:
    """What a reviewer must notice: a backfill far below the same work unbatched, uneven batches,
    slow batches (the thresholds review.py marks in the run's index too)."""
    from ...review import BACKFILL_OVER_UNBATCHED_MIN, P5_OVER_MEDIAN_MIN
    v = figures.get(key)
    if key == "backfill_over_unbatched" and v is not None:
        return "ok" if v >= BACKFILL_OVER_UNBATCHED_MIN else f"BELOW EXPECTED (< {BACKFILL_OVER_UNBATCHED_MIN})"
    if key == "p5_over_median" and v is not None and figures.get("batches", 0) >= 20:
        return "ok" if v >= P5_OVER_MEDIAN_MIN else f"UNEVEN (< {P5_OVER_MEDIAN_MIN})"
    if key == "slow_batches":
        return "ok" if not v else "see the slow batches below"
    return ""


def throughput_chart(tp: Throughput):
    """Backfill throughput over time: rows/s of each batch (coloured by table, slow batches
    ringed in red) and the cumulative rows migrated."""
    import matplotlib.pyplot as plt
    df = tp.batches
    fig, ax = plt.subplots(figsize=(10, 3.5))
    if df.empty:
        ax.text(0.5, 0.5, "no batches in this run (already complete or dry run)", ha="center")
        return fig
    for name, g in df.groupby("table", sort=False):
        ax.plot(g["elapsed s"], g["rows/s"], marker="o", markersize=3, linestyle="-", label=name)
    slow = tp.slow
    if not slow.empty:
        ax.scatter(slow["elapsed s"], slow["rows/s"], s=80, facecolors="none", edgecolors="red", label="slow batch")
    if tp.figures.get("median_batch_rows_per_s"):
        ax.axhline(tp.figures["median_batch_rows_per_s"], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("seconds since the backfill started")
    ax.set_ylabel("rows/s per batch")
    ax.set_ylim(bottom=0)
    cumulative = ax.twinx()
    cumulative.plot(df["elapsed s"], df["cumulative rows"], color="black", linewidth=1, linestyle="--")
    cumulative.set_ylabel("rows backfilled (dashed)")
    cumulative.set_ylim(bottom=0)
    ax.set_title(f"Backfill throughput — {tp.figures.get('rows_per_s')} rows/s overall, "
                 f"median batch {tp.figures.get('median_batch_rows_per_s')} rows/s (dotted)")
    ax.legend(fontsize=6, ncol=5, loc="lower left")
    fig.tight_layout()
    return fig
