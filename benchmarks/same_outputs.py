"""Compare two consolidated workbooks cell by cell: what a refactoring must leave unchanged.

    python benchmarks/same_outputs.py before.xlsx after.xlsx

Prints every differing cell (sheet, cell, before, after) and exits 1 when there is one.
Cells that name the moment or the machine of a run (start and finish times, durations,
folders, the log path) differ between any two runs and are left out by their row label in
运行信息.
"""

from __future__ import annotations

import sys
from pathlib import Path

from python_calamine import CalamineWorkbook

# 运行信息 rows whose value is the run's own time, duration or place.
VOLATILE_LABELS = ("运行时间", "开始时间", "完成时间", "用时", "耗时", "输入文件夹", "输出文件夹", "日志", "运行编号", "读取", "复核评分", "写出")


def sheets(path: Path) -> dict[str, list[list]]:
    wb = CalamineWorkbook.from_path(str(path))
    return {name: wb.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in wb.sheet_names}


def volatile(sheet: str, row: list) -> bool:
    label = str(row[0]) if row else ""
    return sheet == "运行信息" and any(word in label for word in VOLATILE_LABELS)


def differences(a: Path, b: Path) -> list[str]:
    left, right = sheets(a), sheets(b)
    out = []
    if list(left) != list(right):
        out.append(f"sheets: {list(left)} != {list(right)}")
    for name in left.keys() & right.keys():
        rows_a, rows_b = left[name], right[name]
        for r in range(max(len(rows_a), len(rows_b))):
            ra = rows_a[r] if r < len(rows_a) else []
            rb = rows_b[r] if r < len(rows_b) else []
            if volatile(name, ra) or volatile(name, rb):
                continue
            for c in range(max(len(ra), len(rb))):
                va = ra[c] if c < len(ra) else ""
                vb = rb[c] if c < len(rb) else ""
                if va != vb:
                    out.append(f"{name}!R{r + 1}C{c + 1}: {va!r} != {vb!r}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    found = differences(Path(argv[0]), Path(argv[1]))
    for line in found[:200]:
        print(line)
    print(f"{len(found)} differing cells")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
