"""Ensembles of OOF artifacts, scored honestly (cross-fitted on the experiments' own folds).

Module map (arrays in, arrays out, except build):
  weights.py   class_weight_search: per-class weights for macro-F1 (exact coordinate line search), macro_f1_many
  blend.py     blend, optimise_blend, caruana, RunningBlend (candidate scoring), shared_rounds (fold fits share rounds), normalised
  stacking.py  level-2 features, resolve_estimator by name, ExactLogistic (plain LogisticRegression to its optimum)
  voting.py    hard_vote, soft_vote, multi-round voting (fit_multi_round_vote / apply_vote_plan), agreement
  methods.py   each method declared once (kit.registry): its keys, fitted or not, fit/apply; no numpy on import
  honest.py    cross_fit: refit anything fitted on OOF rows once per fold, the fold's labels hidden (-1)
  build.py     guardrails, agreement_matrix, build_ensemble: config entry + artifacts -> Artifact
Importing any of these modules loads numpy at most; scipy, scikit-learn and pandas load inside the functions that use them.
"""
