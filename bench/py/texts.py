"""Benchmark texts with exact lengths in all-MiniLM-L6-v2's word pieces (counted with the model's own tokenizer)."""
from __future__ import annotations

import random
from pathlib import Path

# Common English words; each is checked to be a single word piece, so n words make n + 2 tokens with [CLS]/[SEP].
WORDS = """the of and to in is was for on that with as by at from his it an were are which this be has or had
first not but their one new after who its they have two been other when there all during into school time may
years more most only over city some world would where later up such used many can state about national out known
university united then made group three team team between film both second these under while number however out
would part well member album series them team including major game several year where because city each people
during music although until being north south east west river small local high early life last great since
against work company house history public before time three system town government around family order another
league little three following general given although river little based water development""".split()


def _single_piece_words(tokenizer) -> list[str]:
    out = []
    for w in dict.fromkeys(WORDS):
        ids = tokenizer.encode(w, add_special_tokens=False).ids
        if len(ids) == 1:
            out.append(w)
    return out


def make_texts(model_dir: str | Path, count: int, tokens: int, seed: int = 0) -> list[str]:
    """`count` texts of exactly `tokens` tokens each (including [CLS] and [SEP])."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    words = _single_piece_words(tok)
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        text = " ".join(rng.choice(words) for _ in range(tokens - 2))
        assert len(tok.encode(text).ids) == tokens, (text, len(tok.encode(text).ids))
        texts.append(text)
    return texts
