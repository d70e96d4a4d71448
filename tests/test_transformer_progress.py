"""kit.models.transformer.progress: plain log lines at most every 10 s with the time left, the bar only on a
terminal (an injected clock, no sleeping)."""

from kit.models.transformer.progress import EpochProgress


def test_log_lines_come_at_most_every_10_s_with_the_time_left_and_at_the_epoch_end(clock):
    lines = []
    with EpochProgress(lines.append, epoch=0, epochs=2, total_batches=25, show_bar=False, clock=clock) as progress:
        for batch in range(1, 26):
            clock.now = 3.0 * batch  # a batch every 3 s: 75 s in all
            progress.update(batch, samples=8, mean_loss=1.0 / batch, lr=2e-5)
    assert len(lines) == 8  # the start, one per 10 s (every 4th batch) after it, and the last
    assert lines[0] == "epoch 1/2: 0/25 (0%), starting"
    assert lines[1].startswith("epoch 1/2: 4/25 (16%), 0.333 batches/s, about 1 min 03 s left; loss 0.2500")
    assert lines[-1].startswith("epoch 1/2: 25/25 (100%)") and "done in 1 min 15 s" in lines[-1]
    assert "lr 2e-05" in lines[-1] and "loss 0.0400" in lines[-1] and "2.7 samples/s" in lines[-1]


def test_while_epochs_remain_a_line_also_gives_the_time_left_for_all_of_them(clock):
    lines = []
    with EpochProgress(lines.append, epoch=0, epochs=3, total_batches=10, show_bar=False, clock=clock) as progress:
        clock.now = 20.0  # 0.1 batches/s: 8 batches of this epoch and 20 of the two after it remain
        progress.update(2, samples=4, mean_loss=0.5, lr=1e-3)
    assert lines[1].endswith("; all 3 epochs: about 4 min 40 s left")
    last = []
    with EpochProgress(last.append, epoch=2, epochs=3, total_batches=10, show_bar=False, clock=clock) as progress:
        clock.now = 40.0
        progress.update(2, samples=4, mean_loss=0.5, lr=1e-3)
    assert "all 3 epochs" not in last[1]  # the last epoch's own estimate is the whole one


def test_a_resumed_epoch_logs_from_where_it_starts_and_rates_only_its_own_batches(clock):
    lines = []
    with EpochProgress(lines.append, epoch=1, epochs=2, total_batches=10, start_batch=7, show_bar=False,
                       clock=clock) as progress:
        for batch in range(8, 11):
            clock.now = 10.0 * (batch - 7)
            progress.update(batch, samples=4, mean_loss=0.5, lr=1e-3)
    assert [line.split(";")[0] for line in lines] == [
        "epoch 2/2: 7/10 (70%), starting",
        "epoch 2/2: 8/10 (80%), 0.1 batches/s, about 20 s left",
        "epoch 2/2: 9/10 (90%), 0.1 batches/s, about 10 s left",
        "epoch 2/2: 10/10 (100%), 0.1 batches/s, done in 30 s"]


def test_no_bar_is_drawn_when_stderr_is_not_a_terminal(capsys):
    with EpochProgress(lambda line: None, epoch=0, epochs=1, total_batches=3) as progress:
        progress.update(3, samples=4, mean_loss=0.5, lr=1e-3)
    assert progress.bar is None
    assert capsys.readouterr().err == ""
