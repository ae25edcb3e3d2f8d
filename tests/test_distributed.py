"""Under torchrun, language-model scoring shards the examples over the processes and
gathers them: every process gets the single-process scores, and only rank 0 writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HELPER = Path(__file__).parent / "helpers" / "distributed_score.py"


@pytest.mark.slow
def test_scores_are_gathered_across_processes(tmp_path):
    out = tmp_path / "scores.json"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    str(HELPER), str(out)], check=True, env=env, capture_output=True, timeout=300)
    result = json.loads(out.read_text())
    assert result["main"] == [0]  # written by rank 0 only (one file, rank 0's view)
    single_nll, single_tokens = result["single"]
    for nll, tokens in result["ranks"]:
        assert len(nll) == 21
        assert nll == pytest.approx(single_nll, abs=1e-6)
        assert all(a == pytest.approx(b, abs=1e-6) for a, b in zip(tokens, single_tokens))
