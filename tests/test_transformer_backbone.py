"""kit.models.transformer.backbone: the character vocabulary, the scratch BERT's from_pretrained round trip, its
masked-LM view, and model folders written whole."""

import pytest
import torch

from kit.models.transformer.backbone import (
    SPECIAL_TOKENS,
    build_scratch_backbone,
    char_vocab,
    load_backbone,
)

TEXTS = ["武汉加油！", "武汉肺炎 Hello 2020", "加油加油"]


def test_char_vocab_puts_specials_first_then_characters_by_count():
    vocab = char_vocab(TEXTS)
    assert vocab[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert vocab[5:7] == ["加", "油"]  # 4 times each: the most frequent, ties in code-point order
    # Latin words are lower-cased; a character inside a word is a '##' continuation piece.
    assert {"h", "##e", "##l", "##o", "2", "##0"} <= set(vocab)
    assert "H" not in vocab and "!" not in vocab and "！" in vocab


def test_char_vocab_drops_rare_characters_and_names_bad_rows():
    assert "肺" not in char_vocab(TEXTS, min_char_freq=2)
    assert "武" in char_vocab(TEXTS, min_char_freq=2)
    with pytest.raises(ValueError, match="row 1"):
        char_vocab(["好", None])


def per_text_vocab(texts: list[str]) -> list[str]:
    """The vocabulary counted one text and one pre-tokenized word at a time: what char_vocab must equal."""
    from collections import Counter

    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    normalizer = BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    counts = Counter()
    for text in texts:
        for word, _ in BertPreTokenizer().pre_tokenize_str(normalizer.normalize_str(text)):
            counts.update([word[0]] + ["##" + char for char in word[1:]])
    return list(SPECIAL_TOKENS) + sorted(counts, key=lambda token: (-counts[token], token))


def test_char_vocab_counts_as_one_text_at_a_time_would(monkeypatch):
    """Chunked counting (texts joined, only the longer pieces pre-tokenized) gives the per-text counts, whatever
    the whitespace, control characters, accents, punctuation inside words and chunk edges."""
    import kit.models.transformer.backbone as backbone

    texts = TEXTS + ["Café，naïve!!x y", "a\u3000b\tc\r\nd", "e\x00f\u200bg\x1fh", "￥100元…ok?", "#武汉#@用户:😀好😀",
                     "", " ", "x", "C++/Java-8_9", "ＡＢＣ全角", "end.", "\u00a0nbsp\u2028line"]
    monkeypatch.setattr(backbone, "CHUNK_TEXTS", 4)  # chunk edges between many of them
    seen = []
    assert char_vocab(texts, on_chunk=seen.append) == per_text_vocab(texts)
    assert seen == [4, 8, 12, 15]


def test_scratch_backbone_round_trips_through_from_pretrained(tmp_path):
    folder = build_scratch_backbone(tmp_path / "bert", TEXTS, layers=2, hidden=32, heads=2, max_position=64)
    tokenizer, model = load_backbone(folder)
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.num_attention_heads) == (2, 32, 2)
    assert model.config.vocab_size == len(char_vocab(TEXTS)) == len(tokenizer)
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("武汉加油 hello")["input_ids"])
    assert tokens == ["[CLS]", "武", "汉", "加", "油", "h", "##e", "##l", "##l", "##o", "[SEP]"]
    assert tokenizer.pad_token_id == 0 and tokenizer.unk_token == "[UNK]"
    again = build_scratch_backbone(tmp_path / "again", TEXTS, layers=2, hidden=32, heads=2, max_position=64)
    _, twin = load_backbone(again)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values()))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_scratch_backbone_rejects_a_width_the_heads_do_not_divide(tmp_path):
    with pytest.raises(ValueError, match="multiple of heads"):
        build_scratch_backbone(tmp_path / "bert", TEXTS, hidden=30, heads=4)


def test_load_backbone_explains_a_missing_folder(tmp_path):
    with pytest.raises(OSError, match="neither a model folder"):
        load_backbone(tmp_path / "nowhere")


def test_loading_prints_no_progress_bars(tmp_path, capfd):
    folder = build_scratch_backbone(tmp_path / "bert", ["好坏"], layers=1, hidden=16, heads=2, max_position=16)
    load_backbone(folder)
    assert "Loading weights" not in capfd.readouterr().err


def test_a_masked_lm_loads_over_a_scratch_folder_with_the_same_encoder(tmp_path):
    folder = build_scratch_backbone(tmp_path / "bert", TEXTS, layers=1, hidden=16, heads=2, max_position=16)
    _, encoder = load_backbone(folder)
    tokenizer, masked_lm = load_backbone(folder, masked_lm=True)
    assert type(masked_lm).__name__ == "BertForMaskedLM" and tokenizer.mask_token == "[MASK]"
    mlm_encoder = masked_lm.base_model.state_dict()
    assert all(torch.equal(value, mlm_encoder[name]) for name, value in encoder.state_dict().items()
               if not name.startswith("pooler."))  # an MLM model has no pooler; its head starts random


def test_attention_dropout_replaces_the_configs_own_and_a_config_without_one_is_refused(tmp_path):
    from transformers import DistilBertConfig, DistilBertModel

    folder = build_scratch_backbone(tmp_path / "bert", TEXTS, layers=1, hidden=16, heads=2, max_position=16)
    assert load_backbone(folder)[1].config.attention_probs_dropout_prob == 0.1  # BERT's own
    _, model = load_backbone(folder, attention_dropout=0.0)
    assert model.config.attention_probs_dropout_prob == 0.0
    assert all(layer.attention.self.dropout.p == 0.0 for layer in model.encoder.layer)
    _, masked_lm = load_backbone(folder, masked_lm=True, attention_dropout=0.25)
    assert masked_lm.config.attention_probs_dropout_prob == 0.25
    other = tmp_path / "distil"  # DistilBERT names its attention dropout otherwise
    DistilBertModel(DistilBertConfig(vocab_size=50, dim=16, hidden_dim=32, n_layers=1, n_heads=2)).save_pretrained(
        other)
    load_backbone(folder)[0].save_pretrained(other)
    assert load_backbone(other)[1].config.attention_dropout == 0.1  # null: loaded as it is
    with pytest.raises(ValueError, match=r"'.*distil'.*DistilBertConfig has no attention_probs_dropout_prob.*null"):
        load_backbone(other, attention_dropout=0.0)
