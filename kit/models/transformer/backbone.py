"""Backbones: any AutoModel from the hub or a folder, or a small BERT built from scratch on the competition's text.

Nothing can be downloaded on an offline machine, so `build_scratch_backbone` makes a character-level BERT
(random weights, a vocabulary of the characters in the given texts) and saves it with save_pretrained; fold jobs
then load it through `load_backbone`, the same from_pretrained path a hub model takes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def quiet_transformers() -> None:
    """Silence transformers' own progress bars ("Loading weights", "Writing model shards"), which would flood the
    Snakemake console once per job; downloads from the hub keep theirs, since a large first download needs one."""
    from huggingface_hub.utils import enable_progress_bars
    from transformers.utils import logging

    logging.disable_progress_bar()
    enable_progress_bars()


CHUNK_TEXTS = 2000  # texts normalised in one call


def char_vocab(texts: Iterable[str], min_char_freq: int = 1, on_chunk: Callable[[int], None] | None = None
               ) -> list[str]:
    """Tokens of a character-level WordPiece vocabulary: the specials, then characters by falling count.

    Texts go through BERT's own normalizer and pre-tokenizer (lower case, accents stripped, one word per CJK
    character, runs of Latin letters and digits as words), so a character opening a word is counted as `c` and
    one inside a word as `##c`: WordPiece then splits every word into known characters. Ties keep code-point order,
    so the vocabulary depends on the texts only.

    Texts are normalised CHUNK_TEXTS at a time, joined by a newline: the normalizer works character by character
    and turns every whitespace into a space (and drops control characters), so the pre-tokenizer's first cut is
    at the spaces. A one-character piece is a word as it stands (most are CJK characters), and only the longer
    pieces, a few percent, go through the pre-tokenizer, which splits them at punctuation: per word it cost about
    2 us, most of the time. on_chunk(texts counted so far) runs after each chunk.
    """
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    normalizer = BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    pre_tokenizer = BertPreTokenizer()
    counts: Counter[str] = Counter()
    texts = texts if isinstance(texts, list) else list(texts)
    for start in range(0, len(texts), CHUNK_TEXTS):
        chunk = texts[start : start + CHUNK_TEXTS]
        for row, text in enumerate(chunk, start):
            if not isinstance(text, str):
                raise ValueError(f"char_vocab: text at row {row} is {type(text).__name__}, not a string")
        pieces = normalizer.normalize_str("\n".join(chunk)).split(" ")
        counts.update(piece for piece in pieces if len(piece) == 1)
        longer = " ".join(piece for piece in pieces if len(piece) > 1)
        words = [word for word, _span in pre_tokenizer.pre_tokenize_str(longer)]
        counts.update(word[0] for word in words)
        counts.update("##" + char for word in words if len(word) > 1 for char in word[1:])
        if on_chunk is not None:
            on_chunk(start + len(chunk))
    kept = sorted((token for token, n in counts.items() if n >= min_char_freq), key=lambda t: (-counts[t], t))
    return list(SPECIAL_TOKENS) + [token for token in kept if token not in SPECIAL_TOKENS]


def build_scratch_backbone(
    out_dir: Path,
    texts: Iterable[str],
    layers: int = 2,
    hidden: int = 128,
    heads: int = 2,
    intermediate: int | None = None,
    max_position: int = 512,
    min_char_freq: int = 1,
    seed: int = 0,
    on_texts: Callable[[int], None] | None = None,
) -> Path:
    """Write a randomly initialised BERT with a character vocabulary of `texts` to `out_dir`; return out_dir.

    intermediate: the feed-forward width, None for BERT's 4 x hidden. on_texts(texts counted so far) runs as the
    vocabulary is counted (char_vocab's on_chunk). The folder is built beside out_dir and
    renamed into place, so a killed job never leaves a half-written backbone.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    from kit.artifacts import atomic_folder

    quiet_transformers()

    if layers < 1 or hidden < 1 or heads < 1:
        raise ValueError(f"build_scratch_backbone: layers, hidden and heads must be positive, got {layers}, "
                         f"{hidden}, {heads}")
    if hidden % heads:
        raise ValueError(f"build_scratch_backbone: hidden ({hidden}) must be a multiple of heads ({heads})")
    vocab = char_vocab(texts, min_char_freq, on_texts)
    if len(vocab) == len(SPECIAL_TOKENS):
        raise ValueError("build_scratch_backbone: no character reaches min_char_freq; the vocabulary would be empty")
    with atomic_folder(out_dir) as staging:
        (staging / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        BertTokenizer(vocab=str(staging / "vocab.txt"), do_lower_case=True).save_pretrained(staging)
        config = BertConfig(
            vocab_size=len(vocab),
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=intermediate or 4 * hidden,
            max_position_embeddings=max_position,
            pad_token_id=vocab.index("[PAD]"),
        )
        with torch.random.fork_rng(devices=[]):  # the caller's RNG stream stays untouched
            torch.manual_seed(seed)
            BertModel(config).save_pretrained(staging)
    return Path(out_dir)


def build_step(entry: str, settings, inputs, outputs, log=print) -> Path:
    """The build step's work (kit.registry.BuildStep `build_backbone`): the texts read, then the backbone built from
    them into outputs['backbone']."""
    from kit.data import read_texts
    from kit.progress import Progress, stage
    from kit.settings import to_dict

    with stage(log, "reading the texts"):  # a million posts take tens of seconds: the log says which step runs
        texts = read_texts(inputs["texts"])
    counted = Progress(log, "character vocabulary", len(texts), "texts")
    out = build_scratch_backbone(Path(outputs["backbone"]), texts, on_texts=counted.update, **to_dict(settings))
    log(f"scratch backbone from {len(texts)} texts: {out}")
    return out


ATTENTION_DROPOUT = "attention_probs_dropout_prob"  # the key of BERT's config (RoBERTa, ERNIE, NEZHA, ...)


def load_backbone(name_or_path: str | Path, masked_lm: bool = False, attention_dropout: float | None = None,
                  setting: str = "attention_dropout"):
    """(tokenizer, model): AutoTokenizer and AutoModel from a hub name or a local folder; with masked_lm, the model
    with its masked-language-model head (AutoModelForMaskedLM; a head the folder lacks starts random).

    attention_dropout: the dropout on the attention probabilities the model trains with, in place of its config's
    (None: the config's own). A backbone whose config has no such key is refused rather than trained as it is, with
    `setting` (the config key that gave the value) named.
    """
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoTokenizer

    quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
        config = AutoConfig.from_pretrained(str(name_or_path))
        if attention_dropout is not None:
            if not hasattr(config, ATTENTION_DROPOUT):
                raise ValueError(f"backbone {str(name_or_path)!r}: {setting} {attention_dropout} cannot be applied, "
                                 f"its {type(config).__name__} has no {ATTENTION_DROPOUT}; set {setting}: null to "
                                 "train with the backbone's own")
            setattr(config, ATTENTION_DROPOUT, attention_dropout)
        model = (AutoModelForMaskedLM if masked_lm else AutoModel).from_pretrained(str(name_or_path), config=config)
    except OSError as error:
        raise OSError(
            f"backbone {str(name_or_path)!r} is neither a model folder nor a hub model this machine can load "
            f"(offline machines need a local folder, e.g. one from build_scratch_backbone): {error}"
        ) from error
    if not tokenizer.is_fast:
        raise ValueError(f"backbone {str(name_or_path)!r}: a fast tokenizer is needed to pre-tokenize folds in batch")
    return tokenizer, model
