"""The word-vector model family (`kind: wordvec`): a network over the corpus's word vectors, trained by the
transformer family's one loop.

Module map:
  config.py   typed settings (no torch import): the embedding and hybrid groups, and the transformer's head,
              optimizer, loss, adversarial, schedule, epoch policy and output groups
  encoder.py  encoders shaped like a Hugging Face backbone: word vectors alone, or a transformer's token states
              joined with the vector of each token's word (the hybrid); the ids they read
  fold.py     one fold: words, vocabulary, encoder, then the transformer family's training and prediction; the
              kept model (WordvecPredictor, load_predictor)

The encoders look like an AutoModel to kit.models.transformer (a config with hidden_size and num_hidden_layers,
get_input_embeddings, forward returning last_hidden_state), so TextClassifier, the head registry (bigru, bilstm,
textcnn), train() with its bucketing, amp, epoch policy, checkpoints and resume, FGM/PGD, and predict() all apply
unchanged. Importing this package stays light, so the config can be checked anywhere.
"""

from __future__ import annotations

from kit.models.transformer.config import built_backbone_input
from kit.models.wordvec.config import WordvecConfig
from kit.registry import Family, register


def inputs(config: WordvecConfig) -> dict[str, str]:
    """The family's workflow inputs (kit.registry.Family.inputs): the vectors' two files and the corpus files, and a
    hybrid's backbone folder when the workflow builds it."""
    from kit.word_vectors import fold_inputs

    return fold_inputs(config.embedding.vectors) | built_backbone_input(config.backbone)


register(Family("wordvec", WordvecConfig, "kit.models.wordvec.fold:fit_predict", inputs=inputs,
                load_predictor="kit.models.wordvec.fold:load_predictor", torch=True,
                help="a BiGRU, BiLSTM or TextCNN over the corpus's word vectors, or over a transformer's token "
                     "states joined with them"))
