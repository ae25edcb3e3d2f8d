"""Run under torchrun (2 CPU processes, gloo): score a corpus with the process group
initialised; rank 0 writes what every rank got, and the single-process scores."""

import json
import sys

import torch.distributed as dist

from obliviate.core.devices import is_main_process
from obliviate.lm.corpus import TofuCorpus
from obliviate.lm.evaluate import score
from obliviate.lm.models import TinyLM
from obliviate.lm.task import TofuMiniTask

corpus = TofuCorpus(n_people=6, n_holdout=2, questions_per_person=4)
qas = [q for p in corpus.people for q in p.qa][:21]  # not a multiple of the world size
tokenizer = TofuMiniTask(corpus=corpus, vocab_size=384).tokenizer
model = TinyLM(hidden=32, layers=1, heads=2, intermediate=64).build(tokenizer, seed=0)
single = score(model, tokenizer, qas, batch_size=4, details=True)  # before the group exists: one process
dist.init_process_group("gloo")
shared = score(model, tokenizer, qas, batch_size=4, details=True)
everyone = [None] * dist.get_world_size()
dist.all_gather_object(everyone, [shared.avg_nll.tolist(), [t.tolist() for t in shared.token_logprobs]])
if is_main_process():
    with open(sys.argv[1], "w") as f:
        json.dump({"single": [single.avg_nll.tolist(), [t.tolist() for t in single.token_logprobs]],
                   "ranks": everyone, "main": [dist.get_rank()]}, f)
dist.destroy_process_group()
