"""The bureau's roster (名单): which units must submit, and where each one stands tonight.

`read_roster` reads the bureau's list (an .xlsx or .csv kept as OUTPUT_DIR/名单.xlsx or given
with --roster); the units' codes are normalised exactly as submissions' 单位编码 are, so the
two meet on the same text. `match_roster` measures the night's departments against it and
`roster_status` says where each roster unit stands (报送情况).
"""

from .match import match_roster
from .read import COLUMNS, HEADERS, ROSTER_NAME, Roster, find_roster, read_roster
from .status import STATUSES, RosterStatus, roster_status

__all__ = ["COLUMNS", "HEADERS", "ROSTER_NAME", "STATUSES", "Roster", "RosterStatus", "find_roster", "match_roster",
           "read_roster", "roster_status"]
