"""Competition kit: folds, out-of-fold logits, ensembles and submissions for text classification.

Importing this package is cheap on purpose: the Snakefile imports it to expand the experiment matrix,
so torch, transformers and scikit-learn are imported only inside the commands that need them.
"""

__version__ = "0.1.0"
