"""kind: sklearn: every feature and estimator learns the toy task, pooled word vectors and NB features included; a
kept model predicts what the fold did; NB ratios come from the training rows only; settings are checked with their
key named."""

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from kit.metrics import macro_f1
from kit.models import FoldData, expanded, fit_predict
from kit.models.sklearn_family import (MODEL_ARRAYS, MODEL_PARAMS, SklearnParams, as_logits,
                                      inverse_document_frequency, load_predictor, nb_log_count_ratios, pack_terms,
                                      pool_vectors, unpack_terms, word_counts)
from kit.settings import parse
from kit.word_vectors import USERDICT_FILE, VOCABULARY_FILE

POSTS = {
    0: ["武汉今日新增确诊病例通报", "国家卫健委发布最新疫情数据", "市场监管局通知口罩价格"],
    1: ["武汉加油[心]一定会好起来", "致敬医护人员太感动了[赞]", "希望大家平安健康开心"],
    2: ["太难过了[泪]又封城了", "气死了口罩买不到[怒]", "好害怕这个病毒好担心家人"],
}


def toy_fold(copies=20) -> FoldData:
    texts, labels = [], []
    for label, posts in POSTS.items():
        for i in range(copies):
            texts.append(posts[i % 3] + "。" * (i % 4))
            labels.append(label)
    y = np.array(labels)
    return FoldData(texts, y, texts[::7], y[::7], ["今天又新增病例通报", "医护人员加油[心]", "太可怕了[泪]"], 3)


@pytest.mark.parametrize("features", ["char", "word", "char+word"])
@pytest.mark.parametrize("estimator", ["logreg", "linear_svm"])
def test_every_variant_learns_the_toy_task(tmp_path, features, estimator):
    data = toy_fold()
    result = fit_predict("sklearn", {"features": features, "estimator": estimator, "min_df": 1}, data, 0, tmp_path, lambda m: None)
    assert result.valid_logits.shape == (len(data.valid_text), 3) and result.valid_logits.dtype == np.float32
    assert macro_f1(data.valid_y, result.valid_logits.argmax(1), 3) == 1.0
    assert result.test_logits.argmax(1).tolist() == [0, 1, 2]


def test_same_seed_same_logits(tmp_path):
    data = toy_fold()
    first = fit_predict("sklearn", {"estimator": "linear_svm", "min_df": 1}, data, 3, tmp_path, lambda m: None)
    second = fit_predict("sklearn", {"estimator": "linear_svm", "min_df": 1}, data, 3, tmp_path, lambda m: None)
    assert np.array_equal(first.valid_logits, second.valid_logits)


@pytest.mark.parametrize(
    "params, field",
    [({"features": "bpe"}, "features"), ({"estimator": "xgb"}, "estimator"), ({"char_ngram": [3, 1]}, "char_ngram"),
     ({"alpha": 1}, "alpha"), ({"C": "high"}, "C"), ({"char_ngram": "1-3"}, "char_ngram"),
     ({"max_features": "lots"}, "max_features"), ({"solver": "sag4"}, "solver"),
     ({"features": "char+vectors"}, "vectors"), ({"vectors": "w2v"}, "vectors"),
     ({"features": "word", "pooling": "tfidf"}, "pooling"),
     ({"features": "char+vectors", "vectors": "w2v", "nb": True}, "nb"), ({"nb_alpha": 0.5}, "nb_alpha"),
     ({"nb": True, "nb_alpha": 0}, "nb_alpha")],
)
def test_bad_params_name_the_field(params, field):
    with pytest.raises(ValueError, match=rf"'models\.m\.{field}'"):
        parse(SklearnParams, params, "models.m")


def test_min_df_above_the_posts_names_the_setting(tmp_path):
    with pytest.raises(ValueError, match=r"TF-IDF on 60 training posts .*min_df 1000"):
        fit_predict("sklearn", {"min_df": 1000}, toy_fold(), 0, tmp_path, lambda m: None)


def test_binary_decision_function_becomes_two_logits_with_same_decision():
    scores = np.array([-2.0, 0.5])
    logits = as_logits(scores, 2)
    assert logits.shape == (2, 2) and logits.argmax(1).tolist() == [0, 1]


@pytest.mark.parametrize(("features", "estimator", "nb"), [("char", "logreg", False), ("word", "linear_svm", False),
                                                           ("char+word", "logreg", False), ("char", "logreg", True),
                                                           ("char+word", "linear_svm", True)])
def test_a_saved_model_predicts_exactly_what_the_fold_did(tmp_path, features, estimator, nb):
    data = toy_fold()
    result = fit_predict("sklearn", {"features": features, "estimator": estimator, "nb": nb, "min_df": 1}, data, 0,
                         tmp_path, lambda m: None)
    assert result.info["predict_seconds"] >= 0
    result.predictor.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {MODEL_ARRAYS, MODEL_PARAMS}  # arrays and JSON, no pickle
    loaded = load_predictor(tmp_path)
    assert np.array_equal(loaded.predict(data.test_text), result.test_logits)
    assert np.array_equal(loaded.predict(data.valid_text[:1]), result.valid_logits[:1])


def test_a_vocabulary_packs_into_two_arrays_and_back():
    vocabulary = {"武汉": 2, "a\nb": 0, "😀": 3, "": 1}
    term_bytes, ends = pack_terms(vocabulary)
    assert term_bytes.dtype == np.uint8 and ends.tolist() == [3, 3, 9, 13]
    assert unpack_terms(term_bytes, ends) == vocabulary
    for other in ({"a\x00b": 0, "武汉": 1}, {"": 0}, {"口罩": 0}, {}):  # a NUL is cut term by term; edge sizes
        assert unpack_terms(*pack_terms(other)) == other
    with pytest.raises(ValueError, match="columns 0..n-1"):
        pack_terms({"a": 0, "b": 2})


def test_pooling_averages_or_weights_by_tf_idf_by_hand():
    # Rows 0, 1 reserved; words 2 = [1, 0], 3 = [0, 1], 4 = [3, 3]. Text a: word 2 twice, word 3 once; text b: word
    # 3 and an unknown word (id 1, which pools nothing); text c: only padding.
    matrix = np.array([[0, 0], [0, 0], [1, 0], [0, 1], [3, 3]], dtype=np.float32)
    counts = word_counts([[2, 2, 3], [3, 1], [0]], len(matrix))
    assert counts.toarray().tolist() == [[0, 0, 2, 1, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 0]]
    assert pool_vectors(counts, matrix).tolist() == [[2 / 3, 1 / 3], [0, 1], [0, 0]]
    idf = inverse_document_frequency(counts)
    # smooth idf over 3 texts: word 2 in 1 of them -> ln(4 / 2) + 1, word 3 in 2 -> ln(4 / 3) + 1
    assert np.allclose(idf[2:4], [np.log(2) + 1, np.log(4 / 3) + 1])
    weight_2, weight_3 = 2 * idf[2], idf[3]
    assert np.allclose(pool_vectors(counts, matrix, idf)[0], [weight_2 / (weight_2 + weight_3),
                                                              weight_3 / (weight_2 + weight_3)])


@pytest.mark.parametrize(("features", "pooling"), [("vectors", "mean"), ("char+vectors", "tfidf")])
def test_pooled_vectors_learn_and_a_kept_model_predicts_what_the_fold_did(tmp_path, word_inputs, features, pooling):
    data = toy_fold()
    # Segmented by jieba as the corpus rule does: the kept model segments a text the same way.
    data.inputs = word_inputs(tmp_path / "words", data.train_text + data.test_text, segmented=True)
    lines = []
    result = fit_predict("sklearn", {"features": features, "vectors": "w2v", "pooling": pooling, "min_df": 1}, data,
                         0, tmp_path, lines.append)
    assert macro_f1(data.valid_y, result.valid_logits.argmax(1), 3) == 1.0
    assert any(f"pooled {pooling} vectors of 'word2vec'" in line for line in lines)
    kept = tmp_path / "kept"
    kept.mkdir()
    result.predictor.save(kept)
    assert {p.name for p in kept.iterdir()} == {MODEL_ARRAYS, MODEL_PARAMS, VOCABULARY_FILE, USERDICT_FILE}
    loaded = load_predictor(kept)
    assert np.array_equal(loaded.predict(data.test_text), result.test_logits)
    assert np.array_equal(loaded.predict(data.valid_text), result.valid_logits)


@pytest.mark.parametrize(("ngram_range", "sublinear_tf"), [((1, 3), True), ((2, 4), False)])
def test_char_tfidf_gives_scikit_learns_numbers_to_the_last_bit(ngram_range, sublinear_tf):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from kit.models.sklearn_family import CharTfidf

    texts = ["武汉加油！武汉加油", "  A  b\t\tC  ", "", "😀😀 口罩", "ABC abc", "今天 好难过\n\n真的"]
    fitted = TfidfVectorizer(analyzer="char", ngram_range=ngram_range, sublinear_tf=sublinear_tf,
                             dtype=np.float32).fit(texts[:4])
    ours = CharTfidf(fitted.vocabulary_, fitted.idf_, ngram_range, sublinear_tf).transform(texts)
    theirs = fitted.transform(texts)
    assert ours.dtype == theirs.dtype == np.float32
    assert np.array_equal(ours.toarray(), theirs.toarray())


def test_nb_log_count_ratios_by_hand():
    # Two n-grams, three classes. Column 0: 2 in class 0, 1 in class 1; column 1: 1 in class 1, 3 in class 2.
    x = csr_matrix(np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 3.0]]))
    ratios = nb_log_count_ratios(x, np.array([0, 1, 2]), 3, alpha=1.0)
    p, q = np.array([3.0, 1.0]), np.array([2.0, 5.0])  # class 0: alpha + its sums; the rest: alpha + theirs
    assert np.allclose(ratios[0], np.log(p / p.sum()) - np.log(q / q.sum()))
    assert ratios.shape == (3, 2) and ratios[0, 0] > 0 > ratios[0, 1] and ratios[2, 1] > 0 > ratios[2, 0]


@pytest.mark.parametrize("estimator", ["logreg", "linear_svm"])
def test_nb_features_learn_the_toy_task_with_one_logit_per_class(tmp_path, estimator):
    data, lines = toy_fold(), []
    result = fit_predict("sklearn", {"features": "char+word", "estimator": estimator, "nb": True, "min_df": 1}, data,
                         0, tmp_path, lines.append)
    assert result.valid_logits.shape == (len(data.valid_text), 3) and result.valid_logits.dtype == np.float32
    assert macro_f1(data.valid_y, result.valid_logits.argmax(1), 3) == 1.0
    assert result.test_logits.argmax(1).tolist() == [0, 1, 2]
    assert any(f"nb: 3 one-vs-rest {estimator}" in line for line in lines)
    # Each stage a fit cannot report inside says when it is done and how long it took.
    done = [line.split(":")[0] for line in lines if ": done in " in line]
    assert [stage.split(" ")[0] for stage in done] == ["vectorising", "fitting", "predicting"]


def test_nb_features_use_the_training_rows_labels_only(tmp_path):
    data = toy_fold()
    params = {"nb": True, "min_df": 1}
    fitted = fit_predict("sklearn", params, data, 0, tmp_path, lambda m: None)
    data.valid_y = np.random.default_rng(0).permutation(data.valid_y)  # the validation labels, shuffled
    shuffled = fit_predict("sklearn", params, data, 0, tmp_path, lambda m: None)
    assert np.array_equal(fitted.valid_logits, shuffled.valid_logits)
    assert np.array_equal(fitted.test_logits, shuffled.test_logits)
    # ...while the training labels do decide them: the same shuffle there changes the ratios and the logits.
    data.train_y = np.random.default_rng(0).permutation(data.train_y)
    assert not np.allclose(fit_predict("sklearn", params, data, 0, tmp_path, lambda m: None).valid_logits,
                           fitted.valid_logits)


def test_nb_balanced_weights_and_two_classes_give_well_formed_logits(tmp_path):
    data = toy_fold()
    keep = data.train_y < 2
    two = FoldData([t for t, k in zip(data.train_text, keep) if k], data.train_y[keep], data.test_text[:2],
                   np.array([0, 1]), data.test_text[:2], 2)
    result = fit_predict("sklearn", {"nb": True, "class_weight": "balanced", "min_df": 1}, two, 0, tmp_path,
                         lambda m: None)
    assert result.valid_logits.shape == (2, 2) and result.valid_logits.argmax(1).tolist() == [0, 1]


def synthetic_task(seed: int, n_train: int = 45, n_test: int = 600) -> FoldData:
    """Three classes of 14-character posts: 12 characters drawn from 400 that say nothing, 2 from 8 of the class's
    own. Few training posts and many useless n-grams: where Wang and Manning found NB features help most."""
    rng = np.random.default_rng(seed)
    noise = [chr(0x4E00 + i) for i in range(400)]
    signal = [[chr(0x9000 + 10 * c + i) for i in range(8)] for c in range(3)]

    def draw(n):
        texts = []
        for i in range(n):
            chars = [*rng.choice(noise, 12), *rng.choice(signal[i % 3], 2)]
            rng.shuffle(chars)
            texts.append("".join(chars))
        return texts, np.arange(n) % 3

    (train_text, train_y), (test_text, test_y) = draw(n_train), draw(n_test)
    return FoldData(train_text, train_y, test_text, test_y, test_text[:3], 3)


@pytest.mark.parametrize("estimator", ["logreg", "linear_svm"])
def test_nb_features_beat_plain_tf_idf_where_few_posts_meet_many_useless_n_grams(tmp_path, estimator):
    def mean_f1(nb):
        scores = []
        for seed in range(3):
            data = synthetic_task(seed)
            result = fit_predict("sklearn", {"char_ngram": [1, 1], "min_df": 1, "estimator": estimator, "nb": nb}, data,
                                 0, tmp_path, lambda m: None)
            scores.append(macro_f1(data.valid_y, result.valid_logits.argmax(1), 3))
        return np.mean(scores)

    plain, nb = mean_f1(False), mean_f1(True)
    assert plain > 0.8  # the task is learnable without NB features...
    assert nb > plain + 0.04  # ...and they add several points (measured: about +8 for both estimators)


def test_soft_targets_expand_into_weighted_rows_and_one_hot_ones_change_nothing(tmp_path):
    rows, classes, weights = expanded(np.array([[0.0, 1.0, 0.0], [0.2, 0.0, 0.8]]))
    assert rows.tolist() == [0, 1, 1] and classes.tolist() == [1, 0, 2] and weights.tolist() == [1.0, 0.2, 0.8]
    data = toy_fold()
    one_hot = FoldData(**{**vars(data), "train_targets": np.eye(3)[data.train_y]})
    for params in ({"min_df": 1}, {"min_df": 1, "nb": True}, {"min_df": 1, "estimator": "linear_svm"}):
        plain = fit_predict("sklearn", params, data, 0, tmp_path, lambda m: None)
        soft = fit_predict("sklearn", params, one_hot, 0, tmp_path, lambda m: None)
        assert np.allclose(plain.valid_logits, soft.valid_logits, atol=1e-5), params


def test_soft_targets_teach_what_the_teacher_believes(tmp_path):
    """Rows labelled 0 whose targets put 0.9 on class 2 pull the model towards 2: it learns the probabilities."""
    data = toy_fold()
    targets = np.eye(3)[data.train_y]
    targets[data.train_y == 0] = [0.1, 0.0, 0.9]
    soft = FoldData(**{**vars(data), "train_targets": targets})
    result = fit_predict("sklearn", {"min_df": 1}, soft, 0, tmp_path, lambda m: None)
    assert result.test_logits.argmax(1).tolist() == [2, 1, 2]
