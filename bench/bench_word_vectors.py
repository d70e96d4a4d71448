"""What one gensim worker costs against several: the word_vectors rule runs one, so that the vectors are the same
bytes on every run (several workers update them in an order that varies).

Trains the same word2vec entry on a corpus's words with 1, 2 and 4 workers, in the same run, and prints wall and
CPU seconds and each wall time as a ratio of one worker's. The corpus is a finished run's data/corpus/corpus.parquet
(`snakemake data/corpus/corpus.parquet`), repeated --copies times to stand in for a larger one.

    python bench/bench_word_vectors.py --corpus data/corpus/corpus.parquet --copies 12 [--repeats 2]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/corpus/corpus.parquet", help="a corpus parquet (its words column)")
    parser.add_argument("--copies", type=int, default=12, help="times the corpus's texts are repeated")
    parser.add_argument("--repeats", type=int, default=2, help="runs per worker count")
    args = parser.parse_args()

    import pandas as pd

    from kit.settings import parse
    from kit.word_vectors import WordVectorSettings, train_vectors

    sentences = [list(words) for words in pd.read_parquet(args.corpus)["words"]] * args.copies
    settings = parse(WordVectorSettings, {"dim": 64, "window": 5, "min_count": 2, "epochs": 5}, "word_vectors")
    print(f"{len(sentences)} texts; word2vec dim 64, 5 epochs")
    walls: dict[int, list[float]] = {}
    for _ in range(args.repeats):
        for workers in (1, 2, 4):
            started, cpu = time.perf_counter(), time.process_time()
            train_vectors(sentences, settings, workers)
            wall = time.perf_counter() - started
            walls.setdefault(workers, []).append(wall)
            print(f"workers {workers}: wall {wall:.1f} s, CPU {time.process_time() - cpu:.1f} s", flush=True)
    one = min(walls[1])
    for workers, times in walls.items():
        print(f"workers {workers}: best wall {min(times):.1f} s = {min(times) / one:.2f}x one worker's")


if __name__ == "__main__":
    main()
