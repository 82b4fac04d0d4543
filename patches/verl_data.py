"""Write a task's train/test splits as verl parquet (the schema of verl's examples/data_preprocess).

    python -m patches.verl_data --task gsm8k --out data/verl/gsm8k            # ../shared/data offline
    REDIT_OFFLINE=0 python -m patches.verl_data --task math --out data/verl/math   # from the hub

Each row: `data_source`, `prompt` (chat messages), `ability`, `reward_model = {"style": "rule",
"ground_truth": ...}`, `extra_info = {"split", "index", "question"}`, and `images` for Geometry3K.
Ground truths that are not a single answer (code tests, geo3k choices) travel as JSON strings, which
`patches/verl_reward.py` decodes (the task record's `decode_reference`). Files are written to a temporary
name and renamed, so an interrupted run never leaves a half-written split.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from redit import tasks
from redit.tasks import split_rows  # one definition of the splits, shared with the TRL backend


def verl_row(task: str, row: dict, split: str, style: str = "verl", text_only: bool = False) -> dict:
    record = tasks.get(task)
    text = record.prompt(row, style=style)
    messages = text if isinstance(text, list) else [{"role": "user", "content": text}]
    out = {
        "data_source": row["data_source"],
        "prompt": messages,
        "ability": record.ability,
        "reward_model": {"style": "rule", "ground_truth": record.encode_reference(row["reference"])},
        "extra_info": {"split": split, "index": int(row["index"]) if str(row["index"]).isdigit() else 0, "question": row["question"]},
    }
    if row.get("images") and not text_only:
        messages[-1]["content"] = "<image>" + messages[-1]["content"]
        out["images"] = [{"bytes": Path(p).read_bytes()} if isinstance(p, str) else p for p in row["images"]]
    return out


def write_split(rows: list[dict], path: Path) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pd.DataFrame(rows).to_parquet(tmp, index=False)
    tmp.replace(path)


def prepare(task: str, out: Path, data_dir=None, offline=None, style: str = "verl", limit_train: int | None = None,
            limit_test: int | None = None, test_as_train: bool = False, text_only: bool = False) -> dict:
    """Write out/train.parquet and out/test.parquet; returns {split: rows written}."""
    counts = {}
    for split, limit in (("train", limit_train), ("test", limit_test)):
        rows = split_rows(task, split, data_dir, offline, test_as_train)[:limit]
        if not rows:
            raise ValueError(f"no {split} rows for {task}.")
        write_split([verl_row(task, r, split, style, text_only) for r in rows], Path(out) / f"{split}.parquet")
        counts[split] = len(rows)
    return counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", required=True, choices=tasks.TASKS)
    p.add_argument("--out", required=True, type=Path, help="folder for train.parquet and test.parquet")
    p.add_argument("--data-dir", default=None, help="offline data folder (default: $REDIT_DATA_DIR or ../shared/data)")
    p.add_argument("--style", default="verl", choices=["verl", "paper"], help="prompt format")
    p.add_argument("--limit-train", type=int, default=None)
    p.add_argument("--limit-test", type=int, default=None)
    p.add_argument("--test-as-train", action="store_true", help="where no train split exists offline, train on the test rows (smoke runs)")
    p.add_argument("--text-only", action="store_true", help="drop images (a text-only policy's smoke run of a vision task)")
    args = p.parse_args(argv)
    try:
        counts = prepare(args.task, args.out, args.data_dir, None, args.style, args.limit_train, args.limit_test, args.test_as_train, args.text_only)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"[verl_data] {args.task}: {counts['train']} train / {counts['test']} test rows -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
