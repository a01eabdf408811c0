"""bench/adversary.py runs as a script: a quick pass of two families (bad specs, damaged figures) in a scratch copy,
counted as `tried · survived · lost`, with exit 0 when nothing was lost; about 30 s on two cores."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO, gen_env


def test_adversary_quick_run_counts_each_family_and_leaves_the_repository_alone():
    cache = REPO / "cache"
    before = sorted(p.relative_to(REPO) for p in cache.rglob("*")) if cache.exists() else []
    result = subprocess.run([sys.executable, str(REPO / "bench" / "adversary.py"), "--quick", "--family", "5", "--family", "7"],
                            capture_output=True, text=True, env=gen_env(), timeout=120, cwd=REPO)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert re.search(r"^5 bad specs: tried 2 · survived 2 · lost 0 · \d+ s$", out, re.M), out
    assert re.search(r"^7 damaged figures: tried 1 · survived 1 · lost 0 · \d+ s$", out, re.M), out
    assert re.search(r"^total: tried 3 · survived 3 · lost 0 · wall \d+ s$", out, re.M), out
    assert not Path(re.search(r"scratch (\S+)", out).group(1)).exists()  # the scratch folder is removed unless --keep
    assert (sorted(p.relative_to(REPO) for p in cache.rglob("*")) if cache.exists() else []) == before  # it built in the copy only
