"""kit.models.transformer.progress: plain log lines about every tenth of an epoch, the bar only on a terminal."""

from kit.models.transformer.progress import EpochProgress


def test_log_lines_come_every_tenth_of_the_epoch_and_at_its_end():
    lines = []
    with EpochProgress(lines.append, epoch=0, epochs=2, total_batches=25, show_bar=False) as progress:
        for batch in range(1, 26):
            progress.update(batch, samples=8, mean_loss=1.0 / batch, lr=2e-5)
    assert len(lines) == 13  # every 2 of 25 batches, and the last one
    assert lines[-1].startswith("epoch 1/2 batch 25/25") and "samples/s" in lines[-1] and "lr 2e-05" in lines[-1]
    assert "loss 0.0400" in lines[-1]


def test_a_resumed_epoch_logs_from_where_it_starts():
    lines = []
    with EpochProgress(lines.append, epoch=1, epochs=2, total_batches=10, start_batch=7, show_bar=False) as progress:
        for batch in range(8, 11):
            progress.update(batch, samples=4, mean_loss=0.5, lr=1e-3)
    assert [line.split("  ")[0] for line in lines] == ["epoch 2/2 batch 8/10", "epoch 2/2 batch 9/10",
                                                       "epoch 2/2 batch 10/10"]


def test_no_bar_is_drawn_when_stderr_is_not_a_terminal(capsys):
    with EpochProgress(lambda line: None, epoch=0, epochs=1, total_batches=3) as progress:
        progress.update(3, samples=4, mean_loss=0.5, lr=1e-3)
    assert progress.bar is None
    assert capsys.readouterr().err == ""
