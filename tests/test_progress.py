"""kit.progress: throttled progress lines with a time-left estimate, on an injected clock (no sleeping)."""

from kit.progress import Progress, duration, stage, tracked


def test_lines_come_at_most_every_10_s_and_always_first_and_last(clock):
    lines = []
    progress = Progress(lines.append, "corpus clean", total=1000, unit="texts", clock=clock)
    for done in range(1, 1001):
        clock.now = done / 10  # 10 texts/s: 100 s in all
        progress.update(done)
    assert len(lines) == 11  # the start, one per 10 s after it, and the last
    assert lines[0] == "corpus clean: 0/1,000 (0%), starting"  # no estimate from the first item's rate
    assert lines[1] == "corpus clean: 100/1,000 (10%), 10 texts/s, about 1 min 30 s left"
    assert lines[-1] == "corpus clean: 1,000/1,000 (100%), 10 texts/s, done in 1 min 40 s"


def test_a_resumed_count_rates_only_the_work_of_this_run_and_notes_follow_the_estimate(clock):
    lines = []
    progress = Progress(lines.append, "epoch 2/2", total=100, start=60, clock=clock)
    clock.now = 20.0
    progress.advance(20, note="loss 0.5")
    assert lines == ["epoch 2/2: 60/100 (60%), starting", "epoch 2/2: 80/100 (80%), 1/s, about 20 s left; loss 0.5"]


def test_tracked_yields_every_item_and_ends_on_the_last_line(clock):
    lines = []
    assert list(tracked(iter("abc"), lines.append, "rows", total=3, clock=clock)) == ["a", "b", "c"]
    assert len(lines) == 2 and lines[-1].startswith("rows: 3/3 (100%)")


def test_stage_logs_its_start_and_elapsed_time(clock):
    lines = []
    with stage(lines.append, "fold 0 fit", clock=clock):
        clock.now = 125.0
    assert lines == ["fold 0 fit ...", "fold 0 fit: done in 2 min 05 s"]


def test_durations_read_at_a_glance():
    assert [duration(s) for s in (0.43, 9.96, 59, 61, 3599, 7440)] == ["0.4 s", "10 s", "59 s", "1 min 01 s",
                                                                        "59 min 59 s", "2 h 04 min"]
