#!/bin/sh
# evalbatch nightly run for cron, the twin of run-nightly.cmd on Windows.
#   run-nightly.sh INPUT_FOLDER --out OUTPUT_FOLDER [other "evalbatch run" options]
# What the run prints is appended to logs/nightly-YYYY-MM.log beside this script (one file a
# month, each run between two dated lines), where an operator without root can read it; the
# full log of each run is in OUTPUT_FOLDER/logs. The exit code is evalbatch's own (see README).
here=$(cd "$(dirname "$0")" && pwd)
program="$here/.venv/bin/evalbatch"
mkdir -p "$here/logs"
log="$here/logs/nightly-$(date +%Y-%m).log"
# UTF-8 whatever locale cron gives the job (often none).
export PYTHONUTF8=1 PYTHONIOENCODING=utf-8:replace
echo "===== $(date '+%Y-%m-%d %H:%M:%S') evalbatch run $*" >> "$log"
if [ ! -x "$program" ]; then
    echo "找不到 $program：请先在 $here 中运行 make install（见 README）" >> "$log"
    code=127
else
    "$program" run "$@" >> "$log" 2>&1
    code=$?
fi
echo "===== $(date '+%Y-%m-%d %H:%M:%S') 退出码 $code" >> "$log"
exit $code
